/* Token shards and the batch loader: round trips (u16 and u32 ids), every
 * corruption the reader must catch (with an independent implementation of the
 * documented checksum, so structural checks are reached too), vocabulary
 * mismatch, loader packing / score alignment on a hand-built shard, shuffling
 * as a per-epoch permutation, resume reproducing the batches, and control
 * tokens for conditional training. */
#include "check.h"
#include "posterior/shard.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void path_of(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", dir, name); }

static char *slurp(const char *path, size_t *len) {
    char *b;
    pst_error err;
    if (pst_read_file(path, &b, len, &err)) return NULL;
    return b;
}

static void spit(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

/* The checksum exactly as documented in shard.h / docs/formats.md. */
static uint64_t doc_checksum(const unsigned char *p, size_t len) {
    uint64_t h = 0x50535453ull;
    for (size_t i = 0; i + 8 <= len; i += 8) {
        uint64_t w = 0;
        for (int k = 7; k >= 0; k--) w = (w << 8) | p[i + k];
        if (i == 80) w = 0;
        h ^= w;
        h = ((h << 29) | (h >> 35)) * 0x9E3779B97F4A7C15ull;
    }
    uint64_t z = h + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void reseal(unsigned char *p, size_t len) {
    uint64_t c = doc_checksum(p, len);
    for (int i = 0; i < 8; i++) p[80 + i] = (unsigned char)(c >> (8 * i));
}

/* doc0: [1 2 3] segments [1 2 | 3] scores 0.5 1.5
 * doc1: []      (an empty document, no segments)
 * doc2: [4 5]   one segment, unscored (NaN)
 * doc3: [6 7 8 9] segments [6 | (empty) | 7 8 9] scores -1 7 2 */
static int build_small(const char *path, uint32_t vocab, pst_error *err) {
    pst_shard_builder b;
    if (pst_shard_builder_init(&b, vocab, 0, 0x1234, "toxicity", err)) return -1;
    uint32_t d0[] = {1, 2, 3}, d2[] = {4, 5}, d3[] = {6, 7, 8, vocab - 1};
    size_t e0[] = {2, 3}, e2[] = {2}, e3[] = {1, 1, 4};
    float s0[] = {0.5f, 1.5f}, s3[] = {-1.0f, 7.0f, 2.0f};
    int rc = pst_shard_builder_add(&b, d0, 3, e0, s0, 2, 10, err) ||
             pst_shard_builder_add(&b, NULL, 0, NULL, NULL, 0, 11, err) ||
             pst_shard_builder_add(&b, d2, 2, e2, NULL, 1, 12, err) ||
             pst_shard_builder_add(&b, d3, 4, e3, s3, 3, 13, err) ||
             pst_shard_builder_write(&b, path, PST_SPLIT_TRAIN, 42, 0.25, err);
    pst_shard_builder_free(&b);
    return rc ? -1 : 0;
}

static void test_round_trip(uint32_t vocab) {
    char path[512];
    path_of(path, sizeof path, "small.bin");
    pst_error err = {0};
    CHECK_MSG(build_small(path, vocab, &err) == 0, "%s", err.msg);
    pst_shard s;
    CHECK_MSG(pst_shard_open(&s, path, &err) == 0, "%s", err.msg);
    CHECK(s.token_bytes == (vocab <= 65536 ? 2u : 4u));
    CHECK(s.vocab_size == vocab && s.eot_id == 0 && s.tokenizer_hash == 0x1234);
    CHECK(s.n_tokens == 9 && s.n_documents == 4 && s.n_segments == 6);
    CHECK(strcmp(s.scorer, "toxicity") == 0);
    CHECK(s.split == PST_SPLIT_TRAIN && s.split_seed == 42 && s.val_fraction == 0.25);
    uint32_t want[] = {1, 2, 3, 4, 5, 6, 7, 8, vocab - 1};
    int same = 1;
    for (int i = 0; i < 9; i++) same &= pst_shard_token(&s, i) == want[i];
    CHECK(same);
    uint64_t off[] = {0, 2, 3, 5, 6, 6, 9}, docs[] = {0, 2, 2, 3, 6}, src[] = {10, 11, 12, 13};
    CHECK(memcmp(s.segment_offsets, off, sizeof off) == 0);
    CHECK(memcmp(s.document_segments, docs, sizeof docs) == 0);
    CHECK(memcmp(s.document_source, src, sizeof src) == 0);
    CHECK(s.segment_scores[0] == 0.5f && s.segment_scores[1] == 1.5f && isnan(s.segment_scores[2]));
    CHECK(s.segment_scores[3] == -1.0f && s.segment_scores[4] == 7.0f && s.segment_scores[5] == 2.0f);
    CHECK(pst_shard_document_start(&s, 1) == 3 && pst_shard_document_end(&s, 1) == 3);
    /* vocabulary checks */
    CHECK(pst_shard_check_vocab(&s, (int)vocab, 0x1234, &err) == 0);
    CHECK(pst_shard_check_vocab(&s, (int)vocab, 0, &err) == 0);
    CHECK(pst_shard_check_vocab(&s, 4096, 0, &err) == -1);
    CHECK(strstr(err.msg, "small.bin") && strstr(err.msg, "4096"));
    CHECK(pst_shard_check_vocab(&s, (int)vocab, 0x9999, &err) == -1);
    CHECK(strstr(err.msg, "different vocabulary") != NULL);
    pst_shard_close(&s);
}

/* Opens path and expects failure whose message contains both needles. */
static void expect_open_fails(const char *path, const char *needle, int line) {
    pst_shard s;
    pst_error err = {0};
    int rc = pst_shard_open(&s, path, &err);
    CHECK_MSG(rc == -1, "line %d: opened a bad shard", line);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "line %d: message '%s' lacks '%s'", line, err.msg, needle);
    CHECK_MSG(strstr(err.msg, path) != NULL, "line %d: message '%s' lacks the path", line, err.msg);
    if (rc == 0) pst_shard_close(&s);
}

static void test_corruption(void) {
    char good[512], bad[512];
    path_of(good, sizeof good, "good.bin");
    path_of(bad, sizeof bad, "bad.bin");
    pst_error err;
    CHECK(build_small(good, 100, &err) == 0);
    size_t len;
    unsigned char *g = (unsigned char *)slurp(good, &len);
    unsigned char *p = malloc(len);
    CHECK(g && p && len % 8 == 0);

    /* truncated anywhere, including inside the header */
    size_t cuts[] = {0, 7, 64, 127, 128, len - 8, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spit(bad, g, cuts[i]);
        expect_open_fails(bad, "truncated", __LINE__);
    }
    /* trailing garbage */
    memcpy(p, g, len);
    FILE *f = fopen(bad, "wb");
    fwrite(p, 1, len, f);
    fwrite("12345678", 1, 8, f);
    fclose(f);
    expect_open_fails(bad, "corrupt", __LINE__);
    /* wrong magic */
    memcpy(p, g, len);
    memcpy(p, "GPT2DATA", 8);
    spit(bad, p, len);
    expect_open_fails(bad, "magic", __LINE__);
    /* a future version */
    memcpy(p, g, len);
    p[8] = 2;
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "version 2", __LINE__);
    /* one flipped bit in the token data: only the checksum sees it */
    memcpy(p, g, len);
    p[PST_SHARD_HEADER_BYTES + 8 + 2] ^= 1;
    spit(bad, p, len);
    expect_open_fails(bad, "checksum", __LINE__);
    /* counts out of range */
    memcpy(p, g, len);
    memset(p + 24, 0xff, 8);
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "out of range", __LINE__);
    /* counts that do not match the size */
    memcpy(p, g, len);
    p[32] = 5; /* documents 4 -> 5 */
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "need", __LINE__);
    /* token id outside the vocabulary (checksum resealed: the structural check must catch it) */
    memcpy(p, g, len);
    p[PST_SHARD_HEADER_BYTES + 8] = 200; /* first token (u16) = 200 >= vocab 100 */
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "outside the vocabulary", __LINE__);
    /* eot id outside the vocabulary */
    memcpy(p, g, len);
    p[20] = 100;
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "eot_id", __LINE__);
    /* a vocabulary beyond int token ids (4-byte tokens, vocab_size 2^31; found by fuzz_shard:
     * such ids came out of the loader negative) */
    memcpy(p, g, len);
    p[12] = 4;
    memcpy(p + 16, "\x00\x00\x00\x80", 4);
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "above 2^31 - 1", __LINE__);
    /* token width that does not fit the vocabulary */
    memcpy(p, g, len);
    p[12] = 4;
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "token_bytes", __LINE__);
    /* decreasing segment offsets: tokens (9 × 2 = 18 → 24 bytes) after header + scorer (8) */
    memcpy(p, g, len);
    size_t seg = PST_SHARD_HEADER_BYTES + 8 + 24;
    p[seg + 8] = 7; /* segment 0 ends at 7, segment 1 at 3 */
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "segment", __LINE__);
    /* document boundaries that do not cover the segments */
    memcpy(p, g, len);
    size_t docs = seg + 7 * 8;
    p[docs + 4 * 8] = 5;
    reseal(p, len);
    spit(bad, p, len);
    expect_open_fails(bad, "document boundaries", __LINE__);
    /* missing file, a folder */
    path_of(bad, sizeof bad, "missing.bin");
    expect_open_fails(bad, "cannot open", __LINE__);
    expect_open_fails(dir, "not a regular file", __LINE__);
    free(g);
    free(p);
}

