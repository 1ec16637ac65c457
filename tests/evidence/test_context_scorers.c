/* Context-aware evidence b(x, c) (src/evidence/context.c) on hand-made cases: numbers-copied,
 * entities-from-context[:K], pep8-clean; products with context-free scorers; the errors
 * for a missing context and a malformed K. Each expected value follows from the
 * definitions at the top of context.c. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "posterior/scorer.h"

/* b(x, c) through the public fast path (log b) and the full path (score); -1 on error */
static double b_of(const char *spec, const char *x, const char *c) {
    pst_scorer *s;
    pst_error err;
    if (pst_scorer_create(spec, &s, &err) < 0) {
        fprintf(stderr, "create %s: %s\n", spec, err.msg);
        return -1;
    }
    double lb = NAN;
    pst_score full;
    int rc = pst_scorer_log_b(s, 1, &x, NULL, &c, &lb, &err);
    if (rc == 0) rc = pst_scorer_score(s, 1, &x, NULL, &c, NULL, &full, &err);
    pst_scorer_free(s);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", spec, err.msg);
        return -1;
    }
    double b = full.score;
    pst_score_clear(&full);
    CHECK_MSG(lb == (b > 0 ? 0.0 : -INFINITY), "%s: log b %g for b %g", spec, lb, b);
    return b;
}

static void test_numbers_copied(void) {
    const char *spec = "numbers-copied";
    CHECK(b_of(spec, "Il a 3 chats et 12 chiens.", "He has three cats and 12 dogs.") == 1);
    CHECK(b_of(spec, "Il a trois chats et 12 chiens.", "He has three cats and 12 dogs.") == 0); /* 3 as a word */
    CHECK(b_of(spec, "Il a 3 chats.", "He has three cats and 12 dogs.") == 0);                  /* 12 dropped */
    CHECK(b_of(spec, "Rien.", "No number at all.") == 1);                                        /* vacuous */
    CHECK(b_of(spec, "1000 personnes", "1,000 people") == 1);  /* thousands comma dropped */
    CHECK(b_of(spec, "1,000 personnes", "1000 people") == 1);
    CHECK(b_of(spec, "3,5 pour cent", "3.5 percent") == 0);    /* 3.5 is not 3 and 5 */
    CHECK(b_of(spec, "3.5 pour cent", "3.5 percent") == 1);
    CHECK(b_of(spec, "en 2010.", "In 2010, TEN men came.") == 0); /* ten → 10 is missing */
    CHECK(b_of(spec, "en 2010, 10 hommes", "In 2010, TEN men came.") == 1);
    CHECK(b_of(spec, "les 3es", "three") == 0);                 /* "3es" is not the number 3 */
    CHECK(b_of(spec, "123", "12") == 0);                        /* whole numbers, not substrings */
    CHECK(b_of(spec, "It is done", "") == 1);                   /* an empty context */
}

static void test_entities(void) {
    const char *src = "Senator Jones met the mayor of Paris on 14 March; 300 people came.";
    CHECK(b_of("entities-from-context", "The meeting in Paris drew 300 people.", src) == 1);
    CHECK(b_of("entities-from-context", "The meeting in London drew 300 people.", src) == 0); /* London */
    CHECK(b_of("entities-from-context", "The meeting in Paris drew 400 people.", src) == 0);  /* 400 */
    CHECK(b_of("entities-from-context", "the meeting was short.", src) == 0);                 /* K = 1: none */
    CHECK(b_of("entities-from-context:0", "the meeting was short.", src) == 1);
    /* a capitalised word that starts a sentence is not an entity, and neither is "I" */
    CHECK(b_of("entities-from-context", "Yesterday I saw Jones. Then Paris.", src) == 1);
    CHECK(b_of("entities-from-context:2", "It was Jones in Paris.", src) == 1);
    CHECK(b_of("entities-from-context:3", "It was Jones in Paris.", src) == 0);
    CHECK(b_of("entities-from-context", "It was Jon in Paris.", src) == 0); /* a word, not a prefix */
}

static void test_pep8_clean(void) {
    const char *sig = "def area(width, height):\n    \"\"\"Return the area.\"\"\"\n";
    CHECK(b_of("pep8-clean", "    return width * height\n", sig) == 1);
    CHECK(b_of("pep8-clean", "    return width * height", sig) == 1); /* no final newline: not counted */
    CHECK(b_of("pep8-clean", "    return width*height  \n", sig) == 0); /* W291 on x's line */
    CHECK(b_of("pep8-clean", "  return width * height\n", sig) == 0);   /* E111 */
    /* a finding on the context's own lines is not the continuation's */
    const char *bad_sig = "def area(width,height):\n    \"\"\"Return the area.\"\"\"\n";
    CHECK(b_of("pep8-clean", "    return width * height\n", bad_sig) == 1);
    CHECK(b_of("below:1e-9:pep8", "def area(width,height):\n    return 1\n", "") == 0); /* the finding exists */
    /* x continuing the context's last line shares it */
    CHECK(b_of("pep8-clean", "height):\n    return 1\n", "def area(width,") == 0);
    CHECK(b_of("pep8-clean", " height):\n    return 1\n", "def area(width,") == 1);
}

static void test_products_and_errors(void) {
    CHECK(b_of("numbers-copied&contains:chats", "3 chats", "three cats") == 1);
    CHECK(b_of("numbers-copied&contains:chiens", "3 chats", "three cats") == 0);
    /* without contexts: an error naming the text, not a silent b */
    pst_scorer *s;
    pst_error err;
    CHECK(pst_scorer_create("numbers-copied", &s, &err) == 0);
    const char *x = "3 chats";
    double lb;
    CHECK(pst_scorer_log_b(s, 1, &x, NULL, NULL, &lb, &err) < 0 && strstr(err.msg, "text 0 has no context"));
    const char *none = NULL;
    CHECK(pst_scorer_log_b(s, 1, &x, NULL, &none, &lb, &err) < 0 && strstr(err.msg, "no context"));
    pst_scorer_free(s);
    for (const char *const *bad = (const char *const[]){"entities-from-context:", "entities-from-context:x",
                                                       "entities-from-context:-1", "entities-from-context:2000", NULL};
         *bad; bad++) {
        s = NULL;
        CHECK_MSG(pst_scorer_create(*bad, &s, &err) < 0 && strstr(err.msg, "whole number"), "%s: %s", *bad,
                  err.msg);
        pst_scorer_free(s);
    }
    CHECK(pst_scorer_create("numbers-copiedx", &s, &err) < 0 && strstr(err.msg, "unknown spec"));
    CHECK(pst_scorer_create("entities-from-contextual", &s, &err) < 0 && strstr(err.msg, "unknown spec"));
}

int main(void) {
    test_numbers_copied();
    test_entities();
    test_pep8_clean();
    test_products_and_errors();
    return check_report();
}
