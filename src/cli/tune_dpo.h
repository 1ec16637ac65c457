/* posterior tune --method dpo: the DPO family on preference pairs, run from cmd_tune.c's
 * options (the target's prior is the reference; its exact samples, where drawn, measure
 * KL(p||pi)). The loop is pst_dpo_train (include/posterior/preference.h). */
#ifndef POSTERIOR_CLI_TUNE_DPO_H
#define POSTERIOR_CLI_TUNE_DPO_H

#include "cli/args.h"
#include "posterior/dpg.h"
#include "posterior/preference.h"

typedef struct {
    const char *pairs_path; /* --pairs */
    const char *loss;       /* --loss */
    pst_dpo_options o;      /* --label-smoothing, --held-out bound here; the rest copied from tune's */
} pst_tune_dpo;

/* Usage checks (exit code 2 with a message, else 0): --method dpo needs --pairs and no
 * --resume; --pairs, --loss, --label-smoothing, --held-out need --method dpo. β = --kl-coef
 * when given, else 0.1. */
int pst_tune_dpo_check(pst_tune_dpo *d, int is_dpo, const pst_arg *spec, const unsigned char *given, int resume,
                       double kl_coef);
/* The options in run.json. */
void pst_tune_dpo_run_json(const pst_tune_dpo *d, void *run_json);
/* Trains the policy (init, or the target's prior) on the pairs; writes OUT/metrics.jsonl and
 * OUT/model (the policy and the prior's tokenizer). */
int pst_tune_dpo_train(pst_tune_dpo *d, const pst_target_bundle *b, const char *init, const pst_dpg_options *tune,
                       const pst_gpt2_policy_options *po, const pst_reference *ref, const char *out, pst_error *err);

#endif