static void test_builder_rejects(void) {
    pst_shard_builder b;
    pst_error err;
    CHECK(pst_shard_builder_init(&b, 10, 10, 0, NULL, &err) == -1);
    CHECK(pst_shard_builder_init(&b, 10, 0, 0, NULL, &err) == 0);
    uint32_t ids[] = {1, 12};
    size_t ends[] = {2}, bad_ends[] = {1};
    CHECK(pst_shard_builder_add(&b, ids, 2, ends, NULL, 1, 0, &err) == -1);
    CHECK(strstr(err.msg, "12") != NULL);
    ids[1] = 3;
    CHECK(pst_shard_builder_add(&b, ids, 2, bad_ends, NULL, 1, 0, &err) == -1);
    CHECK(pst_shard_builder_add(&b, ids, 2, NULL, NULL, 0, 0, &err) == -1);
    CHECK(pst_shard_builder_add(&b, ids, 2, ends, NULL, 1, 0, &err) == 0);
    CHECK(b.n_documents == 1 && b.n_tokens == 2);
    pst_shard_builder_free(&b);
}

/* Expected stream for the small shard, sequential: doc0 EOT doc1(empty) EOT doc2 EOT doc3 EOT. */
static const int stream_tok[] = {1, 2, 3, 0, 0, 4, 5, 0, 6, 7, 8, 99, 0};
static const int64_t stream_seg[] = {0, 0, 1, -1, -1, 2, 2, -1, 3, 5, 5, 5, -1};
static const int64_t stream_doc[] = {0, 0, 0, 0, 1, 2, 2, 2, 3, 3, 3, 3, 3};

