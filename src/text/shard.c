/* Token shards: writing (in-memory builder, atomic write) and reading (mmap,
 * every field validated). The format is documented in posterior/shard.h and
 * docs/formats.md. */
#include "posterior/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- little-endian fields -------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shard sections are mapped in place: this code assumes a little-endian machine"
#endif

static uint64_t pad8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

/* ---- checksum -------------------------------------------------------------- */

/* h ← rotl(h ⊕ w, 29) · 0x9E3779B97F4A7C15 over the file's 64-bit LE words, from
 * h = 0x50535453 ("PSTS"), with the checksum word (offset 80) read as 0; the
 * result is finalised by a splitmix64 step. len is a multiple of 8. */
#define CHECKSUM_OFFSET 80u
typedef struct {
    uint64_t h, pos;
} checksum;

static void checksum_update(checksum *c, const void *data, uint64_t len) {
    const unsigned char *p = data;
    uint64_t h = c->h;
    for (uint64_t i = 0; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (c->pos + i == CHECKSUM_OFFSET) w = 0;
        h ^= w;
        h = ((h << 29) | (h >> 35)) * 0x9E3779B97F4A7C15ull;
    }
    c->h = h;
    c->pos += len;
}

static uint64_t checksum_final(const checksum *c) {
    uint64_t z = c->h + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- tokenizer identity ---------------------------------------------------- */

int pst_tokenizer_hash(const pst_tokenizer *t, uint64_t *hash, pst_error *err) {
    uint64_t h = 0xcbf29ce484222325ull;
    int n = pst_tokenizer_vocab_size(t);
    for (int id = 0; id < n; id++) {
        char *text;
        size_t len;
        if (pst_tokenizer_decode(t, &id, 1, &text, &len, err))
            return pst_fail_context(err, "tokenizer hash: id %d", id);
        unsigned char head[8];
        put_u32(head, (uint32_t)id);
        put_u32(head + 4, (uint32_t)len);
        for (int i = 0; i < 8; i++) h = (h ^ head[i]) * 0x100000001b3ull;
        for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)text[i]) * 0x100000001b3ull;
        free(text);
    }
    *hash = h;
    return 0;
}

/* ---- builder --------------------------------------------------------------- */

int pst_shard_builder_init(pst_shard_builder *b, uint32_t vocab_size, uint32_t eot_id,
                           uint64_t tokenizer_hash, const char *scorer, pst_error *err) {
    memset(b, 0, sizeof *b);
    if (vocab_size == 0) return pst_fail(err, "shard: vocab size 0");
    if (eot_id >= vocab_size)
        return pst_fail(err, "shard: <|endoftext|> id %u outside the vocabulary of %u", eot_id, vocab_size);
    if (scorer && strlen(scorer) > PST_SHARD_MAX_SCORER)
        return pst_fail(err, "shard: scorer spec longer than %u bytes", PST_SHARD_MAX_SCORER);
    b->vocab_size = vocab_size;
    b->eot_id = eot_id;
    b->tokenizer_hash = tokenizer_hash;
    snprintf(b->scorer, sizeof b->scorer, "%s", scorer ? scorer : "");
    b->segment_offsets = pst_malloc(sizeof(uint64_t), err);
    b->document_segments = pst_malloc(sizeof(uint64_t), err);
    if (!b->segment_offsets || !b->document_segments) {
        pst_shard_builder_free(b);
        return -1;
    }
    b->segment_offsets[0] = 0;
    b->document_segments[0] = 0;
    return 0;
}

void pst_shard_builder_free(pst_shard_builder *b) {
    free(b->tokens);
    free(b->segment_offsets);
    free(b->segment_scores);
    free(b->document_segments);
    free(b->document_source);
    memset(b, 0, sizeof *b);
}

/* Grows *p (elem bytes each) so it holds at least need elements. */
static int reserve(void **p, uint64_t *cap, uint64_t need, size_t elem, pst_error *err) {
    if (need <= *cap) return 0;
    uint64_t nc = *cap ? *cap : 1024;
    while (nc < need) nc *= 2;
    void *np = pst_realloc(*p, nc * elem, err);
    if (!np) return -1;
    *p = np;
    *cap = nc;
    return 0;
}

