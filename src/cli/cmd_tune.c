/* posterior tune --method dpg|reinforce|rloo|grpo|ppo: train a policy toward a target's posterior
 * p = P/Z (the DPG family) or by KL-regularised RL on a reward from the target.
 *
 * The run directory OUT gets: run.json (the full configuration and target spec),
 * metrics.jsonl (one line per step), checkpoints/ (latest checkpoint, for --resume)
 * and model/ (the final policy, a model directory with the prior's tokenizer). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/ranks.h"
#include "cli/tune_contexts.h"
#include "cli/tune_dpo.h"
#include "posterior/comm.h"
#include "posterior/dpg.h"
#include "posterior/rl.h"
#include "posterior/target.h"

/* The run's exact samples of p: --reference; else n drawn now (their own random stream;
 * *drawn = 1: to keep in OUT/reference.jsonl, which a resumed run loads again). None (with a note)
 * when p has no rejection envelope, n is 0, or the run has several contexts. */
static int open_reference(const pst_target_bundle *b, const char *path, int n, int max_new, const pst_seq *contexts,
                          int n_ctx, long max_proposals, int batch, uint64_t seed, const char *out, int resume,
                          const pst_comm *w, pst_reference *ref, int *drawn, pst_error *err) {
    int say = w->rank == 0;
    double log_m;
    char own[4096];
    if (n_ctx > 1 || (!path && (n == 0 || !pst_target_log_envelope(&b->target, &log_m)))) {
        if (say)
            fprintf(stderr, "posterior tune: note: no exact samples of p (%s); KL(p||pi) is only importance-sampled and "
                        "proposal swaps use per-batch estimates\n",
                n_ctx > 1 ? "several contexts" : n == 0 ? "--n-exact 0" : "no rejection envelope for this target");
        return 0;
    }
    if (pst_path_join(own, sizeof own, out, "reference.jsonl", err) < 0) return -1;
    if (!path && resume && pst_file_exists(own)) path = own;
    *drawn = !path;
    pst_exact_options xo;
    pst_exact_options_default(&xo);
    xo.batch = batch;
    xo.max_proposals = max_proposals;
    xo.comm = w; /* the draws of the prior split over the ranks; every rank gets the same samples */
    pst_rng rng;
    pst_rng_seed(&rng, seed ^ 0x65786163745f7265ull);
    if (pst_target_bundle_reference(b, path, n, max_new, n_ctx ? contexts : NULL, &xo, &rng, ref, err) < 0)
        return pst_fail_context(err, "exact samples of p");
    if (say)
        fprintf(stderr, "posterior tune: %d exact samples of p (%s; %ld draws of the prior, log Z = %.4f +- %.4f)\n",
            ref->n, path ? path : own, ref->proposed, ref->log_z.value, ref->log_z.se);
    return 0;
}

/* --method and the options that belong to another method: --variant and --f are the DPG
 * family's, the PPO options PPO's; giving one with another method is an error (exit 2). */
static int check_method(const char *method, const pst_arg *spec, const unsigned char *given) {
    static const char *const dpg_only[] = {"variant", "f"};
    static const char *const ppo_only[] = {"ppo-epochs", "minibatch", "kl-target", "kl-horizon", "gae-lambda",
                                           "gae-gamma", "clip-range", "value-clip", "vf-coef"};
    for (int i = 0; i < 2 && strcmp(method, "dpg") != 0; i++)
        if (pst_args_given(spec, given, dpg_only[i])) {
            fprintf(stderr, "posterior tune: --%s belongs to --method dpg; --method %s does not take it\n",
                    dpg_only[i], method);
            return -1;
        }
    for (int i = 0; i < 9 && strcmp(method, "ppo") != 0; i++)
        if (pst_args_given(spec, given, ppo_only[i])) {
            fprintf(stderr, "posterior tune: --%s belongs to --method ppo; --method %s does not take it\n",
                    ppo_only[i], method);
            return -1;
        }
    return 0;
}

