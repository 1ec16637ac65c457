/* The option tables (src/cli/args.c) as data:
 *   - an old spelling (target sample --beta, target init --beta) gives the same result as
 *     the new name (--qrs-betas, --kl-beta), and --help names both;
 *   - required options, ranges and allowed words are refused with exit 2 naming the flag;
 *   - a library error about an option field gets its flag appended (eval --n-exact 1);
 *   - tune --resume takes the options saved in OUT/run.json and refuses a conflicting one;
 *   - `eval --task` is still `pretrain eval` (the old spelling), `eval --spec` the target's. */
#include <stdlib.h>
#include <string.h>

#include "cli_model.h"

/* `bin args` exits with code and its output (stdout + stderr) holds needle. */
static void expect(const char *args, int code, const char *needle) {
    char *out;
    int rc = run(args, &out, 1);
    CHECK_MSG(rc == code && strstr(out, needle), "[%s] exit %d (want %d), output '%s' (want '%s')", args, rc, code,
              out, needle);
    free(out);
}

/* stdout of `bin args` (exit 0 checked); malloc'd */
static char *output_of(const char *args) {
    char *out;
    CHECK_MSG(run(args, &out, 0) == 0, "[%s] failed: %s", args, out);
    return out;
}

static char *file_text(const char *path) {
    char *t;
    size_t len;
    if (pst_read_file(path, &t, &len, &err) < 0) return strdup("");
    return t;
}

int main(void) {
    if (cli_init("pst_cli_options")) return 1;
    char model[300], spec[300], args[2048];
    snprintf(model, sizeof model, "%s/prior", dir);
    snprintf(spec, sizeof spec, "%s/t.json", dir);
    make_model(model, 0.5f);
    snprintf(args, sizeof args, "target init --prior %s --out %s 'regex:^[a-m]'", model, spec);
    free(output_of(args));

    /* old spelling == new name: qrs samples and their statistics */
    const char *qrs = "target sample --spec %s --sampler qrs --n 5 --max-new-tokens 2 --seed 3 %s 0.5,1";
    snprintf(args, sizeof args, qrs, spec, "--qrs-betas");
    char *a = output_of(args);
    snprintf(args, sizeof args, qrs, spec, "--beta");
    char *b = output_of(args);
    CHECK_MSG(a[0] && strcmp(a, b) == 0, "--qrs-betas: '%s'\n--beta: '%s'", a, b);
    free(a), free(b);
    /* ... and a klrl spec written with --kl-beta or --beta */
    char s1[300], s2[300];
    snprintf(s1, sizeof s1, "%s/k1.json", dir);
    snprintf(s2, sizeof s2, "%s/k2.json", dir);
    snprintf(args, sizeof args, "target init --kind klrl --kl-beta 0.25 --prior %s --out %s 'regex:^[a-m]'", model, s1);
    free(output_of(args));
    snprintf(args, sizeof args, "target init --kind klrl --beta 0.25 --prior %s --out %s 'regex:^[a-m]'", model, s2);
    free(output_of(args));
    a = file_text(s1), b = file_text(s2);
    CHECK_MSG(strstr(a, "0.25") && strcmp(a, b) == 0, "--kl-beta: '%s'\n--beta: '%s'", a, b);
    free(a), free(b);
    expect("target sample --help", 0, "--qrs-betas");
    expect("target sample --help", 0, "old spelling: --beta");
    expect("pretrain --help", 0, "--rwr-beta");
    expect("pretrain eval --help", 0, "--reference-model");

    /* required, ranges, words: exit 2 naming the flag */
    snprintf(args, sizeof args, "eval --spec %s", spec);
    expect(args, 2, "--model is required");
    snprintf(args, sizeof args, "sample --model %s --batch 0", model);
    expect(args, 2, "--batch: must be at least 1, got 0");
    snprintf(args, sizeof args, "target sample --spec %s --sampler mcmc", spec);
    expect(args, 2, "--sampler: unknown value 'mcmc' (one of: rs|qrs|imh)");
    snprintf(args, sizeof args, "sample --model %s stray", model);
    expect(args, 2, "unexpected argument 'stray'");
    expect("eval --nope 1", 2, "unknown option '--nope'");

    /* the library names the field, the CLI adds the flag */
    snprintf(args, sizeof args, "eval --model %s --spec %s --n-exact 1", model, spec);
    expect(args, 1, "n_exact is 1; exact samples must be 0 or at least 2 (--n-exact)");

    /* eval: the target's with --spec; the old spelling of pretrain eval with --task */
    expect("eval --task nosuchtask --model /nonexistent", 1, "unknown task 'nosuchtask'");

    /* tune --resume: run.json's options, a conflicting one refused (a target most samples meet) */
    char out_dir[300], p1[400], p2[400];
    snprintf(args, sizeof args, "target init --prior %s --out %s 'not:regex:QQQ'", model, spec);
    free(output_of(args));
    snprintf(out_dir, sizeof out_dir, "%s/run", dir);
    snprintf(args, sizeof args, "tune --spec %s --out %s --steps 2 --batch 4 --max-new-tokens 2 --n-exact 0 "
                                "--temperature 0.5 --lr 0.002 --checkpoint-every 1 --quiet", spec, out_dir);
    free(output_of(args));
    snprintf(args, sizeof args, "tune --spec %s --out %s --steps 3 --resume --lr 0.003 --quiet", spec, out_dir);
    expect(args, 2, "--lr differs from the run being resumed");
    snprintf(args, sizeof args, "tune --spec %s --out %s --steps 3 --resume --quiet --lr 0.002", spec, out_dir);
    free(output_of(args));
    snprintf(p1, sizeof p1, "%s/run.json", out_dir);
    snprintf(p2, sizeof p2, "%s/run.resumed.json", out_dir);
    a = file_text(p1), b = file_text(p2);
    CHECK_MSG(strstr(b, "\"temperature\":\t0.5") && strstr(b, "\"batch\":\t4") && strstr(b, "\"steps\":\t3") &&
                  strstr(a, "\"steps\":\t2"),
              "run.json '%s'\nrun.resumed.json '%s'", a, b);
    free(a), free(b);

    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    CHECK(system(args) == 0);
    return check_report();
}