int pst_shard_builder_add(pst_shard_builder *b, const uint32_t *ids, size_t n_ids,
                          const size_t *segment_ends, const float *scores, size_t n_segments,
                          uint64_t source_index, pst_error *err) {
    if (n_segments == 0 && n_ids > 0)
        return pst_fail(err, "shard: document %llu has %zu tokens but no segments",
                        (unsigned long long)source_index, n_ids);
    for (size_t s = 0; s < n_segments; s++) {
        if (segment_ends[s] > n_ids || (s > 0 && segment_ends[s] < segment_ends[s - 1]))
            return pst_fail(err, "shard: document %llu: segment %zu ends at token %zu (of %zu), out of order",
                            (unsigned long long)source_index, s, segment_ends[s], n_ids);
    }
    if (n_segments > 0 && segment_ends[n_segments - 1] != n_ids)
        return pst_fail(err, "shard: document %llu: segments cover %zu of %zu tokens",
                        (unsigned long long)source_index, segment_ends[n_segments - 1], n_ids);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] >= b->vocab_size)
            return pst_fail(err, "shard: document %llu: token id %u outside the vocabulary of %u",
                            (unsigned long long)source_index, ids[i], b->vocab_size);
    /* segment_offsets has n_segments + 1 entries; document_segments n_documents + 1 */
    uint64_t cap_off = b->cap_segments; /* segment_offsets and scores share this capacity (+1) */
    if (reserve((void **)&b->tokens, &b->cap_tokens, b->n_tokens + n_ids, sizeof *b->tokens, err))
        return -1;
    if (b->n_segments + n_segments + 1 > b->cap_segments) {
        uint64_t need = b->n_segments + n_segments + 1, c1 = cap_off, c2 = cap_off;
        if (reserve((void **)&b->segment_offsets, &c1, need, sizeof(uint64_t), err) ||
            reserve((void **)&b->segment_scores, &c2, need, sizeof(float), err))
            return -1;
        b->cap_segments = c1 < c2 ? c1 : c2;
    }
    if (b->n_documents + 2 > b->cap_documents) {
        uint64_t need = b->n_documents + 2, c1 = b->cap_documents, c2 = b->cap_documents;
        if (reserve((void **)&b->document_segments, &c1, need, sizeof(uint64_t), err) ||
            reserve((void **)&b->document_source, &c2, need, sizeof(uint64_t), err))
            return -1;
        b->cap_documents = c1 < c2 ? c1 : c2;
    }
    if (n_ids) memcpy(b->tokens + b->n_tokens, ids, n_ids * sizeof *ids);
    for (size_t s = 0; s < n_segments; s++) {
        b->segment_offsets[b->n_segments + s + 1] = b->n_tokens + segment_ends[s];
        b->segment_scores[b->n_segments + s] = scores ? scores[s] : NAN;
    }
    b->n_tokens += n_ids;
    b->n_segments += n_segments;
    b->document_source[b->n_documents] = source_index;
    b->n_documents++;
    b->document_segments[b->n_documents] = b->n_segments;
    return 0;
}