/* What `tune` was asked (the option table binds to these). */
typedef struct {
    const char *method, *spec_path, *out, *variant, *fdiv, *init, *prompts_path, *reference, *reward;
    int max_new, micro_batch, n_exact, top_k, bf16;
    long max_proposals;
    double temperature, top_p, grad_clip, weight_decay;
    pst_tune_dpo dpo;    /* --method dpo (src/cli/tune_dpo.c) */
    pst_dpg_options o;   /* batch, steps, lr, ..., exact_every */
    pst_ppo_options ppo; /* --method ppo */
} tune_cli;

static const char tune_summary[] =
    "Trains a policy toward the posterior of a target with distributional policy\n"
    "gradients: on-policy DPG, KL-adaptive off-policy DPG (proposal replaced by the\n"
    "policy when its estimated KL(p||pi) is lower), DPG with baseline (GDC++), or\n"
    "f-DPG (fkl = DPG, rkl = RL with a KL penalty, js, tv); or by KL-regularised\n"
    "RL (--method reinforce | rloo | grpo) on R = r - kl_coef (log pi - log a),\n"
    "or PPO with a KL penalty (--method ppo: per-token reward -beta (log pi_t -\n"
    "log a_t) plus r at the last token, a value head, GAE, clipped losses, an\n"
    "adaptive beta from --kl-coef toward --kl-target; OUT/metrics.jsonl adds\n"
    "reward, kl_coef, policy_loss, value_loss, clip_fraction).\n"
    "Writes OUT/run.json,\n"
    "OUT/metrics.jsonl (loss, Z, KL(p||pi), KL(p||q), KL(pi||a), TVD, E_pi[b] or\n"
    "moments, proposal updates, samples/s per step; entropy, mean_length and\n"
    "distinct_2 when q = pi; zero_z_contexts with --prompts), OUT/checkpoints,\n"
    "OUT/model, and a\n"
    "one-line JSON summary on stdout. Contexts (--prompts) that never had a sample\n"
    "with P(x) > 0 (Z_c estimate 0) are skipped and named by line on stderr.\n"
    "Where p can be sampled exactly (b <= 1, bounded features), a reference set of\n"
    "exact samples of p (--reference, or --n-exact drawn now into\n"
    "OUT/reference.jsonl) measures KL(p||pi) every --exact-every steps, and the\n"
    "KL-adaptive proposal is replaced only when that exact, paired comparison\n"
    "says the policy is closer to p by --proposal-margin standard errors.\n"
    "Under mpirun -np N (--method dpg, reinforce, rloo, grpo): data parallel,\n"
    "--batch split over the N ranks, the same run as one rank (docs/scaling.md).";

/* The options once parsed (and, on --resume, read back from run.json): required ones, the
 * method's own, its defaults, the library's checks. 0, or the exit code 2 with the error said. */
static int settle_options(tune_cli *c, const pst_arg *spec, const unsigned char *given, int resume) {
    pst_error err = {0};
    if (!c->spec_path) { /* a resumed run has it from run.json, unless it was killed before writing one */
        fprintf(stderr, "posterior tune: --spec is required%s\n",
                resume ? " (OUT/run.json, which would hold it, is missing)" : "");
        return 2;
    }
    if (c->n_exact == 1) {
        fprintf(stderr, "posterior tune: --n-exact must be 0 or >= 2\n");
        return 2;
    }
    int is_ppo = strcmp(c->method, "ppo") == 0, is_dpo = strcmp(c->method, "dpo") == 0;
    if (c->bf16 && strcmp(c->method, "dpg") != 0) { /* RL and DPO assume samples of π itself */
        fprintf(stderr, "posterior tune: --bf16-weights is for --method dpg (its weights P/q correct for q ≠ π); "
                        "--method %s needs samples of the policy itself\n", c->method);
        return 2;
    }
    if (check_method(c->method, spec, given) < 0 ||
        pst_tune_dpo_check(&c->dpo, is_dpo, spec, given, resume, c->o.kl_coef) != 0)
        return 2;
    if (strcmp(c->method, "dpg") != 0 && !is_dpo) c->variant = is_ppo ? "reinforce" : c->method; /* RL: one loop */
    if (is_ppo && !pst_args_given(spec, given, "kl-coef") && !resume) c->o.kl_coef = 0.2; /* Ziegler's β0 */
    if (is_dpo && !pst_args_given(spec, given, "warmup") && !resume) c->o.warmup = 10; /* DPO's own default */
    if (is_ppo && !pst_args_given(spec, given, "minibatch") && !resume && c->ppo.minibatch > c->o.batch)
        c->ppo.minibatch = c->o.batch; /* the default 16 never exceeds a smaller batch; a given one may not */
    if (pst_dpg_variant_parse(c->variant, &c->o.variant, &err) < 0 ||
        pst_f_divergence_parse(c->fdiv, &c->o.f, &err) < 0 ||
        pst_rl_reward_parse(c->reward, &c->o.reward, &err) < 0 || pst_dpg_options_check(&c->o, &err) < 0 ||
        (is_ppo && pst_ppo_options_check(&c->ppo, &c->o, &err) < 0)) {
        if (err.msg[0]) pst_cli_fail("tune", spec, &err); /* empty: another rank says it (comm.h) */
        return 2;
    }
    return 0;
}

