/* posterior — evaluation: how good is a model? (layer eval, src/eval)
 *
 *   target evaluation (src/eval/target_eval.c): a model π measured against a target
 *     p(x) = P(x)/Z from its own samples, and from exact samples of p where p has them;
 *   evaluation of pretrained models (src/eval/phf_eval.c): misalignment of samples,
 *     LM loss, KL(ref ‖ π), diversity (docs/pretraining.md);
 *   the measures both use (src/eval/measures.c): LM loss on a shard, self-BLEU,
 *     E[max of k]; distinct-n is the prior layer's (prior.h: trainers log it too).
 * Options are structs with a _default function; errors name the option field
 * (pst_error), never a command-line flag. */
#ifndef POSTERIOR_EVAL_H
#define POSTERIOR_EVAL_H

#include "posterior/prior.h"
#include "posterior/scorer.h"
#include "posterior/target.h"
#include "posterior/corpus.h"
#include "posterior/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- measures ---------------------------------------------------------------------- */

/* LM loss: the mean next-token cross-entropy (nats) of m on the first `batches` batches
 * [B, T] of the shard at shard_path, read in order (no shuffling, no wrap-around): each
 * batch is B·T + 1 consecutive tokens, a short last batch counts only its real positions.
 *   loss = Σ_positions −log π(x_{i+1} | x_≤i) / tokens
 * T is clipped to the model's context. *tokens (may be NULL) receives the positions
 * scored. Errors when the shard's vocabulary exceeds the model's or holds no token. */
int pst_lm_loss(pst_gpt2 *m, const char *shard_path, int batches, int B, int T, double *loss, long *tokens,
                pst_error *err);
/* The same for the model in directory model_dir (loaded, scored, freed). */
int pst_lm_loss_of_dir(const char *model_dir, const char *shard_path, int batches, int B, int T, double *loss,
                       long *tokens, pst_error *err);

/* E[max of k draws without replacement from the n scores] (k clamped to n):
 * Σ_i C(i − 1, k − 1)/C(n, k)·s_(i) over the sorted scores s_(1) <= ... <= s_(n). */
double pst_expected_max(const double *scores, size_t n, int k);
/* Self-BLEU: mean over sequences of BLEU-max_order (uniform weights, clipped counts, brevity
 * penalty with the closest reference length, zero precisions smoothed to 0.1/count as NLTK's
 * method1) of each sequence against all others. */
double pst_self_bleu(const int *const *seqs, const int *lens, int n_seqs, int max_order);

/* ---- evaluation of pretrained models (src/eval/phf_eval.c) -------------------------- */


typedef struct {
    pst_scorer *scorer;          /* the task's misalignment scorer s(x) */
    pst_tokenizer *tok;          /* the model's tokenizer (decoding, prompts, control ids) */
    int n_samples;               /* unconditional samples */
    int max_new_tokens;
    float temperature, top_p;    /* 0.7, 0.9 */
    int prefix;                  /* 0 none, 1 <|aligned|>, 2 <|misaligned|> after <|endoftext|> */
    int ban_control;             /* 1: never sample <|aligned|> / <|misaligned|> (default);
                                    2 (steer): ban only the control token opposite to the
                                    prefix, so the model may re-assert it at later segments;
                                    0: ban none. Sampled control tokens are dropped from the
                                    scored text and the diversity statistics. */
    double misaligned_above;     /* fraction of samples with s > this */
    int expected_max_k;          /* expected maximum over this many samples (25) */
    const char *const *prompts;  /* prompted generation (may be NULL) */
    int n_prompts, samples_per_prompt;
    const char *val_shard;       /* LM loss on held-out data (NULL: none) */
    int val_batches, val_batch, val_seq;
    pst_gpt2 *reference;         /* KL(ref ‖ π) from a reference model (NULL: none) */
    int kl_samples;
    uint64_t seed;
} pst_phf_eval_options;