int pst_shard_builder_write(const pst_shard_builder *b, const char *path, pst_split split,
                            uint64_t split_seed, double val_fraction, pst_error *err) {
    uint32_t token_bytes = b->vocab_size <= 65536 ? 2 : 4;
    uint32_t scorer_len = (uint32_t)strlen(b->scorer);
    unsigned char header[PST_SHARD_HEADER_BYTES] = {0};
    memcpy(header, PST_SHARD_MAGIC, 8);
    put_u32(header + 8, PST_SHARD_VERSION);
    put_u32(header + 12, token_bytes);
    put_u32(header + 16, b->vocab_size);
    put_u32(header + 20, b->eot_id);
    put_u64(header + 24, b->n_tokens);
    put_u64(header + 32, b->n_documents);
    put_u64(header + 40, b->n_segments);
    put_u64(header + 48, b->tokenizer_hash);
    put_u32(header + 56, (uint32_t)split);
    put_u32(header + 60, scorer_len);
    put_u64(header + 64, split_seed);
    memcpy(header + 72, &val_fraction, 8);

    /* padded copies of the variable-width parts */
    char scorer[PST_SHARD_MAX_SCORER + 8] = {0};
    memcpy(scorer, b->scorer, scorer_len);
    uint64_t tok_len = pad8(b->n_tokens * token_bytes), score_len = pad8(b->n_segments * 4);
    unsigned char *tokens = pst_calloc(1, tok_len ? tok_len : 1, err);
    unsigned char *scores = pst_calloc(1, score_len ? score_len : 1, err);
    if (!tokens || !scores) {
        free(tokens);
        free(scores);
        return -1;
    }
    if (token_bytes == 2)
        for (uint64_t i = 0; i < b->n_tokens; i++) ((uint16_t *)tokens)[i] = (uint16_t)b->tokens[i];
    else if (b->n_tokens)
        memcpy(tokens, b->tokens, b->n_tokens * 4);
    if (b->n_segments) memcpy(scores, b->segment_scores, b->n_segments * 4);

    const void *parts[7] = {header, scorer, tokens, b->segment_offsets, b->document_segments,
                            b->document_source, scores};
    size_t lens[7] = {PST_SHARD_HEADER_BYTES, pad8(scorer_len), tok_len,
                      (b->n_segments + 1) * 8, (b->n_documents + 1) * 8, b->n_documents * 8,
                      score_len};
    checksum c = {0x50535453ull, 0};
    for (int i = 0; i < 7; i++) checksum_update(&c, parts[i], lens[i]);
    put_u64(header + CHECKSUM_OFFSET, checksum_final(&c));
    int rc = pst_write_file_atomic_parts(path, parts, lens, 7, err);
    free(tokens);
    free(scores);
    return rc;
}

/* ---- reader ---------------------------------------------------------------- */

struct pst_shard_mapping {
    void *addr;
    size_t len;
};

void pst_shard_close(pst_shard *s) {
    if (s->mapping) {
        munmap(s->mapping->addr, s->mapping->len);
        free(s->mapping);
    }
    s->mapping = NULL;
}

/* a + b and a * b in 64 bits, failing on overflow */
static int add_ok(uint64_t *acc, uint64_t v) { return !__builtin_add_overflow(*acc, v, acc); }

