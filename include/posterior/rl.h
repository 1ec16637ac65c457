/* posterior — train layer: the estimators of KL-regularised reinforcement learning.
 *
 * RL fine-tuning maximises J(θ) = E_π[r(x)] − β·KL(π_θ‖a): the variational form of the
 * posterior p(x) ∝ a(x)·exp(r(x)/β) (β = 0: reward alone, which collapses π onto argmax r).
 * Its score-function gradient is ∇J = E_π[(R(x) − b)·∇log π_θ(x)] with the sequence-level
 * KL-shaped reward R(x) = r(x) − β·(log π_θ(x) − log a(x)) and any baseline b that does not
 * depend on x. The functions here turn a batch of rewards into the per-sample coefficients
 * (advantages) that a trainer feeds to ∇Σ_i A_i·log π_θ(x_i) / n, and hold the pieces of
 * Ziegler et al.'s (2019) PPO: per-token rewards, GAE, the clipped losses, the adaptive KL
 * coefficient. Each comment gives the formula; tests/train/test_rl.c checks each against an
 * enumerated expectation or a hand-computed example.
 */
#ifndef POSTERIOR_RL_H
#define POSTERIOR_RL_H

#include "posterior/base.h"
#include "posterior/dpg.h"
#include "posterior/pretrain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* R_i = r_i − β·(log π(x_i) − log a(x_i)) for i < n (KL-control; β = 0: R = r). */
void pst_rl_kl_shaped_reward(const double *reward, const double *log_policy, const double *log_prior, double beta,
                             int n, double *out);

/* REINFORCE with a baseline b (e.g. a moving average of past batches' mean R):
 * A_i = R_i − b. Unbiased for ∇E_π[R] whenever b does not depend on this batch. */
void pst_rl_reinforce_advantages(const double *R, int n, double baseline, double *A);

/* RLOO: the batch is n/k groups of k consecutive samples (k ≥ 2) of one context each;
 * A_i = R_i − (Σ_{j≠i in i's group} R_j)/(k − 1), the leave-one-out mean (unbiased). */
int pst_rl_rloo_advantages(const double *R, int n, int k, double *A, pst_error *err);

/* GRPO: A_i = (R_i − mean_g)/(std_g + eps) over i's group of k (std with divisor k; scale
 * = 0: no division, A_i = R_i − mean_g, whose expectation is (k − 1)/k·∇E_π[R] — the mean
 * includes R_i itself). */
int pst_rl_grpo_advantages(const double *R, int n, int k, int scale, double eps, double *A, pst_error *err);

/* The length and entropy statistics of n samples of π with their log π(x_i) (raw, untempered):
 *   *entropy = −Σ_i log π(x_i) / Σ_i |x_i|  (mean over tokens of −log π(x_t | x_<t): unbiased
 *              for the mean next-token entropy along π's own samples; 0 without tokens),
 *   *mean_length = Σ_i |x_i| / n  (tokens per sample); entropy × mean_length estimates H(π);
 *   *distinct_2 = distinct bigrams / all bigrams of the n samples (pst_distinct_n; NaN when out
 *              of memory). */
void pst_rl_rollout_stats(const pst_sample *xs, const double *log_policy, int n, double *entropy,
                          double *mean_length, double *distinct_2);

/* k3, the non-negative unbiased estimator of KL(π‖a) per token or sequence (Schulman):
 * with d = log a − log π, k3 = exp(d) − d − 1, and ∂k3/∂log π = 1 − exp(d). */
double pst_rl_kl_k3(double log_policy, double log_prior, double *d_log_policy);

/* PPO per-token rewards (Ziegler et al.): r_t = −β·(log π_t − log a_t) for t < T, plus the
 * sequence's score at the last token t = T − 1. */
void pst_ppo_token_rewards(const float *log_policy, const float *log_prior, int T, double beta, double score,
                           float *rewards);

/* Generalised advantage estimation over one sequence of T tokens, V_T = 0:
 *   δ_t = r_t + γ·V_{t+1} − V_t,  A_t = δ_t + γλ·A_{t+1},  returns_t = A_t + V_t. */
void pst_ppo_gae(const float *rewards, const float *values, int T, double gamma, double lambda, float *advantages,
                 float *returns);

/* Whitened advantages: (A − mean)/(std + 1e-8) over n values, in place (std with divisor n). */
void pst_ppo_whiten(float *advantages, int n);

/* The clipped policy loss of one token, ρ = exp(log π_new − log π_old):
 *   L = max(−A·ρ, −A·clip(ρ, 1 − ε, 1 + ε)); *d_log_new = ∂L/∂log π_new
 * (−A·ρ where the unclipped term is the max, 0 where the clipped one is). *clipped is 1
 * when the clipped term is strictly larger (it carries no gradient). */
double pst_ppo_policy_loss(double log_new, double log_old, double advantage, double clip, double *d_log_new,
                           int *clipped);

/* The clipped value loss of one token:
 *   L = ½·max((V − R)², (V_old + clip(V − V_old, −ε, ε) − R)²); *d_value = ∂L/∂V. */
double pst_ppo_value_loss(double value, double value_old, double ret, double clip, double *d_value, int *clipped);

