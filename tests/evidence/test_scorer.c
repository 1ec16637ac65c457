/* The scorer interface: spec parsing and its errors, pointwise scorers
 * (contains, regex, length), composition (products, not, below, above),
 * feature files, per-segment scores, the fast paths, thread safety, and JSON
 * quoting of bytes that are not UTF-8. Expected values are worked out by hand
 * from the definitions in include/posterior/scorer.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "posterior/scorer.h"

static double score1(const char *spec, const char *text) {
    pst_scorer *s;
    pst_error err;
    if (pst_scorer_create(spec, &s, &err) < 0) {
        fprintf(stderr, "create %s: %s\n", spec, err.msg);
        return NAN;
    }
    double v = NAN;
    if (pst_scorer_scores(s, 1, &text, NULL, NULL, &v, &err) < 0) fprintf(stderr, "%s\n", err.msg);
    pst_scorer_free(s);
    return v;
}

static int create_fails(const char *spec, const char *needle) {
    pst_scorer *s = NULL;
    pst_error err = {0};
    int rc = pst_scorer_create(spec, &s, &err);
    int ok = rc == -1 && s == NULL && strstr(err.msg, needle) != NULL;
    if (!ok) fprintf(stderr, "spec '%s': rc %d, message '%s' (wanted '%s')\n", spec, rc, err.msg, needle);
    pst_scorer_free(s);
    return ok;
}

static void test_contains(void) {
    CHECK(score1("contains:amazing", "An Amazing day") == 1);
    CHECK(score1("contains:amazing", "amazingly good") == 0); /* word boundary */
    CHECK(score1("contains:amazing", "un-amazing") == 1);      /* '-' is a boundary */
    CHECK(score1("contains:cat, dog", "hot dog!") == 1);
    CHECK(score1("contains:cat,dog", "concatenate dogma") == 0);
    CHECK(score1("contains:new york", "in New\n  York city") == 1); /* any whitespace */
    CHECK(score1("contains:c++", "I like C++ a lot") == 1);          /* escaped */
    CHECK(score1("contains:café", "un CAFÉ noir") == 1);             /* Unicode case folding */
    CHECK(score1("contains:caf", "un café noir") == 0);              /* Unicode word boundary */
    CHECK(score1("contains:x", "") == 0);
}

static void test_regex_length(void) {
    CHECK(score1("regex:^\\d+$", "12345") == 1);
    CHECK(score1("regex:^\\d+$", "123a45") == 0);
    CHECK(score1("regex:a&b", "xa&by") == 1); /* regex: takes the rest, '&' included */
    CHECK(score1("length:3:5", "abcd") == 1);
    CHECK(score1("length:3:5", "ab") == 0);
    CHECK(score1("length:3:5", "abcdef") == 0);
    CHECK(score1("length:3:5", "ééé") == 1); /* characters, not bytes (6 bytes) */
    CHECK(score1("length::2", "") == 1);
    CHECK(score1("length:2:", "a very long text indeed") == 1);
    /* invalid UTF-8 does not stop a UTF-mode regex */
    CHECK(score1("regex:b.d", "a\xff" "bcd") == 1);
}

static void test_composition(void) {
    CHECK(score1("not:contains:bad", "a good text") == 1);
    CHECK(score1("not:contains:bad", "a bad text") == 0);
    CHECK(score1("not:not:contains:bad", "a bad text") == 1);
    CHECK(score1("contains:good&length:1:20", "a good text") == 1);
    CHECK(score1("contains:good&length:1:5", "a good text") == 0);
    CHECK(score1("contains:good&not:contains:text", "a good text") == 0);
    CHECK(score1("length:1:100&regex:o{2}&x", "goo&x") == 1); /* "o{2}&x" is the pattern */
    CHECK(score1("length:1:100&regex:o{2}&x", "good") == 0);
    CHECK(score1("below:0.5:length:1:3", "abcdef") == 1);    /* b=0 < 0.5 */
    CHECK(score1("above:0.5:length:1:3", "abc") == 1);
    CHECK(score1("above:0.02:pii", "mail me: a@example.com") == 1);
    CHECK(score1("below:0.02:pii", "mail me: a@example.com") == 0);
    CHECK(score1("above:0:pii:PHONE", "mail me: a@example.com") == 0);
    CHECK(score1("above:0:pii:PHONE,EMAIL", "mail me: a@example.com") == 1);
    /* log b: 0 or -inf */
    pst_scorer *s;
    pst_error err;
    CHECK(pst_scorer_create("contains:yes", &s, &err) == 0);
    const char *texts[3] = {"yes", "no", "yes and no"};
    double lb[3];
    CHECK(pst_scorer_log_b(s, 3, texts, NULL, NULL, lb, &err) == 0);
    CHECK(lb[0] == 0 && isinf(lb[1]) && lb[1] < 0 && lb[2] == 0);
    CHECK(pst_scorer_kind_of(s) == PST_SCORER_POINTWISE);
    pst_scorer_free(s);
    /* log b of a non-pointwise scorer is an error that says how to fix it */
    CHECK(pst_scorer_create("pii", &s, &err) == 0);
    CHECK(pst_scorer_log_b(s, 3, texts, NULL, NULL, lb, &err) == -1);
    CHECK(strstr(err.msg, "not pointwise") && strstr(err.msg, "below:T:pii"));
    pst_scorer_free(s);
}