/* Opens, checks the size of and maps the file at s->path (s->mapping). */
static int map_shard(pst_shard *s, pst_error *err) {
    const char *path = s->path;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return pst_fail(err, "%s: cannot open shard: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pst_fail(err, "%s: cannot stat shard: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pst_fail(err, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < PST_SHARD_HEADER_BYTES) {
        close(fd);
        return pst_fail(err, "%s: truncated shard: %llu bytes, the header alone is %u", path,
                        (unsigned long long)size, PST_SHARD_HEADER_BYTES);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return pst_fail(err, "%s: cannot map shard: %s", path, strerror(errno));
    if (!(s->mapping = pst_malloc(sizeof *s->mapping, err))) {
        munmap(map, size);
        return -1;
    }
    *s->mapping = (struct pst_shard_mapping){map, size};
    return 0;
}

/* The header's fields (docs/formats.md, "Token shards") into s, each checked;
 * *scorer_len and *stored_checksum are the two fields s has no place for. */
static int read_header(pst_shard *s, const unsigned char *p, uint32_t *scorer_len, uint64_t *stored_checksum,
                       pst_error *err) {
    const char *path = s->path;
    if (memcmp(p, PST_SHARD_MAGIC, 8) != 0)
        return pst_fail(err, "%s: not a posterior token shard (magic is not \"PSTSHARD\")", path);
    s->version = get_u32(p + 8);
    if (s->version != PST_SHARD_VERSION)
        return pst_fail(err, "%s: shard format version %u, this build reads version %u", path, s->version,
                        PST_SHARD_VERSION);
    s->token_bytes = get_u32(p + 12);
    s->vocab_size = get_u32(p + 16);
    s->eot_id = get_u32(p + 20);
    s->n_tokens = get_u64(p + 24);
    s->n_documents = get_u64(p + 32);
    s->n_segments = get_u64(p + 40);
    s->tokenizer_hash = get_u64(p + 48);
    s->split = get_u32(p + 56);
    *scorer_len = get_u32(p + 60);
    s->split_seed = get_u64(p + 64);
    memcpy(&s->val_fraction, p + 72, 8);
    *stored_checksum = get_u64(p + CHECKSUM_OFFSET);

    if (s->vocab_size == 0) return pst_fail(err, "%s: corrupt header: vocab_size is 0", path);
    if (s->vocab_size > INT32_MAX) /* token ids are ints from here on (the loader, the models) */
        return pst_fail(err, "%s: corrupt header: vocab_size %u is above 2^31 - 1", path, s->vocab_size);
    if (s->token_bytes != (s->vocab_size <= 65536 ? 2u : 4u))
        return pst_fail(err, "%s: corrupt header: token_bytes %u does not fit vocab_size %u", path, s->token_bytes,
                        s->vocab_size);
    if (s->eot_id >= s->vocab_size)
        return pst_fail(err, "%s: corrupt header: eot_id %u outside the vocabulary of %u", path, s->eot_id,
                        s->vocab_size);
    if (s->split > 2) return pst_fail(err, "%s: corrupt header: split %u (expected 0, 1 or 2)", path, s->split);
    if (!(s->val_fraction >= 0 && s->val_fraction <= 1))
        return pst_fail(err, "%s: corrupt header: val_fraction %g outside [0, 1]", path, s->val_fraction);
    if (*scorer_len > PST_SHARD_MAX_SCORER)
        return pst_fail(err, "%s: corrupt header: scorer spec length %u exceeds %u", path, *scorer_len,
                        PST_SHARD_MAX_SCORER);
    /* counts beyond 2^48 cannot come from a real file; this also rules out overflow below */
    const uint64_t lim = 1ull << 48;
    if (s->n_tokens > lim || s->n_documents > lim || s->n_segments > lim)
        return pst_fail(err, "%s: corrupt header: counts out of range (tokens %llu, documents %llu, segments %llu)",
                        path, (unsigned long long)s->n_tokens, (unsigned long long)s->n_documents,
                        (unsigned long long)s->n_segments);
    return 0;
}

/* The sections' offsets from the header's counts; the file must end where they do, and
 * its checksum must match. Then the scorer spec and the views into the mapping. */
static int read_sections(pst_shard *s, const unsigned char *p, uint32_t scorer_len, uint64_t stored_checksum,
                         pst_error *err) {
    const char *path = s->path;
    uint64_t size = s->mapping->len;
    uint64_t off = PST_SHARD_HEADER_BYTES;
    uint64_t o_scorer = off, o_tokens, o_seg, o_doc, o_src, o_scores, end;
    int ok = add_ok(&off, pad8(scorer_len));
    o_tokens = off;
    ok = ok && add_ok(&off, pad8(s->n_tokens * s->token_bytes));
    o_seg = off;
    ok = ok && add_ok(&off, (s->n_segments + 1) * 8);
    o_doc = off;
    ok = ok && add_ok(&off, (s->n_documents + 1) * 8);
    o_src = off;
    ok = ok && add_ok(&off, s->n_documents * 8);
    o_scores = off;
    ok = ok && add_ok(&off, pad8(s->n_segments * 4));
    end = off;
    if (!ok || end != size)
        return pst_fail(err, "%s: %s shard: the header's counts (%llu tokens, %llu segments, %llu documents) "
                             "need %llu bytes, the file has %llu",
                        path, size < end ? "truncated" : "corrupt", (unsigned long long)s->n_tokens,
                        (unsigned long long)s->n_segments, (unsigned long long)s->n_documents,
                        (unsigned long long)end, (unsigned long long)size);
    checksum c = {0x50535453ull, 0};
    checksum_update(&c, p, size);
    if (checksum_final(&c) != stored_checksum)
        return pst_fail(err, "%s: corrupt shard: checksum mismatch (the file was modified or damaged)", path);
    memcpy(s->scorer, p + o_scorer, scorer_len);
    s->scorer[scorer_len] = 0;
    if (memchr(s->scorer, 0, scorer_len))
        return pst_fail(err, "%s: corrupt header: NUL byte inside the scorer spec", path);
    s->tokens = p + o_tokens;
    s->segment_offsets = (const uint64_t *)(p + o_seg);
    s->document_segments = (const uint64_t *)(p + o_doc);
    s->document_source = (const uint64_t *)(p + o_src);
    s->segment_scores = (const float *)(p + o_scores);
    return 0;
}

/* bounds[0..n] (item i spans [bounds[i], bounds[i + 1]) of the next level) runs from 0
 * to total and never decreases; the messages name the bounds, their unit and an item. */
static int check_bounds(const char *path, const uint64_t *bounds, uint64_t n, uint64_t total, const char *name,
                        const char *unit, const char *item, pst_error *err) {
    if (bounds[0] != 0 || bounds[n] != total)
        return pst_fail(err, "%s: corrupt shard: %s must run from 0 to %llu %s", path, name,
                        (unsigned long long)total, unit);
    for (uint64_t i = 0; i < n; i++)
        if (bounds[i + 1] < bounds[i])
            return pst_fail(err, "%s: corrupt shard: %s %llu ends before it starts", path, item, (unsigned long long)i);
    return 0;
}

/* Segment offsets run from 0 to n_tokens and document boundaries from 0 to n_segments,
 * both non-decreasing; every token id is inside the vocabulary. */
static int check_index(const pst_shard *s, pst_error *err) {
    const char *path = s->path;
    if (check_bounds(path, s->segment_offsets, s->n_segments, s->n_tokens, "segment offsets", "tokens", "segment",
                     err) ||
        check_bounds(path, s->document_segments, s->n_documents, s->n_segments, "document boundaries", "segments",
                     "document", err))
        return -1;
    uint32_t max_id = 0;
    if (s->token_bytes == 2) {
        const uint16_t *t = s->tokens;
        for (uint64_t i = 0; i < s->n_tokens; i++) max_id = t[i] > max_id ? t[i] : max_id;
    } else {
        const uint32_t *t = s->tokens;
        for (uint64_t i = 0; i < s->n_tokens; i++) max_id = t[i] > max_id ? t[i] : max_id;
    }
    if (s->n_tokens && max_id >= s->vocab_size)
        return pst_fail(err, "%s: corrupt shard: token id %u outside the vocabulary of %u", path, max_id,
                        s->vocab_size);
    return 0;
}

int pst_shard_open(pst_shard *s, const char *path, pst_error *err) {
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    if (map_shard(s, err)) return -1;
    const unsigned char *p = s->mapping->addr;
    uint32_t scorer_len = 0;
    uint64_t stored_checksum = 0;
    if (read_header(s, p, &scorer_len, &stored_checksum, err) ||
        read_sections(s, p, scorer_len, stored_checksum, err) || check_index(s, err)) {
        pst_shard_close(s);
        return -1;
    }
    return 0;
}

int pst_shard_check_vocab(const pst_shard *s, int model_vocab_size, uint64_t tokenizer_hash,
                          pst_error *err) {
    if (model_vocab_size < 0 || (uint32_t)model_vocab_size != s->vocab_size)
        return pst_fail(err, "%s: shard vocabulary has %u tokens but the model's has %d "
                             "(prepare the data with the model's tokenizer)",
                        s->path, s->vocab_size, model_vocab_size);
    if (tokenizer_hash && s->tokenizer_hash && tokenizer_hash != s->tokenizer_hash)
        return pst_fail(err, "%s: shard was tokenized with a different vocabulary "
                             "(tokenizer hash %016llx, the model's is %016llx)",
                        s->path, (unsigned long long)s->tokenizer_hash,
                        (unsigned long long)tokenizer_hash);
    return 0;
}

int pst_shard_detect(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8] = {0};
    size_t got = fread(magic, 1, 8, f);
    fclose(f);
    return got == 8 && memcmp(magic, PST_SHARD_MAGIC, 8) == 0;
}