/* OUT/run.json (OUT/run.resumed.json on --resume): the run's full configuration and target. */
static int write_run_json(const tune_cli *c, const pst_target_bundle *b, int n_ctx, int resume, pst_error *err) {
    int is_ppo = strcmp(c->method, "ppo") == 0, is_dpo = strcmp(c->method, "dpo") == 0;
    cJSON *run = cJSON_CreateObject();
    char *spec_text = pst_target_spec_to_json(&b->spec, err);
    cJSON *sp = spec_text ? cJSON_Parse(spec_text) : NULL;
    free(spec_text);
    if (!run || !sp) {
        cJSON_Delete(run);
        cJSON_Delete(sp);
        return pst_fail(err, "out of memory");
    }
    cJSON_AddStringToObject(run, "method", c->method);
    cJSON_AddStringToObject(run, "variant", is_ppo ? "ppo" : c->variant);
    cJSON_AddStringToObject(run, "f", c->fdiv);
    if (strcmp(c->method, "dpg") != 0) {
        cJSON_AddStringToObject(run, "reward", c->reward);
        cJSON_AddNumberToObject(run, "kl_coef", c->o.kl_coef);
        cJSON_AddNumberToObject(run, "group_size", c->o.group_size);
        cJSON_AddNumberToObject(run, "reward_floor", c->o.reward_floor);
    }
    if (is_ppo) { /* the PPO options, under their field names (pst_ppo_options) */
        const pst_ppo_options *p = &c->ppo;
        const char *const name[] = {"epochs", "minibatch", "kl_target", "kl_horizon", "lambda",
                                    "gamma", "clip", "value_clip", "vf_coef"};
        const double value[] = {p->epochs, p->minibatch, p->kl_target, p->kl_horizon, p->lambda,
                                p->gamma, p->clip, p->value_clip, p->vf_coef};
        for (int i = 0; i < 9; i++) cJSON_AddNumberToObject(run, name[i], value[i]);
    }
    if (is_dpo) pst_tune_dpo_run_json(&c->dpo, run);
    cJSON_AddStringToObject(run, "spec_path", c->spec_path);
    cJSON_AddItemToObject(run, "target", sp);
    cJSON_AddStringToObject(run, "init", c->init ? c->init : b->spec.prior);
    cJSON_AddNumberToObject(run, "steps", (double)c->o.steps);
    cJSON_AddNumberToObject(run, "batch", c->o.batch);
    cJSON_AddNumberToObject(run, "lr", c->o.lr);
    cJSON_AddNumberToObject(run, "weight_decay", c->weight_decay);
    cJSON_AddNumberToObject(run, "grad_clip", c->grad_clip);
    cJSON_AddNumberToObject(run, "baseline_decay", c->o.baseline_decay);
    if (c->o.lr_min >= 0) cJSON_AddNumberToObject(run, "lr_min", c->o.lr_min);
    cJSON_AddNumberToObject(run, "warmup", (double)c->o.warmup);
    cJSON_AddBoolToObject(run, "lr_by_ess", c->o.lr_by_ess);
    cJSON_AddBoolToObject(run, "shared_z", c->o.shared_z);
    cJSON_AddBoolToObject(run, "bf16_weights", c->bf16);
    cJSON_AddNumberToObject(run, "n_exact", c->n_exact);
    cJSON_AddNumberToObject(run, "exact_every", (double)c->o.exact_every);
    if (c->reference) cJSON_AddStringToObject(run, "reference", c->reference);
    cJSON_AddNumberToObject(run, "proposal_margin", isinf(c->o.proposal_margin) ? 1e300 : c->o.proposal_margin);
    cJSON_AddNumberToObject(run, "max_new_tokens", c->max_new);
    cJSON_AddNumberToObject(run, "temperature", c->temperature);
    cJSON_AddNumberToObject(run, "top_k", c->top_k);
    cJSON_AddNumberToObject(run, "top_p", c->top_p);
    cJSON_AddNumberToObject(run, "micro_batch", c->micro_batch);
    cJSON_AddNumberToObject(run, "seed", (double)c->o.seed);
    cJSON_AddNumberToObject(run, "contexts", n_ctx);
    cJSON_AddNumberToObject(run, "ranks", c->o.comm ? c->o.comm->size : 1);
    if (c->prompts_path) cJSON_AddStringToObject(run, "prompts", c->prompts_path);
    char *text = cJSON_Print(run);
    cJSON_Delete(run);
    char path[4096];
    int wr = text && pst_path_join(path, sizeof path, c->out, resume ? "run.resumed.json" : "run.json", err) == 0
                 ? pst_write_file_atomic(path, text, strlen(text), err)
                 : -1;
    free(text);
    return wr;
}

