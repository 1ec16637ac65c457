/* posterior — train layer: learning from pairwise preferences (y_w ≻ y_l for a prompt).
 *
 * Bradley–Terry: P(y_w ≻ y_l) = σ(r(y_w) − r(y_l)); a reward model r̂ minimises
 * −log σ(r̂_w − r̂_l) (a tie counts as half a win each way).
 * DPO family (Rafailov et al. 2023; IPO: Azar et al. 2023): with the implicit reward margin
 *   m = (log π(y_w) − log a(y_w)) − (log π(y_l) − log a(y_l))     (a = the reference, the prior)
 *   sigmoid  L = −(1 − ε)·log σ(β m) − ε·log σ(−β m)     (ε: label smoothing, cDPO)
 *   ipo      L = (m − 1/(2β))²
 *   hinge    L = max(0, 1 − β m)
 * Under Bradley–Terry preferences from r over pairs that cover the support, the sigmoid
 * loss is minimised by π ∝ a·exp(r/β): the posterior of KL-regularised RL
 * (tests/train/test_preference.c checks it on the enumerable toy).
 */
#ifndef POSTERIOR_PREFERENCE_H
#define POSTERIOR_PREFERENCE_H

#include "posterior/base.h"
#include "posterior/pairs.h"
#include "posterior/prior.h"
#include "posterior/reward_model.h"
#include "posterior/sampler.h"
#include "posterior/scorer.h"
#include "posterior/target.h"

