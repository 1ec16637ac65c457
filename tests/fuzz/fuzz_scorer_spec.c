/* libFuzzer target: scorer specs (src/evidence/scorer.c, pointwise.c).
 * Input: SPEC [%% TEXT [%% FEATURES-FILE]]. The features file is written in the
 * fuzz folder, and "features:" in SPEC is read as "features:FUZZ-FOLDER/", so
 * features:f reads it. Inputs
 * naming external: are skipped: spawning processes is not what is fuzzed here
 * (fuzz_external covers the protocol). A spec that parses is used to score TEXT. */
#include "fuzz.h"
#include "posterior/scorer.h"

/* spec[0, len) with "features:" replaced by "features:FUZZ-FOLDER/"; malloc'd. */
static char *with_dir(const char *spec, size_t len) {
    const char *key = "features:", *dir = fuzz_dir();
    size_t kl = strlen(key), dl = strlen(dir), n = 0;
    char *out = malloc(len * (dl + 2) + 1); /* ample: each byte grows at most dl + 1 */
    if (!out) abort();
    for (size_t i = 0; i < len;) {
        if (len - i >= kl && memcmp(spec + i, key, kl) == 0) {
            n += (size_t)sprintf(out + n, "%s%s/", key, dir);
            i += kl;
        } else
            out[n++] = spec[i++];
    }
    out[n] = 0;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (memmem(data, size, "external", 8)) return 0;
    fuzz_parts p = fuzz_split(data, size);
    fuzz_part_file(&p, 2, "f");
    char *spec = with_dir(p.data[0], p.len[0]);
    pst_scorer *s = NULL;
    pst_error err;
    if (pst_scorer_create(spec, &s, &err) == 0) {
        const char *text = p.n > 1 ? p.data[1] : "";
        size_t len = p.n > 1 ? p.len[1] : 0;
        pst_score_options so = {1, PST_SEGMENT_SENTENCE, 1};
        pst_score r;
        if (pst_scorer_score(s, 1, &text, &len, NULL, &so, &r, &err) == 0) pst_score_clear(&r);
        for (size_t i = 0; i < pst_scorer_n_features(s); i++)
            if (!pst_scorer_feature_name(s, i)) abort();
        pst_scorer_free(s);
    }
    free(spec);
    return 0;
}
