/* libFuzzer target: `posterior score --jsonl` input, one {"text", "context"}
 * object per line (score_jsonl in src/cli/cmd_score.c, included here as the
 * CLI is no library), scored by the pii scorer with sentence segments and
 * findings. Every line it prints must be valid JSON. */
#include "../../src/cli/args.c"
#include "../../src/cli/cmd_score.c"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pst_scorer *sc;
    pst_error err;
    if (!sc && pst_scorer_create("pii", &sc, &err)) abort();
    char *text = fuzz_cstr((const char *)data, size), *out = NULL;
    size_t out_len = 0;
    FILE *saved = stdout, *mem = open_memstream(&out, &out_len);
    if (!mem) abort();
    stdout = mem; /* glibc: stdout is a variable */
    pst_score_options opt = {1, PST_SEGMENT_SENTENCE, 1};
    FILE *err_saved = stderr; /* the error message for a bad line is expected */
    stderr = fopen("/dev/null", "w");
    score_jsonl(sc, "in.jsonl", text, size, &opt, 2, 1);
    fclose(stderr);
    stderr = err_saved;
    fclose(mem);
    stdout = saved;
    for (char *line = out, *nl; line && (nl = strchr(line, '\n')); line = nl + 1) {
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(nl - line));
        if (!j) {
            fprintf(stderr, "invalid JSON output: %.*s\n", (int)(nl - line), line);
            abort();
        }
        cJSON_Delete(j);
    }
    free(out);
    free(text);
    return 0;
}