#ifdef __cplusplus
extern "C" {
#endif

/* −log σ(r_w − r_l) (tie: −½ log σ(d) − ½ log σ(−d)); *d_margin = ∂L/∂(r_w − r_l). */
double pst_bradley_terry_loss(double r_chosen, double r_rejected, int tie, double *d_margin);

typedef enum { PST_DPO_SIGMOID = 0, PST_DPO_IPO, PST_DPO_HINGE } pst_dpo_loss_kind;
int pst_dpo_loss_parse(const char *name, pst_dpo_loss_kind *kind, pst_error *err);
const char *pst_dpo_loss_name(pst_dpo_loss_kind kind);

/* The loss of one pair from its four sequence log-probs; *d_margin = ∂L/∂m, so that
 * ∂L/∂log π(y_w) = *d_margin and ∂L/∂log π(y_l) = −*d_margin. */
double pst_dpo_loss(pst_dpo_loss_kind kind, double beta, double label_smoothing, double log_policy_chosen,
                    double log_prior_chosen, double log_policy_rejected, double log_prior_rejected,
                    double *d_margin);

/* ---- on GPT-2 ------------------------------------------------------------------------ */

/* A preference pair in tokens: chosen / rejected = <|endoftext|> + prompt + response, the
 * first prompt_len tokens (<|endoftext|> + prompt) shared by both and not scored. */
typedef struct {
    int *chosen, *rejected;
    int n_chosen, n_rejected;
    int prompt_len;
    int tie;
} pst_token_pair;

void pst_token_pairs_free(pst_token_pair *p, int n);

typedef struct {
    double loss;      /* mean loss over the pairs */
    double accuracy;  /* fraction of the non-tie pairs with r_w > r_l (DPO: implicit reward, m > 0) */
    double margin;    /* mean r_w − r_l (DPO: β·m) over the non-tie pairs */
    int n, n_ties;
} pst_pair_stats;

/* Bradley–Terry on a reward model, one batch of n pairs: one forward of the 2n rows (chosen
 * then rejected), L = (1/n) Σ BT(r_w, r_l, tie); when head_grad is not NULL, ∂(scale·L) is
 * ACCUMULATED into head_grad [C] and the trunk's grads. Stats of the batch in *st; margins
 * (NULL: not wanted) [n] receives r_w − r_l. */
int pst_rm_pairs_batch(pst_reward_model *rm, const pst_token_pair *pairs, int n, float *head_grad, float scale,
                       double *margins, pst_pair_stats *st, pst_error *err);

/* Sequence log-probs of the responses under m: logp_chosen[i] = Σ_{t ≥ prompt_len} log m(y_t | y_<t)
 * and the same for the rejected (batched, no gradient). */
int pst_pairs_logprobs(pst_gpt2 *m, const pst_token_pair *pairs, int n, double *logp_chosen, double *logp_rejected,
                       pst_error *err);

/* The DPO family on a GPT-2 policy π, one batch of n pairs: one forward of the 2n rows,
 * log π of both responses, L = (1/n) Σ pst_dpo_loss(m_i) with the reference's log-probs
 * ref_chosen[n], ref_rejected[n] (a tie is the mean of both orientations); with grads != 0,
 * ∂(scale·L)/∂θ is ACCUMULATED into π's grads. st->margin is the implicit reward margin β·m;
 * margins (NULL: not wanted) [n] receives β·m of each pair. */
int pst_dpo_pairs_batch(pst_gpt2 *policy, const pst_token_pair *pairs, int n, const double *ref_chosen,
                        const double *ref_rejected, pst_dpo_loss_kind kind, double beta, double label_smoothing,
                        int grads, float scale, double *margins, pst_pair_stats *st, pst_error *err);

/* Pairs in tokens, as the prior reads a sample: bos + encode(prompt) + encode(response)
 * (pst_reward_model_encode's rule), + eos when eos >= 0 (DPO: a response is a complete
 * sample, which ends with <|endoftext|>). A text longer than the context n_positions is an
 * error naming origin:LINE (origin: the pairs file). *out: n pairs, free with pst_token_pairs_free. */
int pst_pairs_tokenize(pst_tokenizer *tok, int bos, int eos, int n_positions, const pst_pair *pairs, size_t n,
                       const char *origin, pst_token_pair **out, pst_error *err);

/* ---- pairs labelled by an oracle ------------------------------------------------------ */

typedef struct {
    int n;                  /* pairs wanted */
    double noise;           /* 0: the higher oracle score wins (equal scores: a tie); T > 0: the first
                               continuation wins with probability σ((s_1 − s_2)/T) (Bradley–Terry) */
    int prefer_low;         /* the oracle is a cost (pep8, pii, toxicity): s ↦ −s */
    pst_sample_options sampling;
    int max_rounds;         /* rounds of sampling to replace empty / identical pairs (default 8) */
} pst_pairs_make_options;
void pst_pairs_make_options_default(pst_pairs_make_options *o);

typedef struct {
    int n, ties;
    int discarded;               /* pairs resampled: an empty or identical continuation */
    double achievable_accuracy;  /* E[agreement of the labels with the oracle's order] over the non-tie
                                    pairs: 1 without noise, mean σ(|s_1 − s_2|/T) with it */
    double mean_abs_gap;         /* mean |s_1 − s_2| */
} pst_pairs_make_stats;

/* n pairs: pair i continues prompts[i mod n_prompts] (n_prompts 0: unconditional, prompt ""),
 * reading <|endoftext|> + prompt, with two samples of m; labelled by the oracle's score of
 * each continuation (the prompt as its context). *out: malloc'd pairs (pst_pair_set-owned
 * strings; free with pst_pair_set_free on {out, n}). */
int pst_pairs_make(pst_gpt2 *m, pst_tokenizer *tok, pst_scorer *oracle, const char *const *prompts, int n_prompts,
                   const pst_pairs_make_options *o, pst_rng *rng, pst_pair **out, pst_pairs_make_stats *st,
                   pst_error *err);

/* ---- training a reward model --------------------------------------------------------- */

typedef struct {
    int epochs, batch;          /* passes over the training pairs; pairs per step */
    double lr, lr_min;          /* AdamW, linear warmup then cosine decay to lr_min */
    long warmup;
    double weight_decay;        /* 2-D trunk weights only (the head is not decayed) */
    double grad_clip;           /* global norm over trunk and head (0: off) */
    double held_out;            /* fraction of the pairs held out (a seeded shuffle) */
    long eval_every;            /* held-out evaluation every this many steps (0: at the end) */
    uint64_t seed;              /* the split, the order of the pairs, the head's initialisation */
    int quiet;                  /* no progress line */
    const char *out_dir;        /* the reward-model directory written (+ metrics.jsonl) */
} pst_rm_train_options;
void pst_rm_train_options_default(pst_rm_train_options *o);

/* Held-out evaluation. Reliability: each pair counts once with its confidence
 * c = max(σ(r_w − r_l), σ(r_l − r_w)) ∈ [0.5, 1], correct when r_w > r_l; bin k holds
 * c ∈ [0.5 + 0.1k, 0.6 + 0.1k) (the last bin includes 1); ECE = Σ_k n_k/n·|acc_k − conf_k|.
 * Ties count in the loss, not in the accuracy nor the table. */
#define PST_RELIABILITY_BINS 5
typedef struct {
    pst_pair_stats stats;
    double accuracy_se;   /* √(acc(1 − acc)/k), k non-tie pairs */
    double ece;
    int bin_n[PST_RELIABILITY_BINS];
    double bin_confidence[PST_RELIABILITY_BINS], bin_accuracy[PST_RELIABILITY_BINS];
} pst_rm_eval;
/* The same table from per-pair margins (r_w − r_l, or DPO's β·m) of batches of pairs: add each
 * batch (loss: its mean loss), then finish once. */
void pst_pair_eval_add(pst_rm_eval *e, const pst_token_pair *pairs, const double *margin, int n, double loss);
void pst_pair_eval_finish(pst_rm_eval *e);
int pst_rm_evaluate(pst_reward_model *rm, const pst_token_pair *pairs, int n, int batch, pst_rm_eval *out,
                    pst_error *err);

/* Splits the pairs (held_out of them, at least 1 when n >= 2), trains rm on the rest by
 * Bradley–Terry (AdamW on trunk and head), evaluates the held-out pairs every eval_every
 * steps and at the end, writing one JSON line per evaluation to out_dir/metrics.jsonl
 * (step, train loss and accuracy since the last line, held-out loss, accuracy ± se, ECE,
 * the reliability table), and saves rm into out_dir (pst_reward_model_save). *final: the
 * last held-out evaluation. */
int pst_rm_train(pst_reward_model *rm, const pst_token_pair *pairs, int n, const pst_rm_train_options *o,
                 pst_rm_eval *final, pst_error *err);

/* ---- DPO: a policy trained on the pairs directly (src/train/dpo.c) ---------------------- */

typedef struct {
    pst_dpo_loss_kind loss;
    double beta;                /* the KL weight β: the optimum is a·exp(r/β)/Z (> 0) */
    double label_smoothing;     /* ε of cDPO (sigmoid loss only), in [0, 0.5) */
    long steps;                 /* optimiser steps */
    int batch;                  /* pairs per step */
    int micro_batch;            /* pairs per forward/backward (0: the whole batch) */
    double lr, lr_min;          /* AdamW, linear warmup then cosine decay to lr_min */
    long warmup;
    double weight_decay, grad_clip;
    double held_out;            /* fraction of the pairs held out (a seeded shuffle) */
    long eval_every;            /* measurements every this many steps (0: at the end) */
    int n_kl;                   /* samples of π for KL(π‖a) at each measurement (256) */
    pst_sample_options sampling; /* how they are drawn (eot_token: the tokenizer's <|endoftext|>) */
    uint64_t seed;
    const char *metrics_path;   /* JSONL, one line per measurement (NULL: none) */
    int quiet;
} pst_dpo_options;
void pst_dpo_options_default(pst_dpo_options *o);
int pst_dpo_options_check(const pst_dpo_options *o, pst_error *err); /* errors set err->field */

typedef struct {
    long step;
    pst_rm_eval held_out;        /* implicit-reward loss, accuracy ± se, margin β·m, reliability */
    pst_estimate kl_policy_prior; /* KL(π‖a) from n_kl samples of π */
    int has_exact;               /* a reference set of exact samples of p was given */
    pst_exact_report exact;      /* KL(p‖π), TVD, dropped mass on it */
} pst_dpo_report;

/* Trains policy by the DPO loss o->loss on the pairs (tokenized with pst_pairs_tokenize), the
 * reference being prior (its log-probs of every response computed once). A seeded held_out
 * fraction is held out; every eval_every steps and at the end it measures on them the
 * implicit reward accuracy and margin, KL(π‖a) from π's samples (continuing the held-out
 * prompts in turn) and, when target and ref are given, KL(p‖π) on the exact samples of p
 * (pst_reference_evaluate), one JSON line each in o->metrics_path. *final: the last one. */
int pst_dpo_train(pst_gpt2 *policy, pst_gpt2 *prior, const pst_token_pair *pairs, int n, const pst_target *target,
                  const pst_reference *ref, const pst_dpo_options *o, pst_dpo_report *final, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
