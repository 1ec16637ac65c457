/* The pep8 scorer's findings on one long line: (row, col) -> byte spans in
 * one sweep. Walking from the line start for every finding was quadratic: a
 * 2 MB line with 290,000 findings took minutes (CTest's TIMEOUT for this test,
 * set in CMakeLists.txt, is 120 s; linear, it takes about a second). Each
 * E702 span must be the ';' it points at, past multi-byte characters. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "posterior/scorer.h"

int main(void) {
    const char *stmt = "x = '\xc3\xa9'; "; /* x = 'é'; -- 10 bytes, 9 characters */
    size_t reps = 200000, sl = strlen(stmt), len = reps * sl + 1;
    char *text = malloc(len + 1);
    for (size_t i = 0; i < reps; i++) memcpy(text + i * sl, stmt, sl);
    text[len - 1] = '\n';
    text[len] = 0;
    pst_scorer *s;
    pst_error err = {0};
    CHECK(pst_scorer_create("pep8", &s, &err) == 0);
    pst_score_options opt = {.findings = 1};
    pst_score r;
    const char *texts[1] = {text};
    CHECK_MSG(pst_scorer_score(s, 1, texts, &len, NULL, &opt, &r, &err) == 0, "%s", err.msg);
    size_t n702 = 0, bad = 0;
    for (size_t i = 0; i < r.n_findings; i++) {
        const pst_finding *f = &r.findings[i];
        if (strcmp(f->type, "E702") != 0) continue;
        n702++;
        bad += !(f->end == f->start + 1 && f->start < len && text[f->start] == ';' &&
                 (f->start + 1) % sl == sl - 1);
    }
    /* every ';' but the last (a trailing ';' is E703) */
    CHECK_MSG(n702 == reps - 1, "%zu E702 findings, want %zu", n702, reps - 1);
    CHECK_MSG(bad == 0, "%zu E702 spans are not their ';'", bad);
    pst_score_clear(&r);
    pst_scorer_free(s);
    free(text);
    return check_report();
}
