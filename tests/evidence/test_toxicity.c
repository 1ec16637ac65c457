/* Toxicity lexicon: loading npm cuss 2.2.0, case folding, word boundaries,
 * obfuscations, multiword entries, rating-0 entries, the score formula
 * 1 − Π(1 − p(rating)), the scorer spec, and bad input. Ratings are those of
 * data/cuss/index.js (fuck 2, shit 1, ass 2, damn 1, 'alligator bait' 2). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "posterior/scorer.h"
#include "posterior/toxicity.h"

static pst_toxicity *T;

/* "rating:text|..." and the score */
static const char *describe(const char *text, size_t len, double *score) {
    static char buf[2048];
    pst_toxic_match *m;
    size_t n;
    pst_error err;
    buf[0] = 0;
    if (pst_toxicity_find(T, text, len, &m, &n, score, &err) < 0) {
        snprintf(buf, sizeof buf, "ERROR %s", err.msg);
        return buf;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%d:%.*s", i ? "|" : "", m[i].rating,
                              (int)(m[i].end - m[i].start), text + m[i].start);
    free(m);
    return buf;
}

#define EXPECT(text, want)                                                                 \
    do {                                                                                   \
        double s_;                                                                         \
        const char *got_ = describe(text, strlen(text), &s_);                              \
        CHECK_MSG(strcmp(got_, want) == 0, "'%s': got '%s', want '%s'", text, got_, want); \
    } while (0)

static double score_of(const char *text) {
    double s = -1;
    describe(text, strlen(text), &s);
    return s;
}