/* The run itself: PPO, DPO or the DPG loop (the DPG family and REINFORCE, RLOO, GRPO). The
 * initial proposal of off-policy DPG is the prior, sampled with the same warping (and bf16
 * weights) as the policy. */
static int train(tune_cli *c, pst_target_bundle *b, pst_distribution *policy, const pst_gpt2_policy_options *po,
                 const pst_reference *ref, pst_tune_contexts *report, pst_error *err) {
    if (strcmp(c->method, "ppo") == 0)
        return pst_ppo_train(policy, &b->target, &c->o, &c->ppo, pst_tune_on_step, report, err);
    if (strcmp(c->method, "dpo") == 0)
        return pst_tune_dpo_train(&c->dpo, b, c->init, &c->o, po, ref->n ? ref : NULL, c->out, err);
    pst_distribution proposal = {0};
    int own_proposal = c->temperature != 1.0 || c->top_k || c->top_p != 1.0 || c->bf16;
    if (own_proposal && pst_gpt2_distribution_load(b->spec.prior, po, &proposal, err) < 0) return -1;
    if (!own_proposal) proposal = pst_distribution_borrow(&b->prior);
    int rc = pst_dpg_train(policy, &b->target, &proposal, &c->o, pst_tune_on_step, report, err);
    if (own_proposal) pst_distribution_free(&proposal);
    return rc;
}

/* Under mpirun -np N > 1: the methods of the DPG loop only, and --resume on the number of
 * ranks that OUT/run.json records ("ranks", 1 when absent): --resume is exact, and sums
 * over another number of ranks would differ. Every rank finds it alike: said by rank 0. */
static int check_ranks(const tune_cli *c, const void *saved, pst_error *err) {
    const pst_comm *w = c->o.comm;
    if (w->size > 1 && (strcmp(c->method, "ppo") == 0 || strcmp(c->method, "dpo") == 0))
        return pst_comm_fail_all(w, err, NULL, "--method %s does not run data parallel yet; start it without mpirun "
                                 "(under mpirun: --method dpg, reinforce, rloo or grpo)", c->method);
    const cJSON *ranks = saved ? cJSON_GetObjectItemCaseSensitive((const cJSON *)saved, "ranks") : NULL;
    int was = cJSON_IsNumber(ranks) ? ranks->valueint : 1;
    if (saved && was != w->size)
        return pst_comm_fail_all(w, err, "resume", "the run %s was tuned on %d rank%s and is resumed on %d; resume it "
                                 "on %d (mpirun -np %d): sums over another number of ranks differ in the last bits",
                                 c->out, was, was == 1 ? "" : "s", w->size, was, was);
    return 0;
}