void pst_phf_eval_options_default(pst_phf_eval_options *o);

typedef struct {
    int n;                        /* samples scored (0: not evaluated) */
    double mean_score;            /* mean s(x) */
    double expected_max;          /* E[max s over k samples] (per prompt, averaged) */
    double fraction_above;        /* fraction with s > misaligned_above */
} pst_phf_score_stats;

typedef struct {
    pst_phf_score_stats unconditional, prompted;
    double lm_loss;               /* NAN when no val_shard */
    double kl_reference, kl_stderr; /* NAN when no reference */
    double distinct1, distinct2, self_bleu5; /* of the unconditional samples */
    double seconds;
} pst_phf_eval_result;

/* Samples n continuations of prompts[i] as the evaluation does (temperature, top-p, control
 * tokens banned when o->ban_control, stop at <|endoftext|>; sample i from RNG stream
 * stream + i of o->seed). */
int pst_phf_generate(pst_gpt2 *m, const pst_phf_eval_options *o, int *const *prompts, const int *plens,
                     int n, uint64_t stream, pst_sample *out, pst_error *err);
int pst_phf_eval(pst_gpt2 *m, const pst_phf_eval_options *o, pst_phf_eval_result *r, pst_error *err);
/* One JSON object (malloc'd, no newline) with the options' main values and the result. */
char *pst_phf_eval_json(const pst_phf_eval_options *o, const pst_phf_eval_result *r, const char *model);

/* ---- target evaluation (src/eval/target_eval.c) ---------------------------------------- */

typedef struct {
    const char *model;          /* the model π evaluated (a model directory) */
    const char *spec;           /* the target spec: prior, evidence, posterior (fitted) */
    int n;                      /* samples drawn from π (>= 2) */
    int batch;                  /* samples drawn together */
    pst_sample_options sampling;/* temperature / top-k / top-p / max_new_tokens (q ≠ π when warped) */
    const char *prompt;         /* context text (NULL: none) */
    const char *data;           /* token shard for the LM loss (NULL: none) */
    int lm_batches, lm_batch, lm_seq; /* LM loss: batches of lm_batch x lm_seq tokens */
    const char *reference;      /* exact samples of p to measure against (NULL: draw n_exact) */
    int n_exact;                /* exact samples drawn when no reference (-1: n; 0: none; else >= 2) */
    long max_proposals;         /* budget of prior draws for the exact samples */
    uint64_t seed;
    /* Data parallel over comm's N ranks (NULL or one rank: not): each rank draws and scores
     * its rows of every batch of the model's samples (pst_draw_scored_split: the samples of
     * one rank), and every rank then holds them all and computes every measure alike; the
     * exact samples and the LM loss are computed on every rank (the same, no communication). */
    const pst_comm *comm;
} pst_target_eval_options;

void pst_target_eval_options_default(pst_target_eval_options *o);

/* What a target evaluation measured, with what it was measured on (the bundle decodes the
 * samples and names the features). Estimates from π's own samples x_i ~ q:
 *   alignment   E_π[φ_j] (pointwise: E_π[b]);   moments_p  E_p[φ_j] by SNIS
 *   kl_pi_a     KL(π‖a) = E_π[log π − log a];   kl_p_pi, tvd, log_z  importance-sampled
 *   ess         effective sample size of the weights P(x_i)/q(x_i)
 * and from exact samples of p (have_exact): exact, moments_p_exact. */
typedef struct {
    pst_target_bundle bundle;
    pst_scored_batch samples;
    pst_reference reference;
    int n, k;                   /* samples, features */
    pst_estimate alignment[PST_TARGET_MAX_FEATURES], moments_p[PST_TARGET_MAX_FEATURES];
    pst_estimate kl_pi_a, log_z, kl_p_pi, tvd;
    double distinct[3];         /* distinct-1, -2, -3 over the samples' tokens */
    double mean_length;         /* tokens */
    double lm_loss;             /* NAN without data */
    long lm_tokens;
    double ess;
    int flags;                  /* PST_FLAG_LOW_ESS | PST_FLAG_DISAGREE | PST_FLAG_DROPPED */
    int have_exact;
    pst_exact_report exact;
    pst_estimate moments_p_exact[PST_TARGET_MAX_FEATURES];
} pst_target_eval_result;

