/* posterior tune / eval / target init with contexts (a prompts file) on a tiny byte-level
 * GPT-2 (16 positions), and their bad input:
 *   - contexts whose Ẑ_c stays 0 (numbers-copied with a context whose two numbers cannot
 *     fit in 3 new bytes): the run finishes (exit 0), the warning names their lines (the
 *     first 5, then "and N more"), the stdout summary and every metrics line count them;
 *     eval --prompts names them too;
 *   - REINFORCE's metrics carry the policy's entropy and mean length;
 *   - an empty context line, a context longer than n_positions − --max-new-tokens: an error
 *     naming the file and line, exit 1, no run folder;
 *   - a context-aware scorer without contexts (target init without --conditional, tune and
 *     eval without --prompts): a clear error, nothing written;
 *   - --resume without --spec or --prompts (read from OUT/run.json); a conflicting one refused. */
#include "cli/cli_model.h"

#include <math.h>
#include <stdio.h>

static void write_text(const char *path, const char *text) {
    CHECK_MSG(pst_write_file_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
}

/* The number after "key": on each line of a metrics file into v[] (NAN where absent); returns the lines. */
static int metric_values(const char *path, const char *key, double *v, int cap) {
    char *text = NULL, pat[64];
    size_t len;
    if (pst_read_file(path, &text, &len, &err) < 0) return 0;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    int n = 0;
    for (char *line = text; line && *line && n < cap; n++) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        const char *k = strstr(line, pat);
        v[n] = k ? atof(k + strlen(pat)) : NAN;
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

/* Bad input: exit code `code`, the message holds each needle, the folder `absent` not made. */
static void refused(const char *args, int code, const char *n1, const char *n2, const char *absent) {
    char *out = NULL;
    int rc = run(args, &out, 1);
    CHECK_MSG(rc == code, "'%s': exit %d (want %d): %s", args, rc, code, out);
    CHECK_MSG(strstr(out, n1) && (!n2 || strstr(out, n2)), "'%s': want '%s' / '%s' in: %s", args, n1, n2 ? n2 : "",
              out);
    CHECK_MSG(!absent || !pst_file_exists(absent), "'%s' wrote %s", args, absent);
    free(out);
}

int main(void) {
    if (cli_init("pst_tune_ctx_cli") < 0) return 1;
    char model[300], spec[300], uspec[300], prompts[300], args[2048], path[600], bad[300];
    char *out = NULL;
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(spec, sizeof spec, "%s/t.json", dir);
    snprintf(uspec, sizeof uspec, "%s/u.json", dir);
    snprintf(prompts, sizeof prompts, "%s/prompts.txt", dir);
    make_model(model, 0.5f);

    /* a context-aware scorer in a target that is not conditional: refused, no spec written */
    snprintf(args, sizeof args, "target init --kind pointwise --prior %s --out %s numbers-copied", model, uspec);
    refused(args, 1, "numbers-copied", "conditional", uspec);
    snprintf(args, sizeof args, "target init --kind pointwise --conditional --prior %s --out %s numbers-copied", model,
             spec);
    CHECK(run(args, &out, 1) == 0);
    free(out);

    /* lines 2, 4, 5, 6, 7, 8: two 3-digit numbers cannot both appear in 3 new bytes (Z_c = 0);
     * lines 1 and 3 hold no number (b = 1 for every continuation) */
    write_text(prompts, "ab\nx 111 222\ncd\ny 333 444\nz 555 666\nw 777 888\nv 121 343\nu 565 787\n");
    const char *common = "--steps 3 --batch 8 --max-new-tokens 3 --quiet --n-exact 0 --lr 1e-3 --checkpoint-every 1";
    snprintf(args, sizeof args, "tune --spec %s --prompts %s --out %s/r1 %s 2>%s/err.txt", spec, prompts, dir, common,
             dir);
    int rc = run(args, &out, 0);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    CHECK_MSG(strstr(out, "\"zero_z_contexts\": 6") && strstr(out, "\"zero_z_lines\": [2, 4, 5, 6, 7, 8]") &&
                  strstr(out, "\"n_contexts\": 8") && strstr(out, "\"undrawn_contexts\": 0"),
              "summary: %s", out);
    free(out);
    char *errtext = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/err.txt", dir);
    CHECK(pst_read_file(path, &errtext, &len, &err) == 0);
    CHECK_MSG(errtext && strstr(errtext, "warning: 6 of 8 contexts never had a sample with P(x) > 0") &&
                  strstr(errtext, "prompts.txt lines 2, 4, 5, 6, 7 and 1 more"),
              "%s", errtext ? errtext : "");
    free(errtext);
    snprintf(path, sizeof path, "%s/r1/metrics.jsonl", dir);
    double v[16];
    int n = metric_values(path, "zero_z_contexts", v, 16);
    CHECK(n == 3);
    for (int i = 0; i < n; i++) CHECK_MSG(v[i] == 6, "step %d: zero_z_contexts %g", i + 1, v[i]);

    /* --resume without --spec and --prompts: both from OUT/run.json */
    snprintf(args, sizeof args, "tune --out %s/r1 --resume --steps 4", dir);
    rc = run(args, &out, 1);
    CHECK_MSG(rc == 0 && strstr(out, "\"zero_z_lines\": [2, 4, 5, 6, 7, 8]"), "exit %d: %s", rc, out);
    free(out);
    CHECK(lines_of(path) == 4);
    /* a conflicting --prompts or --spec: refused, the run untouched */
    snprintf(bad, sizeof bad, "%s/other.txt", dir);
    write_text(bad, "ab\n");
    snprintf(args, sizeof args, "tune --out %s/r1 --resume --steps 5 --prompts %s", dir, bad);
    refused(args, 2, "--prompts differs from the run being resumed", NULL, NULL);
    snprintf(args, sizeof args, "tune --out %s/r1 --resume --steps 5 --spec %s", dir, uspec);
    refused(args, 2, "--spec differs from the run being resumed", NULL, NULL);
    CHECK(lines_of(path) == 4);
    snprintf(args, sizeof args, "tune --out %s/nothing --resume --steps 5", dir);
    refused(args, 2, "--spec is required", NULL, NULL);

    /* REINFORCE (q = π): entropy (per token) and mean length on every metrics line */
    snprintf(args, sizeof args, "tune --method reinforce --spec %s --prompts %s --out %s/r2 %s --warmup 2", spec,
             prompts, dir, common);
    rc = run(args, &out, 1);
    CHECK_MSG(rc == 0 && strstr(out, "warning: 6 of 8 contexts"), "exit %d: %s", rc, out);
    free(out);
    snprintf(path, sizeof path, "%s/r2/metrics.jsonl", dir);
    double h[16], l[16], d2[16];
    CHECK(metric_values(path, "entropy", h, 16) == 3 && metric_values(path, "mean_length", l, 16) == 3);
    CHECK(metric_values(path, "distinct_2", d2, 16) == 3);
    double lr[16]; /* --warmup 2: 1e-3 · 1/2, 1e-3 · 2/2, then the cosine, which starts at 1e-3 */
    CHECK(metric_values(path, "lr", lr, 16) == 3);
    CHECK_MSG(fabs(lr[0] - 0.5e-3) < 1e-9 && fabs(lr[1] - 1e-3) < 1e-9 && fabs(lr[2] - 1e-3) < 1e-9,
              "lr %g %g %g", lr[0], lr[1], lr[2]);
    /* a random 1-layer model over 257 byte tokens: −log π per token near log 257 = 5.55 */
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(isfinite(h[i]) && h[i] > 3 && h[i] < 8, "entropy %g", h[i]);
        CHECK_MSG(l[i] >= 1 && l[i] <= 3, "mean_length %g", l[i]);
        CHECK_MSG(d2[i] >= 0 && d2[i] <= 1, "distinct_2 %g", d2[i]);
    }

    /* eval --prompts names the contexts whose Z_c estimate is 0 */
    snprintf(args, sizeof args, "eval --model %s --spec %s --prompts %s --n 8 --n-exact 0 --max-new-tokens 3", model,
             spec, prompts);
    rc = run(args, &out, 1);
    CHECK_MSG(rc == 0 && strstr(out, "warning: 6 of 8 contexts had no sample with P(x) > 0") &&
                  strstr(out, "prompts.txt lines 2, 4, 5, 6, 7 and 1 more") &&
                  strstr(out, "\"zero_z_lines\": [2, 4, 5, 6, 7, 8]"),
              "exit %d: %s", rc, out);
    free(out);

    /* an empty context line, an over-long one (13 byte tokens + 4 new > 16 positions) */
    snprintf(bad, sizeof bad, "%s/bad.txt", dir);
    write_text(bad, "ab\n\ncd\n");
    snprintf(args, sizeof args, "tune --spec %s --prompts %s --out %s/b1 %s", spec, bad, dir, common);
    snprintf(path, sizeof path, "%s/b1", dir);
    refused(args, 1, "bad.txt:2: empty prompt", NULL, path);
    write_text(bad, "ab\ncd\nabcdefghijklm\n");
    snprintf(args, sizeof args, "tune --spec %s --prompts %s --out %s/b1 %s --max-new-tokens 4", spec, bad, dir,
             common);
    refused(args, 1, "bad.txt:3: the context has 13 tokens", "at most 12 tokens per context", path);
    snprintf(args, sizeof args, "tune --spec %s --prompts %s --out %s/b1 %s --max-new-tokens 3", spec, bad, dir,
             common);
    rc = run(args, &out, 1); /* 13 + 3 fits */
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    free(out);
    snprintf(args, sizeof args, "eval --model %s --spec %s --prompts %s --n 4 --n-exact 0 --max-new-tokens 4", model,
             spec, bad);
    refused(args, 1, "bad.txt:3", "context window", NULL);
    write_text(bad, "ab\n\ncd\n");
    refused(args, 1, "bad.txt:2: empty prompt", NULL, NULL);

    /* a context-aware scorer with no contexts */
    snprintf(args, sizeof args, "tune --spec %s --out %s/b2 %s", spec, dir, common);
    snprintf(path, sizeof path, "%s/b2", dir);
    refused(args, 1, "numbers-copied", "--prompts", path);
    snprintf(args, sizeof args, "eval --model %s --spec %s --n 4 --n-exact 0", model, spec);
    refused(args, 1, "numbers-copied", "--prompts", NULL);

    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
    return check_report();
}