/* The adaptive KL coefficient (Ziegler et al. 2019): after a batch of n_steps samples whose
 * KL(π‖a) was kl, e = clip(kl/target − 1, −0.2, 0.2) and β ← β·(1 + e·n_steps/horizon).
 * target ≤ 0: β stays fixed. */
typedef struct {
    double beta, target, horizon;
} pst_kl_controller;

void pst_kl_controller_update(pst_kl_controller *c, double kl, double n_steps);

/* ---- the PPO trainer (src/train/ppo.c) ------------------------------------------- */

/* PPO with a KL penalty (Ziegler et al. 2019, naver/gdc's baseline), on a distribution with
 * token-level access (pst_dist_has_tokens). Each step: n rollouts x_i ~ π_θ; per-token
 * rewards r_t = −β·(log π_old,t − log a_t) plus the score r(x) (pst_dpg_options.reward) at the
 * last token; values V_t = v·h_t + b from a value head on the policy's hidden states;
 * GAE(γ, λ) advantages (whitened over the batch's tokens) and returns; then `epochs` passes
 * over shuffled minibatches of `minibatch` sequences, each one AdamW step of both the policy
 * and the value head on the token mean of
 *   L = max(−A·ρ, −A·clip(ρ, 1 ± clip)) + vf_coef·½·max((V − R)², (V_old + clip(V − V_old, ±value_clip) − R)²),
 * ρ = π_θ/π_old per token. β starts at pst_dpg_options.kl_coef and, with kl_target > 0,
 * follows the adaptive controller (pst_kl_controller, n_steps = batch) on the batch's
 * KL(π‖a) = mean Σ_t (log π_old,t − log a_t); kl_target ≤ 0: β fixed. */
typedef struct {
    int epochs;          /* passes over each rollout batch (4) */
    int minibatch;       /* sequences per minibatch, <= batch (16) */
    double gamma, lambda;          /* GAE (1, 0.95) */
    double clip, value_clip;       /* policy ratio and value clip ranges (0.2, 0.2) */
    double vf_coef;                /* value loss coefficient (0.1) */
    double kl_target, kl_horizon;  /* adaptive β (6, 10000); kl_target <= 0: fixed β */
    int whiten;                    /* whiten the advantages (1) */
} pst_ppo_options;

void pst_ppo_options_default(pst_ppo_options *p);
/* The options' own consistency against the common ones (minibatch <= batch, ranges),
 * before anything is run or written. Errors set err->field. */
int pst_ppo_options_check(const pst_ppo_options *p, const pst_dpg_options *o, pst_error *err);

/* What a PPO step measured, beside the DPG keys (m). */
typedef struct {
    double reward, reward_se;    /* mean score r(x) of the rollouts */
    double beta;                 /* β used for this step's rewards */
    double kl, kl_se;            /* mean Σ_t log π_old − log a (before the step) */
    double policy_loss, value_loss, clip_fraction, value_clip_fraction, approx_kl;
    double entropy;              /* mean over the rollouts' tokens of −log π(x_t | x_<t): unbiased for
                                    the mean next-token entropy along π's own samples */
    double mean_length;          /* tokens per rollout */
    double distinct_2;           /* distinct bigrams / all bigrams of the rollouts */
} pst_ppo_step;

/* Trains policy by PPO toward maximising E_π[r] − β·KL(π‖a), with the common options
 * o (batch, steps, lr, lr_min, reward, reward_floor, kl_coef = β0, seed, contexts,
 * out_dir, checkpoint_every, metrics_path (the DPG keys plus the PPO ones), resume,
 * reference, exact_every, quiet; variant and the DPG-only fields are ignored).
 * Checkpoints: out_dir/ckpt-STEP/{policy/, value_head.safetensors, ppo_state.bin}.
 * A NaN/inf reward, loss or gradient stops with an error and leaves the last good
 * checkpoint in place. cb (may be NULL) is called after every step with the DPG view. */
/* One minibatch: the token mean of L (above) over the n rollouts xs (contexts may be NULL),
 * rollout i's tokens at b->off[i] .. b->off[i] + xs[i].n_tokens − 1 of the per-token
 * arrays; ∇θ L accumulated into the policy as the objective −L (pst_dist_step then
 * descends L) and ∂L/∂(v, b) into vh->grad (zero both first). s's policy_loss,
 * value_loss (without vf_coef), clip fractions and approx_kl (½ mean (Δ log π)²) are
 * INCREASED by this minibatch's token means. tests/train/test_ppo_torch.py checks L and
 * every gradient against PyTorch. */
typedef struct {
    const int *off;
    const float *lp_old, *v_old, *adv, *ret;
} pst_ppo_batch;
int pst_ppo_minibatch(pst_distribution *policy, pst_value_head *vh, const pst_ppo_options *p, const pst_seq *contexts,
                      const pst_sample *xs, int n, const pst_ppo_batch *b, pst_ppo_step *s, pst_error *err);

int pst_ppo_train(pst_distribution *policy, const pst_target *target, const pst_dpg_options *o,
                  const pst_ppo_options *p, pst_dpg_callback cb, void *cb_ctx, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
