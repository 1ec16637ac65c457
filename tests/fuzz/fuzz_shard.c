/* libFuzzer target: token shards (src/text/shard.c, loader.c). Input: SHARD
 * [%% LOADER-POSITION]. The harness stores the right checksum in the shard
 * (docs/formats.md) so inputs get past it to the rest of the validation; a
 * shard that opens is read through the loader (a pass, shuffled, with control
 * tokens) and LOADER-POSITION (64 bytes, pst_loader_pos) is restored. */
#include "fuzz.h"
#include "posterior/shard.h"

/* docs/formats.md "Checksum", over the 8-byte words of the file (word 10 as 0). */
static uint64_t shard_checksum(const unsigned char *p, size_t len) {
    uint64_t h = 0x50535453ull;
    for (size_t i = 0; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (i == 80) w = 0;
        h = ((h ^ w) << 29 | (h ^ w) >> 35) * 0x9E3779B97F4A7C15ull;
    }
    uint64_t z = h + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void read_through(pst_loader *l, int n_batches) {
    pst_error err;
    for (int i = 0; i < n_batches && pst_loader_next(l, &err) == 1; i++)
        for (size_t j = 0; j < (size_t)l->B * l->T + 1; j++)
            if (l->tokens[j] < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_parts p = fuzz_split(data, size);
    unsigned char *shard = (unsigned char *)fuzz_cstr(p.data[0], p.len[0]);
    if (p.len[0] >= 88) {
        uint64_t c = shard_checksum(shard, p.len[0]);
        memcpy(shard + 80, &c, 8);
    }
    const char *path = fuzz_file("shard.bin", (const char *)shard, p.len[0]);
    free(shard);
    pst_shard s;
    pst_error err;
    if (pst_shard_open(&s, path, &err)) {
        fuzz_note("open", err.msg);
        return 0;
    }
    pst_shard_check_vocab(&s, (int)s.vocab_size, s.tokenizer_hash, &err);
    for (uint64_t d = 0; d < s.n_documents; d++)
        for (uint64_t i = pst_shard_document_start(&s, d); i < pst_shard_document_end(&s, d); i++)
            if (pst_shard_token(&s, i) >= s.vocab_size) abort();
    pst_loader l;
    if (pst_loader_init(&l, &s, 2, 5, 0, 0, 1, &err) == 0) { /* one pass, in order */
        read_through(&l, 1000);
        pst_loader_free(&l);
    }
    if (pst_loader_init(&l, &s, 1, 7, 1, 1, 2, &err) == 0) { /* shuffled, looping, controls */
        if (s.scorer[0]) pst_loader_set_control(&l, 0.5f, (int)s.vocab_size, (int)s.vocab_size + 1, &err);
        read_through(&l, 20);
        if (p.n > 1 && p.len[1] >= sizeof(pst_loader_pos)) {
            pst_loader_pos pos;
            memcpy(&pos, p.data[1], sizeof pos);
            if (pst_loader_set_pos(&l, &pos, &err) == 0) read_through(&l, 20);
            else fuzz_note("set_pos", err.msg);
        }
        pst_loader_free(&l);
    }
    pst_shard_close(&s);
    return 0;
}