static void test_lexicon(void) {
    /* 1795 lines of the form `  word: N,` or `  'two words': N,` */
    CHECK(pst_toxicity_lexicon_size(T) == 1795);
    CHECK(pst_toxicity_rating_probability(0) == 0.0);
    CHECK(pst_toxicity_rating_probability(1) == 0.5);
    CHECK(pst_toxicity_rating_probability(2) == 0.9);
    pst_toxicity *t = NULL;
    pst_error err;
    CHECK(pst_toxicity_create("/nonexistent-data", &t, &err) == -1 && t == NULL);
    CHECK(strstr(err.msg, "/nonexistent-data/cuss/index.js") && strstr(err.msg, "POSTERIOR_DATA"));
    /* a file that is not the cuss lexicon */
    char dir[64], cmd[256];
    snprintf(dir, sizeof dir, "/tmp/pst_tox_bad.%ld", (long)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s/cuss && echo 'export const x = 1' > %s/cuss/index.js", dir, dir);
    CHECK(system(cmd) == 0);
    CHECK(pst_toxicity_create(dir, &t, &err) == -1);
    CHECK(strstr(err.msg, "only 0 entries parsed") != NULL);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void test_boundaries_and_case(void) {
    EXPECT("This class in Scunthorpe is a classic.", "");
    EXPECT("bass, assassin, assess, passage, cockpit? no: hancock", "");
    EXPECT("What the FUCK", "2:FUCK");
    EXPECT("Shit happens", "1:Shit");
    EXPECT("damn-it", "1:damn");
    EXPECT("(ass)", "2:ass");
    EXPECT("Fu’s worries", "2:Fu"); /* U+2019 separates words like ' */
    EXPECT("café fuck", "2:fuck");
    EXPECT("An American attack in Africa", ""); /* rating 0: not reported */
}

static void test_obfuscations(void) {
    EXPECT("f*ck f**k f#ck", "2:f*ck|2:f**k|2:f#ck");
    EXPECT("sh1t sh!t a$$ @ss", "1:sh1t|1:sh!t|2:a$$|2:@ss");
    EXPECT("fuuuuuck shiiiit", "2:fuuuuuck|1:shiiiit");
    EXPECT("pi55 off", "2:pi55"); /* an entry with digits matches as written */
    EXPECT("fuck!!!", "2:fuck");
    EXPECT("*uck ** f*** x*", ""); /* hidden first letter, too few letters */
    EXPECT("3rd 101 $100 42nd", "");
    EXPECT("h3ll0 w0rld", "");     /* "hello": not in the lexicon */
}

static void test_multiword_and_score(void) {
    EXPECT("he is alligator bait.", "2:alligator bait");
    EXPECT("alligator\n  bait", "2:alligator\n  bait");
    EXPECT("alligator-bait", "2:alligator-bait");
    EXPECT("alligator. bait", ""); /* punctuation breaks a phrase */
    CHECK_NEAR(score_of("clean text"), 0.0, 0);
    CHECK_NEAR(score_of("damn"), 0.5, 1e-15);
    CHECK_NEAR(score_of("fuck"), 0.9, 1e-15);
    CHECK_NEAR(score_of("damn fuck"), 1 - 0.5 * 0.1, 1e-15);
    CHECK_NEAR(score_of("damn damn damn"), 1 - 0.125, 1e-15);
}

static void test_bad_input(void) {
    const char bin[] = "\x00\xff hel\x00lo \xc3\x28 fuck \x80\x80";
    double s;
    const char *got = describe(bin, sizeof bin - 1, &s);
    CHECK(strcmp(got, "2:fuck") == 0);
    CHECK_NEAR(s, 0.9, 1e-15);
    CHECK(strcmp(describe("", 0, &s), "") == 0 && s == 0);
    /* a 50 MB line without spaces, then one with words */
    size_t big = 50u << 20;
    char *line = malloc(big);
    memset(line, 'a', big);
    CHECK(strcmp(describe(line, big, &s), "") == 0);
    for (size_t i = 0; i < big; i++) line[i] = "damn ok "[i % 8];
    pst_toxic_match *m;
    size_t n;
    pst_error err;
    CHECK(pst_toxicity_find(T, line, big, &m, &n, &s, &err) == 0);
    CHECK(n == big / 8);
    CHECK(s == 1.0); /* 1 - 0.5^6553600 underflows to 1 */
    free(m);
    free(line);
}

static void test_scorer(void) {
    pst_scorer *sc;
    pst_error err;
    CHECK(pst_scorer_create("toxicity", &sc, &err) == 0);
    const char *text = "A nice day. What the fuck is this shit? Fine.";
    pst_score_options opt = {1, PST_SEGMENT_SENTENCE, 1};
    pst_score r;
    CHECK(pst_scorer_score(sc, 1, &text, NULL, NULL, &opt, &r, &err) == 0);
    CHECK_NEAR(r.score, 1 - 0.1 * 0.5, 1e-15);
    CHECK(r.n_findings == 2);
    if (r.n_findings == 2) {
        CHECK(strcmp(r.findings[0].type, "TOXIC") == 0 && r.findings[0].rating == 2);
        CHECK(r.findings[1].rating == 1);
    }
    CHECK(r.n_segments == 3);
    if (r.n_segments == 3) {
        CHECK(r.segment_scores[0] == 0);
        CHECK_NEAR(r.segment_scores[1], 0.95, 1e-15);
        CHECK(r.segment_scores[2] == 0);
    }
    pst_score_clear(&r);
    pst_scorer_free(sc);
    /* a pointwise "non-toxic" constraint */
    CHECK(pst_scorer_create("below:0.5:toxicity", &sc, &err) == 0);
    const char *two[2] = {"lovely", "damn it, fuck"};
    double lb[2];
    CHECK(pst_scorer_log_b(sc, 2, two, NULL, NULL, lb, &err) == 0);
    CHECK(lb[0] == 0 && isinf(lb[1]));
    pst_scorer_free(sc);
}

/* Random texts from an obfuscation-dense alphabet (seeded pst_rng): matches
 * are in bounds, in order, disjoint, rated 1 or 2, and the score is
 * 1 - prod(1 - p) of the reported matches. */
static void test_random_invariants(void) {
    static const char *pieces[] = {"f", "u", "*", "ck", "sh", "1", "t", "a", "$", "s", "@",
                                   "!", "#", " ", "-", "alligator", "bait", "uuu", "\xe2\x80\x99",
                                   "\xff", "\0", "ho", "damn", "class", "\n", "."};
    pst_rng rng;
    pst_rng_seed(&rng, 7);
    char text[400];
    int bad = 0, total = 0;
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = 0;
        int parts = (int)pst_rng_below(&rng, 50);
        for (int k = 0; k < parts; k++) {
            const char *p = pieces[pst_rng_below(&rng, sizeof pieces / sizeof pieces[0])];
            size_t pl = p[0] ? strlen(p) : 1;
            if (len + pl >= sizeof text) break;
            memcpy(text + len, p, pl);
            len += pl;
        }
        pst_toxic_match *m;
        size_t n;
        double score;
        pst_error err;
        if (pst_toxicity_find(T, text, len, &m, &n, &score, &err) < 0) {
            bad++;
            continue;
        }
        total += (int)n;
        double keep = 1;
        for (size_t i = 0; i < n; i++) {
            if (m[i].start >= m[i].end || m[i].end > len || m[i].rating < 1 || m[i].rating > 2) bad++;
            if (i > 0 && m[i].start < m[i - 1].end) bad++;
            keep *= 1 - pst_toxicity_rating_probability(m[i].rating);
        }
        if (fabs(score - (1 - keep)) > 1e-15 || score < 0 || score > 1) bad++;
        free(m);
    }
    CHECK_MSG(bad == 0, "%d invariant violations", bad);
    CHECK(total > 500);
}

int main(void) {
    pst_error err;
    if (pst_toxicity_create(NULL, &T, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_lexicon();
    test_boundaries_and_case();
    test_obfuscations();
    test_multiword_and_score();
    test_bad_input();
    test_scorer();
    test_random_invariants();
    pst_toxicity_free(T);
    return check_report();
}
