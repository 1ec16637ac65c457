/* libFuzzer target: the PII detectors (src/evidence/pii.c): find, redact, and
 * the pii scorer with per-sentence segments and findings. */
#include "fuzz.h"
#include "posterior/pii.h"
#include "posterior/scorer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pst_pii *pii;
    static pst_scorer *scorer;
    pst_error err;
    if (!pii && (pst_pii_create(&pii, &err) || pst_scorer_create("pii", &scorer, &err))) abort();
    const char *text = (const char *)data;
    pst_pii_finding *f = NULL;
    size_t n = 0;
    if (pst_pii_find(pii, text, size, &f, &n, &err)) abort();
    for (size_t i = 0; i < n; i++) /* sorted, merged, inside the text */
        if (f[i].start >= f[i].end || f[i].end > size || (i && f[i].start <= f[i - 1].end)) abort();
    char *red = NULL;
    size_t red_len = 0;
    if (pst_pii_redact(text, size, f, n, &red, &red_len, &err)) abort();
    free(red);
    free(f);
    pst_score_options so = {1, PST_SEGMENT_SENTENCE, 1};
    pst_score r;
    if (pst_scorer_score(scorer, 1, &text, &size, NULL, &so, &r, &err)) abort();
    pst_score_clear(&r);
    return 0;
}