static void test_loader_sequential(void) {
    char path[512];
    path_of(path, sizeof path, "small.bin");
    pst_error err = {0};
    CHECK(build_small(path, 100, &err) == 0);
    pst_shard s;
    CHECK(pst_shard_open(&s, path, &err) == 0);
    pst_loader l;
    CHECK(pst_loader_init(&l, &s, 2, 2, 0, 0, 1, &err) == 0);
    /* batches of 4 (+1) over a 13-position stream: offsets 0, 4, 8, 12 */
    int batch = 0, ok = 1, aligned = 1;
    for (; batch < 10; batch++) {
        int rc = pst_loader_next(&l, &err);
        if (rc != 1) break;
        size_t base = (size_t)batch * 4;
        for (size_t i = 0; i < 5; i++) {
            size_t k = base + i;
            if (i < l.n_valid) {
                ok &= k < 13 && l.tokens[i] == stream_tok[k] && l.segments[i] == stream_seg[k] &&
                      l.documents[i] == stream_doc[k];
            } else {
                ok &= l.tokens[i] == 0 && l.segments[i] == -1 && l.documents[i] == -1 && isnan(l.scores[i]);
            }
            /* the score is the token's segment's score; NaN on EOT */
            if (l.segments[i] >= 0) aligned &= l.scores[i] == s.segment_scores[l.segments[i]] ||
                                            (isnan(l.scores[i]) && isnan(s.segment_scores[l.segments[i]]));
            else aligned &= isnan(l.scores[i]);
        }
        if (batch == 2) CHECK(l.n_valid == 5);
    }
    CHECK(ok);
    CHECK(aligned);
    /* offsets 0, 4, 8 give full batches; offset 12 has one token and nothing to predict */
    CHECK_MSG(batch == 3, "got %d batches", batch);
    CHECK(pst_loader_next(&l, &err) == 0);
    pst_loader_free(&l);

    /* looping: the stream wraps into the next epoch */
    CHECK(pst_loader_init(&l, &s, 1, 12, 0, 1, 1, &err) == 0);
    CHECK(pst_loader_next(&l, &err) == 1);
    CHECK(l.tokens[11] == 99 && l.tokens[12] == 0 && l.n_valid == 13);
    CHECK(pst_loader_next(&l, &err) == 1);
    CHECK(l.tokens[0] == 0 && l.tokens[1] == 1 && l.tokens[2] == 2 && l.pos.epoch == 1);
    pst_loader_free(&l);
    pst_shard_close(&s);
}

