/* posterior pairs make: preference pairs sampled from a model and labelled by an oracle scorer,
 * with known label noise (include/posterior/preference.h, pst_pairs_make). Writes the pairs
 * file (docs/formats.md) and OUT.meta.json: the oracle, the noise and the accuracy a model
 * that knew the oracle would reach on these labels. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "posterior/preference.h"

static const char pairs_make_summary[] =
    "Samples two continuations of each prompt (--prompts, one per line, used in turn; none:\n"
    "unconditional) from --model, reading <|endoftext|> + prompt, and labels them with the\n"
    "oracle --scorer: the higher score is chosen (--prefer low: the lower; equal scores: a\n"
    "tie), or with --noise T > 0 the first is chosen with probability\n"
    "sigmoid((s1 - s2)/T) (Bradley-Terry with temperature T, so the label noise is known).\n"
    "Writes --out (JSON lines: prompt, chosen, rejected, tie) and OUT.meta.json with the\n"
    "oracle's achievable accuracy on these labels: 1 without noise, mean sigmoid(|s1 - s2|/T)\n"
    "with it. Empty or identical continuations are resampled.";

/* {"model", "oracle", ..., "achievable_accuracy"} into path, atomically; also printed */
static int write_meta(const char *out, const char *model, const char *scorer, const pst_pairs_make_options *o,
                      uint64_t seed, const pst_pairs_make_stats *st, pst_error *err) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s.meta.json", out) >= (int)sizeof path) return pst_fail(err, "%s: path too long", out);
    cJSON *j = cJSON_CreateObject();
    if (!j) return pst_fail_oom(err, path);
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "oracle", scorer);
    cJSON_AddStringToObject(j, "prefer", o->prefer_low ? "low" : "high");
    cJSON_AddNumberToObject(j, "noise", o->noise);
    cJSON_AddNumberToObject(j, "seed", (double)seed);
    cJSON_AddNumberToObject(j, "pairs", st->n);
    cJSON_AddNumberToObject(j, "ties", st->ties);
    cJSON_AddNumberToObject(j, "discarded", st->discarded);
    cJSON_AddNumberToObject(j, "achievable_accuracy", st->achievable_accuracy);
    cJSON_AddNumberToObject(j, "mean_abs_gap", st->mean_abs_gap);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return pst_fail_oom(err, path);
    size_t n = strlen(text);
    printf("%s\n", text);
    text[n] = '\n';
    int rc = pst_write_file_atomic(path, text, n + 1, err);
    free(text);
    return rc;
}

/* the non-empty lines of path, in *lines (pointing into *buf) */
static int read_lines(const char *path, char **buf, char ***lines, int *n, pst_error *err) {
    size_t len;
    *lines = NULL, *n = 0;
    if (pst_read_file(path, buf, &len, err) < 0) return -1;
    size_t cap = 1;
    for (size_t i = 0; i < len; i++) cap += (*buf)[i] == '\n';
    *lines = pst_calloc(cap, sizeof **lines, err);
    if (!*lines) return -1;
    char *save = NULL;
    for (char *l = strtok_r(*buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (*l) (*lines)[(*n)++] = l;
    return *n ? 0 : pst_fail(err, "%s: no prompt (the file has no non-empty line)", path);
}

static int pairs_make(int argc, char **argv) {
    const char *model = NULL, *scorer = NULL, *out = NULL, *prompts_path = NULL, *prefer = "high";
    uint64_t seed = 1;
    pst_pairs_make_options o;
    pst_pairs_make_options_default(&o);
    o.sampling.max_new_tokens = 32;
    const pst_arg spec[] = {
        PST_ARGS_MODEL(model, .required = 1),
        ARG("scorer", ARG_STRING, &scorer, "the oracle: a scorer spec (pep8, pii, rm:DIR, ...)", .required = 1),
        ARG("n", ARG_INT, &o.n, "pairs", .range = "1.."),
        ARG("noise", ARG_DOUBLE, &o.noise, "Bradley-Terry temperature T of the labels (0: deterministic)",
            .range = "0.."),
        ARG("prefer", ARG_STRING, &prefer, "which oracle score wins: high (a reward) or low (a cost: pep8, pii, toxicity)",
            .choices = "high|low"),
        ARG("prompts", ARG_STRING, &prompts_path, "prompts, one per line, used in turn (default: unconditional)"),
        ARG("out", ARG_STRING, &out, "pairs file written (+ OUT.meta.json)", .required = 1),
        PST_ARGS_SAMPLING(o.sampling),
        PST_ARGS_SEED(seed),
        {0},
    };
    int rc = pst_args_parse("pairs make", pairs_make_summary, spec, argc, argv, NULL);
    if (rc != PST_ARGS_RUN) return rc;
    o.prefer_low = strcmp(prefer, "low") == 0;
    pst_error err = {0};
    pst_gpt2 m = {0};
    pst_tokenizer *tok = NULL;
    pst_scorer *oracle = NULL;
    pst_pair *pairs = NULL;
    char *buf = NULL, **prompts = NULL;
    int n_prompts = 0;
    pst_pairs_make_stats st = {0};
    pst_rng rng;
    pst_rng_seed(&rng, seed);
    rc = 1;
    if ((prompts_path && read_lines(prompts_path, &buf, &prompts, &n_prompts, &err) < 0) ||
        pst_gpt2_load(&m, model, &err) < 0 || pst_tokenizer_load_dir(&tok, model, &err) < 0 ||
        pst_scorer_create(scorer, &oracle, &err) < 0)
        goto done;
    o.sampling.eot_token = pst_tokenizer_token_id(tok, "<|endoftext|>");
    if (pst_pairs_make(&m, tok, oracle, (const char *const *)prompts, n_prompts, &o, &rng, &pairs, &st, &err) < 0 ||
        pst_pairs_write(out, pairs, (size_t)st.n, &err) < 0 || write_meta(out, model, scorer, &o, seed, &st, &err) < 0)
        goto done;
    rc = 0;
done:
    if (rc) pst_cli_fail("pairs make", spec, &err);
    if (pairs) {
        pst_pair_set s = {pairs, (size_t)st.n, 0, NULL};
        pst_pair_set_free(&s);
    }
    pst_scorer_free(oracle);
    if (tok) pst_tokenizer_free(tok);
    pst_gpt2_free(&m);
    free(prompts), free(buf);
    return rc;
}

int cmd_pairs(int argc, char **argv) {
    const pst_subcommand subs[] = {{"make", pairs_make}, {0}};
    return pst_subcommand_run("pairs",
                              "usage: posterior pairs make [options]   (--help on each)\n\n"
                              "Preference pairs (JSON lines: prompt, chosen, rejected, tie):\n"
                              "  make      sample two continuations per prompt, label them by an oracle scorer\n",
                              subs, argc, argv);
}