/* The policy and the contexts (--prompts). */
static int open_policy(tune_cli *c, pst_target_bundle *b, pst_gpt2_policy_options *po, pst_distribution *policy,
                       pst_seq **contexts, long **lines, int *n_ctx, pst_error *err) {
    if (pst_target_spec_check_fitted(&b->spec, c->spec_path, err) < 0) return -1;
    po->sampling.temperature = (float)c->temperature;
    po->sampling.top_k = c->top_k;
    po->sampling.top_p = (float)c->top_p;
    po->sampling.bf16_weights = c->bf16;
    if (c->init && pst_target_check_policy(b->spec.prior, c->init, err) < 0) return -1;
    if (pst_gpt2_distribution_load(c->init ? c->init : b->spec.prior, po, policy, err) < 0) return -1;
    return c->prompts_path ? pst_target_bundle_contexts(b, c->prompts_path, c->max_new, contexts, lines, n_ctx, err)
                           : pst_target_bundle_require_contexts(b, 0, err);
}

/* Under mpirun: every rank read the same target spec and the same initial policy (files
 * that differ between nodes are caught here, not by diverging runs). Collective. */
static int agree_on_inputs(const pst_comm *w, const pst_target_bundle *b, pst_distribution *policy,
                           pst_error *err) {
    if (w->size < 2) return 0;
    char *spec = pst_target_spec_to_json(&b->spec, err);
    if (!spec) return -1; /* this rank alone: the program ends the job */
    const pst_gpt2 *m = pst_gpt2_distribution_model(policy);
    uint64_t sum = m ? pst_gpt2_checksum(m) : 0;
    int rc = pst_comm_agree(w, spec, strlen(spec), "target specs", err) ||
             pst_comm_agree(w, &sum, sizeof sum, "initial policies (checksum)", err);
    free(spec);
    return rc ? -1 : 0;
}

/* Rank 0: OUT, OUT/checkpoints (what a killed run left removed), the exact samples drawn
 * now (OUT/reference.jsonl) and OUT/run.json. */
static int write_run_folder(const tune_cli *c, const pst_target_bundle *b, const pst_reference *ref, int drawn,
                            int n_ctx, int resume, pst_error *err) {
    char path[4096];
    if (pst_mkdir_p(c->out, err) < 0 || pst_remove_stale_tmp(c->out, err) < 0 || /* what a kill left */
        pst_path_join(path, sizeof path, c->out, "checkpoints", err) < 0 || pst_mkdir_p(path, err) < 0)
        return -1;
    if (drawn && (pst_path_join(path, sizeof path, c->out, "reference.jsonl", err) < 0 ||
                  pst_reference_save(path, ref, err) < 0))
        return -1;
    return write_run_json(c, b, n_ctx, resume, err);
}

