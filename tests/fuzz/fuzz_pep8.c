/* libFuzzer target: the Python tokenizer + PEP8 checker (src/evidence/pep8*.c)
 * on one source file, directly and through the pep8 scorer with per-line
 * segments and findings (src/evidence/scorer.c maps findings to segments). */
#include "fuzz.h"
#include "posterior/pep8.h"
#include "posterior/scorer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pst_scorer *scorer;
    pst_error err;
    if (!scorer && pst_scorer_create("pep8", &scorer, &err)) abort();
    pst_pep8_options o;
    pst_pep8_options_default(&o);
    o.max_doc_length = 72; /* W505 on, too */
    pst_pep8_finding *f = NULL;
    size_t n = 0;
    if (pst_pep8_check((const char *)data, size, &o, &f, &n, &err)) abort(); /* only OOM fails */
    pst_pep8_findings_free(f, n);
    const char *text = (const char *)data;
    pst_score_options so = {1, PST_SEGMENT_LINE, 1};
    pst_score r;
    if (pst_scorer_score(scorer, 1, &text, &size, NULL, &so, &r, &err)) abort();
    pst_score_clear(&r);
    return 0;
}
