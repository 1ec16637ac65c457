/* libFuzzer target: target specs (pst_target_spec_parse, src/target/spec.c).
 * A spec that parses must print to JSON that parses again to the same spec
 * (lambda and moments only count for distributional targets: the others ignore
 * them and do not print them). */
#include "fuzz.h"
#include "posterior/target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = fuzz_cstr((const char *)data, size);
    pst_target_spec spec, again;
    pst_error err;
    if (pst_target_spec_parse(json, "fuzz.json", 0, &spec, &err) == 0) {
        char *out = pst_target_spec_to_json(&spec, &err);
        if (!out || pst_target_spec_parse(out, "printed", 0, &again, &err)) {
            fprintf(stderr, "printed spec does not parse: %s\n%s\n", err.msg, out ? out : "");
            abort();
        }
        int distributional = spec.kind == PST_TARGET_DISTRIBUTIONAL;
        if (again.kind != spec.kind || again.n_scorers != spec.n_scorers ||
            strcmp(again.prior, spec.prior) != 0 || again.beta != spec.beta ||
            again.conditional != spec.conditional ||
            (distributional && (again.n_features != spec.n_features ||
                                again.has_lambda != spec.has_lambda ||
                                memcmp(again.moments, spec.moments, sizeof spec.moments) != 0 ||
                                memcmp(again.lambda, spec.lambda, sizeof spec.lambda) != 0))) {
            fprintf(stderr, "printed spec differs from the parsed one:\n%s\n", out);
            abort();
        }
        pst_target_spec_free(&again);
        pst_target_spec_free(&spec);
        free(out);
    }
    free(json);
    return 0;
}
