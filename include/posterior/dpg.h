/* posterior — train layer: the DPG family, one trainer that moves a policy π_θ
 * toward the posterior p = P/Z of a target (include/posterior/target.h).
 *
 * Every variant takes a gradient ascent step on Σ_i c_i·log π_θ(x_i) over a batch
 * x_i ~ q, with w_i = P(x_i)/q(x_i) and Ẑ the running estimate of Z (per context):
 *   on-policy DPG     q = π_θ,                 c_i = w_i/(n·Ẑ)                 (∇ = −∇KL(p‖π_θ))
 *   KL-adaptive DPG   q = a frozen proposal,   c_i = w_i/(n·Ẑ); q ← π_θ only when
 *                     the estimated KL(p‖π_θ) < KL(p‖q) on a fresh batch of q and, with
 *                     proposal_margin m > 0, the paired difference E_p[log q − log π_θ]
 *                     (SNIS) is below −m standard errors (m = ∞: q is never replaced)
 *   baseline (GDC++)  KL-adaptive q,           c_i = (w_i/Ẑ − π_θ(x_i)/q(x_i))/n
 *   f-DPG             q = π_θ,                 c_i = −(π/q)·(f'(t_i) − b)/n,  t = π_θ Ẑ/P,
 *                     b a moving average of f'(t), minimising D_f(π_θ‖p) = E_p[f(π/p)]:
 *                       fkl f(t) = −log t               (KL(p‖π): DPG)
 *                       rkl f(t) = t log t               (KL(π‖p): RL with a KL penalty)
 *                       js  f'(t) = ½ log(2t/(1+t))       (Jensen–Shannon)
 *                       tv  f(t) = ½|t − 1|              (total variation)
 * and, on the same loop, KL-regularised RL (include/posterior/rl.h), q = π_θ:
 *   reinforce         c_i = (R_i − b)/n, b a moving average of past batches' mean R
 *   rloo              c_i = (R_i − mean of the other k − 1 samples of i's group)/n
 *   grpo              c_i = (R_i − mean_g)/(std_g + 1e-4)/n over i's group of k
 *                     with R_i = r(x_i) − kl_coef·(log π_θ(x_i) − log a(x_i)) and the reward
 *                     r = P/a (evidence: b(x) for a pointwise target) or log P (log_target,
 *                     floored at reward_floor where P = 0). kl_coef = 0: the reward alone,
 *                     which collapses π_θ onto argmax r; with r = log P − log a of a KL-RL
 *                     target and kl_coef = 1 the optimum is p itself.
 */
#ifndef POSTERIOR_DPG_H
#define POSTERIOR_DPG_H

#include "posterior/comm.h"
#include "posterior/target.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PST_DPG_ON_POLICY = 0, PST_DPG_KL_ADAPTIVE, PST_DPG_BASELINE, PST_DPG_F,
    PST_RL_REINFORCE, PST_RL_RLOO, PST_RL_GRPO
} pst_dpg_variant;
/* The reward of the RL variants: r = P(x)/a(x) (the evidence), log P(x), or log P(x) − log a(x). */
typedef enum { PST_REWARD_EVIDENCE = 0, PST_REWARD_LOG_TARGET, PST_REWARD_LOG_EVIDENCE } pst_rl_reward;
int pst_rl_reward_parse(const char *name, pst_rl_reward *r, pst_error *err);
const char *pst_rl_reward_name(pst_rl_reward r);
typedef enum { PST_F_FKL = 0, PST_F_RKL, PST_F_JS, PST_F_TV } pst_f_divergence;

int pst_dpg_variant_parse(const char *name, pst_dpg_variant *v, pst_error *err);
int pst_f_divergence_parse(const char *name, pst_f_divergence *f, pst_error *err);
const char *pst_dpg_variant_name(pst_dpg_variant v);
const char *pst_f_divergence_name(pst_f_divergence f);

typedef struct {
    pst_dpg_variant variant;
    pst_f_divergence f;         /* PST_DPG_F only */
    int batch;                  /* samples per step */
    long steps;                 /* total steps (a resumed run continues up to it) */
    double lr;
    double lr_min;              /* < 0: constant lr; else cosine decay from lr to lr_min over steps */
    long warmup;                /* the first `warmup` steps raise the lr linearly to lr (0: none) */
    int lr_by_ess;              /* scale each step's lr by ESS/n of its weights P/q: Adam moves
                                   ~lr per step however few samples carry the gradient, so a
                                   batch with 12 effective samples of 64 steps 12/64 as far */
    double baseline_decay;      /* f-DPG moving average: b ← d·b + (1 − d)·mean f' (0.9) */
    double log_t_clip;          /* f-DPG: |log t| clipped here so P = 0 stays finite (20) */
    pst_rl_reward reward;       /* RL variants: what r(x) is (evidence) */
    double reward_floor;        /* RL, log rewards: log P = −inf (P = 0) counts as this (−20) */
    double kl_coef;             /* RL: β of R = r − β·(log π − log a) (0: the reward alone) */
    int group_size;             /* rloo, grpo: samples per group of one context (k ≥ 2; batch a
                                   multiple of k; group g of step s continues context (s·n/k + g) % n_contexts) */
    double proposal_margin;     /* KL-adaptive / baseline: standard errors by which π_θ must
                                   beat q before q ← π_θ (0: any estimated gain; ∞: never) */
    uint64_t seed;
    const pst_seq *contexts;    /* conditional targets (CDPG): sample i of step s continues
                                   contexts[(s·batch + i) % n_contexts]; NULL: unconditional */
    int n_contexts;
    int shared_z;               /* conditional targets: one Ẑ for all contexts instead of Ẑ_c per
                                   context (the ablation of CDPG; its fixed point weights each
                                   context's p_c by Z_c) */
    const char *out_dir;        /* checkpoints (NULL: none) */
    long checkpoint_every;      /* steps (0: only at the end) */
    const char *metrics_path;   /* JSONL, one line per step (NULL: none) */
    int resume;                 /* continue from out_dir's latest checkpoint */
    /* The yardstick: exact samples of p (one context; NULL: none). Every exact_every
     * steps and at the end the policy is measured on them (KL(p‖π), TVD, dropped
     * mass: pst_dpg_step.exact), and the KL-adaptive proposal is replaced only there,
     * when the paired difference KL(p‖π) − KL(p‖q) = mean over the samples of
     * log q − log π is below −proposal_margin standard errors (the noisy per-batch
     * importance-sampled comparison is not used then). */
    const pst_reference *reference;
    long exact_every;           /* steps (0: only at the end) */
    int quiet;                  /* no progress line */
    /* Data parallel over comm's N ranks (NULL or one rank: not): batch is the global
     * batch (a multiple of N); rank r draws and scores rows [r·n/N, (r+1)·n/N) of every
     * step (the same sequences one rank draws: per-row random streams), the per-sample
     * statistics are gathered so that every rank computes Ẑ, the estimates, the
     * coefficients and the proposal decision of the whole batch in one order, and the
     * gradient is summed over ranks (one allreduce) before the step. Rank 0 alone writes
     * metrics_path and checkpoints; every rank reads a checkpoint on resume, which must be
     * on as many ranks as wrote it. The reference set is measured on every rank. */
    const pst_comm *comm;
} pst_dpg_options;