/* A bigger random shard for shuffling and resume. */
static int build_random(const char *path, int n_docs, uint64_t seed, pst_error *err) {
    pst_shard_builder b;
    if (pst_shard_builder_init(&b, 1000, 999, 0, "", err)) return -1;
    pst_rng rng;
    pst_rng_seed(&rng, seed);
    int rc = 0;
    for (int d = 0; d < n_docs && !rc; d++) {
        size_t n = 1 + pst_rng_below(&rng, 40);
        uint32_t ids[40];
        size_t ends[40];
        float scores[40];
        size_t ns = 0;
        for (size_t i = 0; i < n; i++) {
            ids[i] = (uint32_t)(d * 7 + i) % 999; /* never the EOT id */
            if (i + 1 == n || pst_rng_below(&rng, 4) == 0) {
                ends[ns] = i + 1;
                scores[ns] = (float)(d * 100 + ns);
                ns++;
            }
        }
        rc = pst_shard_builder_add(&b, ids, n, ends, scores, ns, (uint64_t)d, err);
    }
    if (!rc) rc = pst_shard_builder_write(&b, path, PST_SPLIT_ALL, 0, 0, err);
    pst_shard_builder_free(&b);
    return rc;
}

static void test_loader_shuffle_and_resume(void) {
    char path[512];
    path_of(path, sizeof path, "random.bin");
    pst_error err = {0};
    CHECK_MSG(build_random(path, 57, 3, &err) == 0, "%s", err.msg);
    pst_shard s;
    CHECK_MSG(pst_shard_open(&s, path, &err) == 0, "%s", err.msg);
    uint64_t epoch_len = s.n_tokens + s.n_documents; /* tokens + one EOT each */
    int B = 3, T = 16;
    size_t bt = (size_t)B * T;
    int n_batches = (int)(3 * epoch_len / bt) + 2; /* a bit over three epochs */

    /* record the whole stream of a shuffled, looping loader */
    pst_loader l;
    CHECK(pst_loader_init(&l, &s, B, T, 1, 1, 2024, &err) == 0);
    int *stream = malloc(sizeof(int) * bt * n_batches);
    int64_t *docs = malloc(sizeof(int64_t) * bt * n_batches);
    pst_loader_pos saved;
    int *after = malloc(sizeof(int) * (bt + 1) * n_batches);
    int resume_at = n_batches / 2;
    for (int k = 0; k < n_batches; k++) {
        if (k == resume_at) pst_loader_get_pos(&l, &saved);
        CHECK(pst_loader_next(&l, &err) == 1);
        memcpy(stream + k * bt, l.tokens, sizeof(int) * bt);
        memcpy(docs + k * bt, l.documents, sizeof(int64_t) * bt);
        memcpy(after + k * (bt + 1), l.tokens, sizeof(int) * (bt + 1));
        /* the +1 target equals the next batch's first input (checked below) */
    }
    int chain = 1;
    for (int k = 0; k + 1 < n_batches; k++) chain &= after[k * (bt + 1) + bt] == stream[(k + 1) * bt];
    CHECK(chain);
    pst_loader_free(&l);

    /* each epoch is a permutation: every document exactly once, intact, then EOT */
    size_t pos = 0;
    int perm_ok = 1, differs_from_identity = 0;
    for (int e = 0; e < 3; e++) {
        char *seen = calloc(s.n_documents, 1);
        for (uint64_t c = 0; c < s.n_documents; c++) {
            int64_t d = docs[pos];
            if (d < 0 || (uint64_t)d >= s.n_documents || seen[d]) {
                perm_ok = 0;
                break;
            }
            seen[d] = 1;
            if ((uint64_t)d != c) differs_from_identity = 1;
            uint64_t a = pst_shard_document_start(&s, d), z = pst_shard_document_end(&s, d);
            for (uint64_t t = a; t < z; t++) perm_ok &= stream[pos++] == (int)pst_shard_token(&s, t);
            perm_ok &= stream[pos++] == 999;
        }
        free(seen);
    }
    CHECK(perm_ok);
    CHECK(differs_from_identity);

    /* resume: a fresh loader (other seed) restored to the saved position reproduces the rest */
    CHECK(pst_loader_init(&l, &s, B, T, 0, 1, 7, &err) == 0);
    CHECK_MSG(pst_loader_set_pos(&l, &saved, &err) == 0, "%s", err.msg);
    int same = 1;
    for (int k = resume_at; k < n_batches; k++) {
        CHECK(pst_loader_next(&l, &err) == 1);
        same &= memcmp(l.tokens, after + k * (bt + 1), sizeof(int) * (bt + 1)) == 0;
    }
    CHECK(same);
    /* the same seed gives the same stream, another seed another one */
    pst_loader l2;
    CHECK(pst_loader_init(&l2, &s, B, T, 1, 1, 2024, &err) == 0);
    CHECK(pst_loader_next(&l2, &err) == 1);
    CHECK(memcmp(l2.tokens, stream, sizeof(int) * bt) == 0);
    pst_loader_free(&l2);
    CHECK(pst_loader_init(&l2, &s, B, T, 1, 1, 2025, &err) == 0);
    int diff = 0;
    for (int k = 0; k < 5; k++) {
        CHECK(pst_loader_next(&l2, &err) == 1);
        diff |= memcmp(l2.tokens, stream + k * bt, sizeof(int) * bt) != 0;
    }
    CHECK(diff);
    pst_loader_free(&l2);

    /* bad positions are refused and leave the loader as it was */
    pst_loader_pos bad = saved;
    bad.n_tokens++;
    CHECK(pst_loader_set_pos(&l, &bad, &err) == -1 && strstr(err.msg, "another shard"));
    bad = saved;
    bad.magic = 0;
    CHECK(pst_loader_set_pos(&l, &bad, &err) == -1);
    bad = saved;
    bad.token_in_doc = 1000;
    CHECK(pst_loader_set_pos(&l, &bad, &err) == -1 && strstr(err.msg, "out of range"));
    pst_loader_free(&l);

    CHECK(pst_loader_init(&l, &s, 0, 4, 0, 0, 1, &err) == -1);
    pst_shard_close(&s);
    free(stream);
    free(docs);
    free(after);
}

