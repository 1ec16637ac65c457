/* JSON on stdout never holds NaN or infinity (JSON has neither): a number
 * that is not finite is null with a reason. `logprob` and `sample` on a model
 * whose weights hold NaN / Inf printed `nan`; `target estimate` with λ = 1e300
 * printed "z": inf. Each output line must parse as JSON. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_model.h"
#include "posterior/prior.h"
#include "posterior/tokenizer.h"


/* Every line of out parses; returns the first line's object (caller frees). */
static cJSON *parse_lines(const char *what, const char *out) {
    cJSON *first = NULL;
    int lines = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        cJSON *j = cJSON_ParseWithLength(p, n);
        CHECK_MSG(j != NULL, "%s: line %d is not JSON: %.*s", what, lines + 1, (int)(n > 300 ? 300 : n), p);
        if (!first) first = j;
        else cJSON_Delete(j);
        lines++;
        p += n + (nl != NULL);
    }
    CHECK_MSG(lines > 0, "%s: no output", what);
    return first;
}


static void test_logprob_and_sample(const char *model, const char *what) {
    char args[1024], *out;
    snprintf(args, sizeof args, "logprob --model %s --tokens --bos < %s/ids.txt", model, dir);
    CHECK(run(args, &out, 0) == 0);
    cJSON *j = parse_lines(what, out);
    const cJSON *lp = j ? cJSON_GetObjectItem(j, "logprob") : NULL, *why = j ? cJSON_GetObjectItem(j, "reason") : NULL;
    CHECK_MSG(cJSON_IsNull(lp) && cJSON_IsString(why) && strstr(why->valuestring, "not a finite number"),
              "%s: logprob output %s", what, out);
    cJSON_Delete(j);
    free(out);
    snprintf(args, sizeof args, "sample --model %s --n 2 --max-new-tokens 3 --seed 1", model);
    run(args, &out, 0); /* may refuse to sample; whatever it prints must be JSON */
    if (*out) cJSON_Delete(parse_lines(what, out));
    free(out);
}

int main(void) {
    if (cli_init("pst_json_finite")) return 1;
    char nan_model[300], inf_model[300], good[300], spec[300], args[2048], *out;
    snprintf(nan_model, sizeof nan_model, "%s/nan", dir);
    snprintf(inf_model, sizeof inf_model, "%s/inf", dir);
    snprintf(good, sizeof good, "%s/good", dir);
    snprintf(spec, sizeof spec, "%s/t.json", dir);
    snprintf(args, sizeof args, "%s/ids.txt", dir);
    CHECK(pst_write_file_atomic(args, "7 1 2 3\n", 8, &err) == 0);
    make_model(nan_model, NAN);
    make_model(inf_model, INFINITY);
    make_model(good, 0.5f);
    test_logprob_and_sample(nan_model, "NaN weights");
    test_logprob_and_sample(inf_model, "Inf weights");

    /* λ = 1e300: log P(x) = log a(x) + λ·φ(x) overflows; Z is not a number */
    snprintf(args, sizeof args,
             "target init --kind distributional --lambda 1e300 --moments 0.5 --prior %s --out %s 'regex:^[a-m]'", good,
             spec);
    CHECK(run(args, &out, 0) == 0);
    free(out);
    snprintf(args, sizeof args, "target estimate --spec %s --n 50 --max-new-tokens 2 --seed 2", spec);
    run(args, &out, 0);
    cJSON *j = parse_lines("target estimate, lambda 1e300", out);
    const cJSON *z = j ? cJSON_GetObjectItem(j, "z") : NULL, *zr = j ? cJSON_GetObjectItem(j, "z_reason") : NULL;
    CHECK_MSG(cJSON_IsNull(z) && cJSON_IsString(zr), "target estimate: %s", out);
    cJSON_Delete(j);
    free(out);

    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
    return check_report();
}