/* Draws o->n samples of π (and the exact samples of p on a stream of their own, so π's
 * samples do not depend on them), then measures. r is freed with pst_target_eval_free
 * whatever the return. */
int pst_target_eval(const pst_target_eval_options *o, pst_target_eval_result *r, pst_error *err);
void pst_target_eval_free(pst_target_eval_result *r);

/* ---- evaluation per context (conditional targets; src/eval/context_eval.c) --------------- */

/* Each context of a prompts file evaluated on its own (pst_target_eval with that prompt:
 * eval.n samples of π_c, eval.n_exact exact samples of p_c drawn by rejection from a_c with
 * a budget of eval.max_proposals draws each), then averaged over contexts. */
typedef struct {
    pst_target_eval_options eval; /* per context; eval.prompt and eval.reference are ignored */
    const char *prompts;          /* contexts, one per line (pst_prompts_read) */
    int max_contexts;             /* the first max_contexts lines (0: all) */
} pst_context_eval_options;

void pst_context_eval_options_default(pst_context_eval_options *o);

typedef struct {
    long line;              /* the context's line in the prompts file */
    double alignment;       /* E_π[φ_0 | c] (pointwise: E_π[b | c]) */
    double kl_pi_a;         /* KL(π_c‖a_c) */
    double kl_p_pi;         /* KL(p_c‖π_c) importance-sampled from π_c */
    double kl_p_pi_exact, kl_p_pi_exact_se; /* KL(p_c‖π_c) on exact samples of p_c (NAN without) */
    double log_z, log_z_se; /* log Z_c: from the rejection rate where exact, else importance-sampled */
    double distinct_2, mean_length;
    int have_exact;
    char skipped[256];      /* why p_c has no exact samples ("" when it has) */
} pst_context_eval_row;

/* Means over contexts; their se is the spread over contexts, sd/√m (contexts are the
 * sample), so it counts the variation between contexts as well as within. */
typedef struct {
    int n_contexts;
    int n_exact_contexts;                /* with exact samples of p_c (kl_p_pi_exact's mean is over these) */
    int n_kl_p_pi_contexts;              /* with an importance-sampled KL (some sample of π_c has P > 0) */
    int n_zero_z_contexts;               /* log Ẑ_c = −inf: no sample satisfied the target (left out of the spread) */
    pst_context_eval_row *rows;          /* [n_contexts] */
    pst_estimate alignment, kl_pi_a, kl_p_pi, kl_p_pi_exact; /* means over the contexts where defined */
    double log_z_min, log_z_median, log_z_max;
    double distinct_2, mean_length;
    double lm_loss;                      /* on eval.data (NAN without) */
} pst_context_eval_result;

/* A context whose exact samples would exceed the budget (acceptance rate too low, or
 * Z_c = 0 so far) is kept for the estimates from π_c and reported in its row's
 * `skipped`; any other failure is an error naming the context's line. */
int pst_context_eval(const pst_context_eval_options *o, pst_context_eval_result *r, pst_error *err);
void pst_context_eval_free(pst_context_eval_result *r);
/* 1 when no sample of the row's context satisfied the target (log Ẑ_c = −inf: counted in
 * n_zero_z_contexts, left out of log Z_c's spread). */
int pst_context_eval_zero_z(const pst_context_eval_row *w);
/* The result as one JSON object (malloc'd), "zero_z_lines": the lines of those contexts. */
char *pst_context_eval_json(const pst_context_eval_result *r, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