/* Conditional training: a control token before each non-empty segment, chosen by
 * score <= threshold (NaN: misaligned), carrying the segment; resume mid-segment. */
static void test_loader_control(void) {
    char path[512];
    path_of(path, sizeof path, "small.bin");
    pst_error err = {0};
    CHECK(build_small(path, 100, &err) == 0);
    pst_shard s;
    CHECK(pst_shard_open(&s, path, &err) == 0);
    enum { A = 100, M = 101 };
    const int tok[] = {A, 1, 2, M, 3, 0, 0, M, 4, 5, 0, A, 6, M, 7, 8, 99, 0};
    const int64_t seg[] = {0, 0, 0, 1, 1, -1, -1, 2, 2, 2, -1, 3, 3, 5, 5, 5, 5, -1};
    const int64_t doc[] = {0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3};
    pst_loader l;
    CHECK(pst_loader_init(&l, &s, 1, 17, 0, 0, 1, &err) == 0);
    CHECK(pst_loader_set_control(&l, 1.0f, A, M, &err) == 0);
    CHECK(pst_loader_next(&l, &err) == 1);
    CHECK(l.n_valid == 18);
    int ok = 1;
    for (int i = 0; i < 18; i++) ok &= l.tokens[i] == tok[i] && l.segments[i] == seg[i] && l.documents[i] == doc[i];
    CHECK(ok);
    CHECK(l.scores[0] == 0.5f && l.scores[3] == 1.5f && isnan(l.scores[7]) && l.scores[13] == 2.0f);
    CHECK(pst_loader_next(&l, &err) == 0);
    pst_loader_free(&l);
    /* resume: batches of 4 put a batch boundary between a control token and its segment */
    CHECK(pst_loader_init(&l, &s, 1, 4, 0, 1, 1, &err) == 0);
    CHECK(pst_loader_set_control(&l, 1.0f, A, M, &err) == 0);
    int first[12][5];
    pst_loader_pos mid;
    for (int k = 0; k < 12; k++) {
        if (k == 1) pst_loader_get_pos(&l, &mid);
        CHECK(pst_loader_next(&l, &err) == 1);
        memcpy(first[k], l.tokens, sizeof first[k]);
    }
    CHECK(mid.control_done == 1); /* position 4 is token 3, after its control token */
    CHECK(first[0][3] == M && first[1][0] == 3);
    CHECK(pst_loader_set_pos(&l, &mid, &err) == 0);
    int same = 1;
    for (int k = 1; k < 12; k++) {
        CHECK(pst_loader_next(&l, &err) == 1);
        same &= memcmp(first[k], l.tokens, sizeof first[k]) == 0;
    }
    CHECK(same);
    /* refused: equal ids, negative ids, NaN threshold, an unscored shard */
    CHECK(pst_loader_set_control(&l, 1.0f, A, A, &err) == -1);
    CHECK(pst_loader_set_control(&l, 1.0f, -1, M, &err) == -1);
    CHECK(pst_loader_set_control(&l, NAN, A, M, &err) == -1);
    pst_loader_free(&l);
    pst_shard_close(&s);
    path_of(path, sizeof path, "unscored.bin");
    CHECK(build_random(path, 3, 1, &err) == 0);
    CHECK(pst_shard_open(&s, path, &err) == 0);
    CHECK(pst_loader_init(&l, &s, 1, 4, 0, 0, 1, &err) == 0);
    CHECK(pst_loader_set_control(&l, 1.0f, A, M, &err) == -1 && strstr(err.msg, "scored shard"));
    pst_loader_free(&l);
    pst_shard_close(&s);
}

static void test_empty_shard(void) {
    char path[512];
    path_of(path, sizeof path, "empty.bin");
    pst_shard_builder b;
    pst_error err = {0};
    CHECK(pst_shard_builder_init(&b, 50257, 50256, 0, NULL, &err) == 0);
    CHECK(pst_shard_builder_write(&b, path, PST_SPLIT_VAL, 1, 0.05, &err) == 0);
    pst_shard_builder_free(&b);
    pst_shard s;
    CHECK_MSG(pst_shard_open(&s, path, &err) == 0, "%s", err.msg);
    CHECK(s.n_tokens == 0 && s.n_documents == 0 && s.n_segments == 0 && s.scorer[0] == 0);
    pst_loader l;
    CHECK(pst_loader_init(&l, &s, 1, 4, 0, 0, 1, &err) == -1);
    CHECK(strstr(err.msg, "no documents") != NULL);
    pst_shard_close(&s);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/pst_test_shard.%ld", (long)getpid());
    pst_error err;
    pst_mkdir_p(dir, &err);
    test_round_trip(100);
    test_round_trip(70000);
    test_corruption();
    test_builder_rejects();
    test_loader_sequential();
    test_loader_shuffle_and_resume();
    test_loader_control();
    test_empty_shard();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