static void test_errors(void) {
    CHECK(create_fails("", "empty spec"));
    CHECK(create_fails("bogus", "'bogus': unknown spec"));
    CHECK(create_fails("contains:", "empty word"));
    CHECK(create_fails("contains:a,,b", "empty word"));
    CHECK(create_fails("regex:(ab", "does not compile at offset 3"));
    CHECK(create_fails("regex:", "empty pattern"));
    CHECK(create_fails("length:5", "expected length:MIN:MAX"));
    CHECK(create_fails("length:a:5", "bound 'a' is not a non-negative integer"));
    CHECK(create_fails("length:-1:5", "not a non-negative integer"));
    CHECK(create_fails("length:9:5", "MIN 9 is greater than MAX 5"));
    CHECK(create_fails("pii&contains:x", "factor 'pii' of a product is not pointwise"));
    CHECK(create_fails("contains:x&", "'&' at the end"));
    CHECK(create_fails("not:pii", "not: needs a pointwise spec"));
    CHECK(create_fails("below:x:pii", "threshold 'x' is not a finite number"));
    CHECK(create_fails("above:0.5", "needs a threshold and a spec"));
    CHECK(create_fails("features:/nonexistent/f.txt", "cannot open"));
    CHECK(create_fails("external:", "expected external:CMD"));
    CHECK(create_fails("pii:", "expected pii:TYPE"));
    CHECK(create_fails("pii:EMAIL,NAMES", "scorer 'pii:EMAIL,NAMES': pii: unknown type 'NAMES'"));
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_features(void) {
    pst_scorer *s;
    pst_error err;
    CHECK(pst_scorer_create("features:tests/fixtures/evidence/features.txt", &s, &err) == 0);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(pst_scorer_kind_of(s) == PST_SCORER_FEATURES);
    CHECK(pst_scorer_n_features(s) == 5);
    CHECK(strcmp(pst_scorer_feature_name(s, 0), "science") == 0);
    CHECK(strcmp(pst_scorer_feature_name(s, 4), "clean") == 0);
    CHECK(pst_scorer_feature_name(s, 5) == NULL);
    const char *texts[3] = {"Is physics fun?", "Football and tennis are sports, damn it, they are.",
                            "Chemistry"};
    double phi[15];
    CHECK(pst_scorer_features(s, 3, texts, NULL, NULL, phi, &err) == 0);
    const double want[15] = {1, 0, 1, 1, 1, /**/ 0, 1, 0, 0, 0, /**/ 1, 0, 0, 1, 1};
    for (int i = 0; i < 15; i++) CHECK_MSG(phi[i] == want[i], "phi[%d] = %g, want %g", i, phi[i], want[i]);
    double sc[3];
    CHECK(pst_scorer_scores(s, 3, texts, NULL, NULL, sc, &err) == 0);
    CHECK(sc[0] == 4 && sc[1] == 1 && sc[2] == 3); /* score = sum of phi */
    pst_scorer_free(s);

    /* bad files: line numbers and what is wrong */
    char path[64], spec[80];
    snprintf(path, sizeof path, "/tmp/pst_test_features.%ld.txt", (long)getpid());
    snprintf(spec, sizeof spec, "features:%s", path);
    write_file(path, "a = contains:x\nno equals sign here\n");
    CHECK(create_fails(spec, ".txt:2: expected 'NAME = SPEC'"));
    write_file(path, "a = contains:x\na = contains:y\n");
    CHECK(create_fails(spec, ":2: feature 'a' is defined twice"));
    write_file(path, "bad name = contains:x\n");
    CHECK(create_fails(spec, ":1: bad feature name 'bad name'"));
    write_file(path, "a = regex:(\n");
    CHECK(create_fails(spec, ":1: scorer 'regex:(': pattern does not compile"));
    write_file(path, "# only a comment\n\n");
    CHECK(create_fails(spec, "no features"));
    write_file(path, "a = features:/tmp/x\n");
    CHECK(create_fails(spec, "cannot include another"));
    remove(path);
}

/* Nesting is capped at 100 levels: 100,000 not: used to overflow the stack
 * (one recursive call per level); a features file reaching itself through a
 * threshold recursed without end. */
static char *nested(int depth) {
    char *spec = malloc((size_t)depth * 4 + 16);
    for (int i = 0; i < depth; i++) memcpy(spec + 4 * i, "not:", 4);
    strcpy(spec + 4 * depth, "contains:x");
    return spec;
}

static void test_nesting(void) {
    char *spec = nested(99); /* 100 levels with contains:x */
    CHECK(score1(spec, "x") == 0 && score1(spec, "y") == 1);
    free(spec);
    spec = nested(100);
    CHECK(create_fails(spec, "nested more than 100 levels deep"));
    free(spec);
    spec = nested(100000);
    CHECK(create_fails(spec, "scorer 'not:not:not:not:not:not:not:not:not:not:...': nested more than 100"));
    free(spec);
    char path[64], text[128];
    snprintf(path, sizeof path, "/tmp/pst_test_self.%ld.txt", (long)getpid());
    snprintf(text, sizeof text, "loop = below:1:features:%s\n", path);
    write_file(path, text);
    snprintf(text, sizeof text, "features:%s", path);
    CHECK(create_fails(text, ":1: scorer 'features:/tmp/pst_test_self"));
    CHECK(create_fails(text, "a features file cannot include another"));
    remove(path);
}

static void test_segments_and_findings(void) {
    pst_scorer *s;
    pst_error err;
    CHECK(pst_scorer_create("pii", &s, &err) == 0);
    const char *text = "no pii here\nmail a@example.com\n\nphone 415-555-2671 or b@example.org\n";
    pst_score_options opt = {1, PST_SEGMENT_LINE, 1};
    pst_score r;
    CHECK(pst_scorer_score(s, 1, &text, NULL, NULL, &opt, &r, &err) == 0);
    CHECK(r.n_findings == 3);
    CHECK(r.n_segments == 4);
    CHECK_NEAR(r.score, 3.0 / (double)strlen(text), 1e-15);
    CHECK(isnan(r.log_b));
    CHECK(r.n_features == 1 && r.features[0] == r.score);
    if (r.n_segments == 4) {
        CHECK(r.segment_scores[0] == 0);
        CHECK_NEAR(r.segment_scores[1], 1.0 / 19.0, 1e-15); /* "mail a@example.com\n" */
        CHECK(r.segment_scores[2] == 0);                   /* "\n" */
        CHECK_NEAR(r.segment_scores[3], 2.0 / 36.0, 1e-15);
    }
    if (r.n_findings == 3) {
        CHECK(strcmp(r.findings[0].type, "EMAIL") == 0 && r.findings[0].start == 17 && r.findings[0].end == 30);
        CHECK(strcmp(r.findings[1].type, "PHONE") == 0);
        CHECK(strcmp(r.findings[2].type, "EMAIL") == 0);
        CHECK(r.findings[0].start < r.findings[1].start && r.findings[1].start < r.findings[2].start);
    }
    pst_score_clear(&r);
    /* findings off by default; segments of scorers without findings are scored one by one */
    pst_scorer_free(s);
    CHECK(pst_scorer_create("contains:bad", &s, &err) == 0);
    const char *t2 = "good line\nbad line\n";
    opt.findings = 0;
    CHECK(pst_scorer_score(s, 1, &t2, NULL, NULL, &opt, &r, &err) == 0);
    CHECK(r.n_findings == 0 && r.findings == NULL);
    CHECK(r.n_segments == 2 && r.segment_scores[0] == 0 && r.segment_scores[1] == 1);
    CHECK(r.score == 1 && r.log_b == 0);
    pst_score_clear(&r);
    pst_scorer_free(s);
    /* composites collect their parts' findings, sorted; not: drops them */
    const char *t3 = "a text, a good text";
    pst_score_options fo = {0, PST_SEGMENT_DOCUMENT, 1};
    CHECK(pst_scorer_create("contains:good&regex:t.xt", &s, &err) == 0);
    CHECK(pst_scorer_score(s, 1, &t3, NULL, NULL, &fo, &r, &err) == 0);
    CHECK(r.score == 1 && r.n_findings == 3);
    if (r.n_findings == 3)
        CHECK(r.findings[0].start == 2 && r.findings[1].start == 10 && r.findings[2].start == 15 &&
              strcmp(r.findings[1].type, "MATCH") == 0);
    pst_score_clear(&r);
    pst_scorer_free(s);
    CHECK(pst_scorer_create("not:contains:good", &s, &err) == 0);
    CHECK(pst_scorer_score(s, 1, &t3, NULL, NULL, &fo, &r, &err) == 0);
    CHECK(r.score == 0 && r.n_findings == 0);
    pst_score_clear(&r);
    pst_scorer_free(s);
}

static void test_threads(void) {
    /* the same scorer from several threads gives the serial results */
    pst_scorer *s;
    pst_error err;
    CHECK(pst_scorer_create("pii", &s, &err) == 0);
    enum { N = 64 };
    char *texts[N];
    double serial[N], parallel[N];
    for (int i = 0; i < N; i++) {
        texts[i] = malloc(256);
        snprintf(texts[i], 256, "user%d@example.com called 415-555-%04d; %.*s", i, 1000 + i, i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        CHECK(pst_scorer_scores(s, 1, (const char *const *)&texts[i], NULL, NULL, &serial[i], &err) == 0);
    }
    int failures = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(4) reduction(+ : failures)
    for (int i = 0; i < N; i++) {
        pst_error e;
        if (pst_scorer_scores(s, 1, (const char *const *)&texts[i], NULL, NULL, &parallel[i], &e) < 0) failures++;
    }
    CHECK(failures == 0);
    for (int i = 0; i < N; i++) {
        CHECK(parallel[i] == serial[i]);
        CHECK_NEAR(serial[i], 2.0 / (double)strlen(texts[i]), 1e-15);
        free(texts[i]);
    }
    pst_scorer_free(s);
}

static void test_external_threads(void) {
    /* one external process shared by 4 threads: batches are serialised, every
     * answer lands at its own text (score = words / 100) */
    pst_scorer *s;
    pst_error err;
    if (pst_scorer_create("external:/usr/bin/python3 examples/scorers/length_scorer.py", &s, &err) < 0) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    CHECK(pst_scorer_kind_of(s) == PST_SCORER_SCORE && pst_scorer_n_features(s) == 1);
    enum { N = 48, PER = 5 };
    static char buf[N][PER][64];
    double got[N][PER];
    int failures = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(4) reduction(+ : failures)
    for (int i = 0; i < N; i++) {
        const char *texts[PER];
        for (int j = 0; j < PER; j++) {
            int words = (i * PER + j) % 13;
            buf[i][j][0] = 0;
            for (int w = 0; w < words; w++) strcat(buf[i][j], "w ");
            texts[j] = buf[i][j];
        }
        pst_error e;
        if (pst_scorer_scores(s, PER, texts, NULL, NULL, got[i], &e) < 0) failures++;
    }
    CHECK(failures == 0);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < PER; j++) CHECK_NEAR(got[i][j], ((i * PER + j) % 13) / 100.0, 1e-15);
    pst_scorer_free(s);
}

static void test_utf8_chars(void) {
    CHECK(pst_utf8_chars("h\xc3\xa9llo\xff", 7) == 6);
}

int main(void) {
    test_contains();
    test_regex_length();
    test_composition();
    test_errors();
    test_features();
    test_nesting();
    test_segments_and_findings();
    test_threads();
    test_external_threads();
    test_utf8_chars();
    return check_report();
}