void pst_dpg_options_default(pst_dpg_options *o);
/* The options' own consistency (batch, lr, groups, kl_coef, ...), before anything is run
 * or written; pst_dpg_train checks them again. Errors set err->field. */
int pst_dpg_options_check(const pst_dpg_options *o, pst_error *err);

/* What one step measured (estimates from that step's batch of q; conditional
 * targets average over contexts). */
typedef struct {
    long step;
    double loss;                 /* estimated D_f(π‖p) before the step (KL(p‖π) for DPG) */
    double log_z, log_z_se;      /* running log Ẑ (first context) */
    pst_estimate kl_target_policy;   /* KL(p‖π_θ) */
    pst_estimate kl_target_proposal; /* KL(p‖q) */
    pst_estimate kl_policy_prior;    /* KL(π_θ‖a) */
    pst_estimate tvd;                /* TVD(p, π_θ) */
    int n_features;
    pst_estimate moments_policy[PST_TARGET_MAX_FEATURES]; /* E_π[b] or E_π[φ] */
    double ess;                  /* of the batch's weights P/q */
    int proposal_updated;        /* this step */
    long proposal_updates;       /* so far */
    double samples_per_s;
    double lr;                   /* the learning rate of this step */
    int has_exact;               /* measured on the reference this step */
    pst_exact_report exact;      /* KL(p‖π_θ), TVD, dropped mass from exact samples of p */
    pst_estimate proposal_gain;  /* KL(p‖π_θ) − KL(p‖q) on the reference (has_exact) */
    /* On-policy variants (q = π_θ: on-policy, f, reinforce, rloo, grpo): the batch's mean
     * over tokens of −log π_θ(x_t | x_<t) (an estimate of the next-token entropy along π's
     * samples; × mean_length: of the sequence entropy H(π)) and its tokens per sample
     * (pst_rl_rollout_stats, as PPO's keys of the same names). */
    int has_policy_stats;
    double entropy, mean_length, distinct_2; /* distinct_2: of the batch's samples */
    /* Conditional runs (contexts): n_contexts, and per context the samples drawn so far and
     * those with P > 0 (arrays of n_contexts, owned by the trainer, valid during the
     * callback); zero_z_contexts = the contexts drawn so far with no sample of P > 0 (their
     * Ẑ_c is 0: they give no gradient, skipped — the caller may name them). 0 otherwise. */
    int n_contexts, zero_z_contexts;
    const double *context_seen, *context_hits;
} pst_dpg_step;

/* The step's keys as one JSON object body (no braces) into out[cap]: step, loss, log Ẑ,
 * the IS estimates, moments, ESS, proposal updates, lr, samples/s and, on steps that
 * measured them, the exact-sample keys; "entropy" and "mean_length" with
 * has_policy_stats; "zero_z_contexts" on conditional runs. Trainers that report more
 * append their own. */
void pst_dpg_step_json(const pst_dpg_step *m, char *out, size_t cap);

/* The learning rate of step `step` (0-based): lr·(step + 1)/warmup during the warmup, then
 * lr, or its cosine decay to lr_min over the remaining steps (lr_min >= 0; pst_lr_schedule). */
double pst_dpg_lr(const pst_dpg_options *o, long step);

/* Whether a trainer writes a checkpoint after `step` (of o->steps): every
 * o->checkpoint_every steps, at the last step and when stopped; never without out_dir. */
int pst_dpg_checkpoint_due(const pst_dpg_options *o, long step, int stop);

/* Called after every step; a non-zero return stops training (not an error). */
typedef int (*pst_dpg_callback)(void *ctx, const pst_dpg_step *s);

/* Trains policy (a trainable distribution) toward target. proposal is the initial
 * q for the KL-adaptive and baseline variants (usually the prior; NULL: a frozen
 * copy of the policy); it is not owned. A NaN loss or gradient stops with an error
 * and leaves the last good checkpoint in place. */
int pst_dpg_train(pst_distribution *policy, const pst_target *target, pst_distribution *proposal,
                  const pst_dpg_options *o, pst_dpg_callback cb, void *cb_ctx, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