int cmd_tune(int argc, char **argv) {
    tune_cli c = {.method = "dpg", .variant = "kl-adaptive", .fdiv = "fkl", .reward = "evidence", .max_new = 32,
                  .micro_batch = 16, .n_exact = 512, .max_proposals = 200000, .temperature = 1.0, .top_p = 1.0,
                  .grad_clip = 1.0, .dpo = {.loss = "sigmoid"}};
    pst_dpo_options_default(&c.dpo.o);
    pst_dpg_options_default(&c.o);
    pst_ppo_options_default(&c.ppo);
    c.o.batch = 256, c.o.steps = 100, c.o.lr = 1e-4, c.o.lr_min = 1e-5, c.o.baseline_decay = 0.9;
    c.o.proposal_margin = 2.0, c.o.seed = 1, c.o.checkpoint_every = 25, c.o.exact_every = 25;
    const pst_arg spec[] = {
        ARG("method", ARG_STRING, &c.method,
            "dpg: the DPG family (--variant); reinforce, rloo, grpo: KL-regularised RL on --reward, KL penalty --kl-coef; "
            "dpo: preference pairs (--pairs, --loss), reference = the prior",
            .choices = "dpg|reinforce|rloo|grpo|ppo|dpo"),
        ARG("spec", ARG_STRING, &c.spec_path, "target spec (JSON; required, except where --resume reads it from "
            "OUT/run.json)", .field = "spec_path"),
        ARG("out", ARG_STRING, &c.out, "run directory (run.json, metrics.jsonl, checkpoints/, model/)", .required = 1,
            .field = "out_dir"),
        ARG("variant", ARG_STRING, &c.variant, "on-policy | kl-adaptive | baseline | f"),
        ARG("f", ARG_STRING, &c.fdiv, "f-DPG divergence: fkl | rkl | js | tv"),
        ARG("reward", ARG_STRING, &c.reward, "RL: r(x) = P/a (evidence: b for a pointwise target), log P, or log P - log a",
            .choices = "evidence|log-target|log-evidence"),
        ARG("kl-coef", ARG_DOUBLE, &c.o.kl_coef, "RL: beta of R = r - beta (log pi - log a) (0: the reward alone); "
            "dpo: the same beta, of the implicit reward beta (log pi - log a) (default there 0.1)",
            .range = "0.."),
        ARG("group-size", ARG_INT, &c.o.group_size, "rloo, grpo: samples per group of one context (divides --batch)",
            .range = "2.."),
        ARG("reward-floor", ARG_DOUBLE, &c.o.reward_floor, "RL, log rewards: log b where P = 0 (log P = log a + this)"),
        ARG("ppo-epochs", ARG_INT, &c.ppo.epochs, "ppo: optimisation passes over each rollout batch", .range = "1..",
            .field = "epochs"),
        ARG("minibatch", ARG_INT, &c.ppo.minibatch, "ppo: sequences per optimisation step (<= --batch; default: min(16, --batch))", .range = "1.."),
        ARG("kl-target", ARG_DOUBLE, &c.ppo.kl_target, "ppo: the adaptive controller's KL(pi||a) target (0: fixed beta)",
            .range = "0.."),
        ARG("kl-horizon", ARG_DOUBLE, &c.ppo.kl_horizon, "ppo: the adaptive controller's horizon (samples)"),
        ARG("gae-lambda", ARG_DOUBLE, &c.ppo.lambda, "ppo: GAE lambda", .range = "0..1", .field = "lambda"),
        ARG("gae-gamma", ARG_DOUBLE, &c.ppo.gamma, "ppo: GAE discount gamma", .range = "0..1", .field = "gamma"),
        ARG("clip-range", ARG_DOUBLE, &c.ppo.clip, "ppo: the policy ratio's clip range", .field = "clip"),
        ARG("value-clip", ARG_DOUBLE, &c.ppo.value_clip, "ppo: the value's clip range"),
        ARG("vf-coef", ARG_DOUBLE, &c.ppo.vf_coef, "ppo: the value loss coefficient", .range = "0.."),
        ARG("pairs", ARG_STRING, &c.dpo.pairs_path, "dpo: preference pairs (JSON lines: prompt, chosen, rejected, tie)"),
        ARG("loss", ARG_STRING, &c.dpo.loss, "dpo: sigmoid (DPO), ipo or hinge", .choices = "sigmoid|ipo|hinge"),
        ARG("label-smoothing", ARG_DOUBLE, &c.dpo.o.label_smoothing, "dpo, sigmoid loss: the label noise eps of cDPO",
            .range = "0..0.4999"),
        ARG("held-out", ARG_DOUBLE, &c.dpo.o.held_out, "dpo: fraction of the pairs held out for the metrics",
            .range = "0..0.9"),
        ARG("init", ARG_STRING, &c.init, "initial policy model directory (default: the prior)"),
        ARG("steps", ARG_LONG, &c.o.steps, "training steps (a resumed run may go further)", .range = "1..",
            .resume_may_change = 1),
        ARG("batch", ARG_INT, &c.o.batch, "samples per step (under mpirun: all ranks' together)", .range = "2.."),
        ARG("micro-batch", ARG_INT, &c.micro_batch, "rows per forward/backward"),
        ARG("lr", ARG_DOUBLE, &c.o.lr, "peak learning rate"),
        ARG("weight-decay", ARG_DOUBLE, &c.weight_decay, "AdamW weight decay"),
        ARG("grad-clip", ARG_DOUBLE, &c.grad_clip, "clip the gradient's global norm (0: off)"),
        ARG("lr-min", ARG_DOUBLE, &c.o.lr_min, "cosine decay of the learning rate from --lr to this over --steps (< 0: constant)"),
        ARG("warmup", ARG_LONG, &c.o.warmup, "steps of linear learning-rate warmup (default 0; dpo: 10)", .range = "0.."),
        ARG("lr-by-ess", ARG_FLAG, &c.o.lr_by_ess, "scale each step's learning rate by the effective sample size / batch"),
        ARG("baseline-decay", ARG_DOUBLE, &c.o.baseline_decay, "f-DPG moving-average baseline decay"),
        ARG("proposal-margin", ARG_DOUBLE, &c.o.proposal_margin,
            "kl-adaptive/baseline: replace q by the policy only when it is better by this many standard errors (inf: never)",
            .range = "0.."),
        ARG("max-new-tokens", ARG_INT, &c.max_new, "tokens per sample at most"),
        ARG("temperature", ARG_DOUBLE, &c.temperature, "sampling temperature (0: greedy; q ≠ π then)"),
        ARG("top-k", ARG_INT, &c.top_k, "keep the k most likely tokens (0: off)", .range = "0.."),
        ARG("top-p", ARG_DOUBLE, &c.top_p, "nucleus: keep the most likely tokens up to this mass (1: off)"),
        ARG("bf16-weights", ARG_FLAG, &c.bf16, "dpg: sample with the weight matrices rounded to bfloat16 (q = that model, "
            "its log q exact; log pi from an fp32 scoring pass)"),
        ARG("prompts", ARG_STRING, &c.prompts_path, "conditional targets (CDPG): a file of prompts, one per line"),
        ARG("shared-z", ARG_FLAG, &c.o.shared_z, "conditional targets: one Z for all prompts, not one per prompt (ablation)"),
        ARG("checkpoint-every", ARG_LONG, &c.o.checkpoint_every, "steps between checkpoints", .resume_may_change = 1),
        ARG("resume", ARG_FLAG, &c.o.resume, "continue from OUT/checkpoints with the options in OUT/run.json"),
        PST_ARGS_EXACT(c.reference, c.max_proposals),
        ARG("n-exact", ARG_INT, &c.n_exact, "without --reference: exact samples of p drawn at the start (0: none)",
            .range = "0.."),
        ARG("exact-every", ARG_LONG, &c.o.exact_every, "steps between measurements on the exact samples", .range = "0.."),
        PST_ARGS_SEED(c.o.seed),
        ARG("quiet", ARG_FLAG, &c.o.quiet, "no progress line", .resume_may_change = 1),
        {0},
    };
    unsigned char given[PST_ARGS_MAX] = {0};
    int rc = pst_args_parse_given("tune", tune_summary, spec, argc, argv, NULL, given);
    if (rc != PST_ARGS_RUN) return rc;
    void *saved = NULL; /* OUT/run.json of a resumed run: its options are this run's */
    char path[4096], ckpt[4096];
    pst_error err = {0};
    pst_comm world = pst_comm_world();
    c.o.comm = &world;
    /* under mpirun: the same command line on every rank before anything depends on it */
    if (pst_comm_agree_args(&world, argc, argv, &err) < 0) return pst_cli_fail_ranks("tune", &world, spec, &err);
    int resume = c.o.resume;
    if (resume && pst_path_join(path, sizeof path, c.out, "run.json", &err) < 0) return pst_cli_fail("tune", spec, &err);
    if (resume && (rc = pst_args_resume("tune", spec, given, path, &saved)) != PST_ARGS_RUN) return rc;
    if ((rc = settle_options(&c, spec, given, resume)) != 0 || check_ranks(&c, saved, &err) < 0) {
        cJSON_Delete(saved);
        return rc ? rc : pst_cli_fail_ranks("tune", &world, spec, &err);
    }
    int is_dpo = strcmp(c.method, "dpo") == 0;
    pst_gpt2_policy_options po;
    pst_gpt2_policy_options_default(&po);
    po.sampling.max_new_tokens = c.max_new;
    po.micro_batch = c.micro_batch;
    po.grad_clip = (float)c.grad_clip;
    po.weight_decay = (float)c.weight_decay;
    pst_target_bundle b;
    pst_distribution policy = {0};
    pst_reference ref = {0};
    pst_seq *contexts = NULL;
    long *lines = NULL; /* the contexts' lines in the prompts file */
    pst_tune_contexts report = {0};
    int n_ctx = 0;
    int ret = 1, drawn = 0, writer = world.rank == 0;
    /* every rank loads the same models and draws the same exact samples; a failure on any
     * rank fails all, said once (comm.h); rank 0 alone writes OUT */
    int phase = pst_target_bundle_load(c.spec_path, &po, &b, &err);
    if (pst_comm_check(&world, phase, &err) < 0) goto fail;
    phase = open_policy(&c, &b, &po, &policy, &contexts, &lines, &n_ctx, &err);
    if (pst_comm_check(&world, phase, &err) < 0 || agree_on_inputs(&world, &b, &policy, &err) < 0) goto fail;
    /* the exact samples before anything is written: a bad reference or budget leaves no run folder;
     * drawn: collective (a budget error said by rank 0); read from a file: checked like a phase */
    phase = open_reference(&b, c.reference, c.n_exact, c.max_new, n_ctx ? contexts : NULL, n_ctx, c.max_proposals,
                           c.o.batch, c.o.seed, c.out, resume, &world, &ref, &drawn, &err);
    if (drawn ? phase < 0 : pst_comm_check(&world, phase, &err) < 0) goto fail;
    if (pst_comm_check(&world, writer ? write_run_folder(&c, &b, &ref, drawn, n_ctx, resume, &err) : 0, &err) < 0)
        goto fail;
    if (pst_path_join(ckpt, sizeof ckpt, c.out, "checkpoints", &err) < 0 ||
        pst_path_join(path, sizeof path, c.out, "metrics.jsonl", &err) < 0)
        goto fail;
    if (c.o.lr_min > c.o.lr) c.o.lr_min = c.o.lr; /* never rises: above --lr it means a constant rate */
    c.o.out_dir = ckpt;
    c.o.metrics_path = path;
    c.o.contexts = contexts;
    c.o.n_contexts = n_ctx;
    c.o.reference = ref.n ? &ref : NULL;
    if (train(&c, &b, &policy, &po, &ref, &report, &err) < 0) goto fail;
    ret = 0;
    if (!writer) goto fail;
    if (pst_path_join(path, sizeof path, c.out, "model", &err) < 0 ||
        (!is_dpo && pst_dist_save(&policy, path, &err) < 0)) { /* dpo saved its policy itself */
        ret = 1;
        goto fail;
    }
    fprintf(stderr, "posterior tune: %ld steps done; policy in %s\n", c.o.steps, path);
    if (!is_dpo && pst_tune_report(&report, c.prompts_path, lines, path, c.o.steps, &err) < 0) /* dpo printed its own */
        ret = 1;
fail:
    if (ret) ret = pst_cli_fail_ranks("tune", &world, spec, &err);
    pst_distribution_free(&policy);
    pst_reference_free(&ref);
    pst_target_bundle_free(&b);
    pst_contexts_free(contexts, n_ctx);
    free(lines);
    pst_tune_contexts_free(&report);
    cJSON_Delete(saved);
    return ret;
}
