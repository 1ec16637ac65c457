/* posterior — target layer: the posterior p(x) = P(x)/Z as an energy-based model.
 *
 *  - pst_distribution: what estimators, samplers and trainers see of a model —
 *    sample a batch (with log q, the log-prob under the distribution really drawn
 *    from, and the raw model log-prob), score log-probs, and, for trainable
 *    policies, accumulate ∇θ Σ_i c_i·log π_θ(x_i) and take an optimiser step.
 *    Implemented by an enumerable toy (pst_toy) and by the GPT-2 prior (pst_gpt2).
 *  - pst_target: log P(x) = log a(x) + evidence term (pointwise Σ log b_i(x),
 *    distributional λ·φ(x), KL-RL r(x)/β; conditional a(x|c)·b(x,c) through contexts).
 *  - estimators from samples of any proposal q, with standard errors (DESIGN.md §2);
 *  - λ fitting (Newton on the convex dual); samplers: rejection, quasi-rejection,
 *    independent Metropolis–Hastings.
 */
#ifndef POSTERIOR_TARGET_H
#define POSTERIOR_TARGET_H

#include "posterior/base.h"
#include "posterior/prior.h"
#include "posterior/tokenizer.h"

/* A token sequence that is not owned (a context / prompt). */
typedef struct {
    const int *tokens;
    int n;
} pst_seq;

/* ---- the distribution interface -------------------------------------- */

typedef struct pst_distribution pst_distribution;
struct pst_distribution {
    void *self;
    const char *name;
    /* Draws n sequences, sample i continuing contexts[i] (contexts NULL or
     * contexts[i].n == 0: unconditional). out[i].tokens is malloc'd (free with
     * pst_sample_free); out[i].logprob_proposal = log q, out[i].logprob_model = log π. */
    int (*sample)(void *self, const pst_seq *contexts, int n, pst_rng *rng, pst_sample *out,
                  pst_error *err);
    /* logprob[i] = log π(xs[i] | contexts[i]) under the raw model. */
    int (*score)(void *self, const pst_seq *contexts, const pst_sample *xs, int n,
                 double *logprob, pst_error *err);
    /* Trainable policies only (NULL otherwise). grad += ∇θ Σ_i coef[i]·log π(x_i | c_i);
     * logprob (may be NULL) receives log π(x_i | c_i) of the same forward pass. */
    int (*accumulate)(void *self, const pst_seq *contexts, const pst_sample *xs,
                      const double *coef, int n, double *logprob, pst_error *err);
    void (*zero_grad)(void *self);
    /* One optimiser step that INCREASES Σ coef·log π (gradient ascent), learning rate lr. */
    int (*step)(void *self, double lr, pst_error *err);
    /* A frozen copy of the current model (e.g. to become a proposal q). */
    int (*clone)(void *self, pst_distribution *out, pst_error *err);
    /* Model parameters (and optimiser state) to / from a directory. */
    int (*save)(void *self, const char *dir, pst_error *err);
    int (*load)(void *self, const char *dir, pst_error *err);
    void (*destroy)(void *self);
};

/* Calls d->destroy (if any) and zeroes d. */
void pst_distribution_free(pst_distribution *d);

/* ---- the enumerable toy ------------------------------------------------ */

/* A table-driven autoregressive model over `vocab` tokens (3..5; token 0 is the
 * end token) of at most max_len (1..5) tokens: a sequence stops when it draws the
 * end token (which is kept) or after max_len tokens. The next-token logits are a
 * table indexed by the whole prefix, so every distribution over these sequences
 * (in particular every posterior p) is representable:
 *     π(x_t = v | x_<t) = softmax(logits[prefix_index(x_<t), :] / T)[v]
 * A context is a prefix of non-end tokens that is not scored. Every sequence can
 * be listed, so P, Z and p are exact. Trainable: analytic gradient, SGD or Adam. */
#define PST_TOY_MAX_VOCAB 5
#define PST_TOY_MAX_LEN 5
#define PST_TOY_MAX_PREFIXES 341 /* Σ_{t<5} 4^t prefixes of non-end tokens */
typedef struct {
    int vocab, max_len;
    double logits[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    double grad[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    /* optimiser: adam != 0 → Adam(beta1, beta2, eps) with bias correction, else SGD */
    int adam;
    double beta1, beta2, eps;
    double m[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    double v[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    long steps;
    double temperature; /* sampling temperature (1 = the model): log q is the warped log-prob */
} pst_toy;

/* Row of the logits table for a prefix of n non-end tokens (n < max_len). */
int pst_toy_prefix_index(const pst_toy *toy, const int *prefix, int n);

/* Logits ~ N(0, scale²) from rng; Adam (0.9, 0.999, 1e-8); temperature 1. */
int pst_toy_init(pst_toy *toy, int vocab, int max_len, double scale, pst_rng *rng, pst_error *err);
/* log π(x | context) of a continuation x (n tokens) at temperature t (1: the model). */
double pst_toy_logprob(const pst_toy *toy, const pst_seq *context, const int *x, int n, double temperature);
/* Every continuation of `context` (NULL: none): seqs[i] = tokens (n_seqs × max_len,
 * padded with -1), lens[i], logprob[i] = log π (at temperature 1). Arrays malloc'd. */
int pst_toy_enumerate(const pst_toy *toy, const pst_seq *context, int **seqs, int **lens,
                      double **logprob, int *n_seqs, pst_error *err);
/* A pst_distribution view of toy (not owned: destroy does nothing). */
void pst_toy_distribution(pst_toy *toy, pst_distribution *d);

/* ---- the GPT-2 prior / policy ---------------------------------------- */

typedef struct {
    pst_sample_options sampling; /* temperature / top-k / top-p: log q is the warped log-prob */
    float beta1, beta2, eps, weight_decay, grad_clip;
    int micro_batch;             /* rows per forward/backward (0: all at once) */
} pst_gpt2_policy_options;

void pst_gpt2_policy_options_default(pst_gpt2_policy_options *o);
/* Loads the model directory as a distribution (trainable: AdamW, created lazily). */
int pst_gpt2_distribution_load(const char *dir, const pst_gpt2_policy_options *o,
                               pst_distribution *d, pst_error *err);
/* Wraps an existing model (copied) as a distribution. */
int pst_gpt2_distribution_from(const pst_gpt2 *m, const pst_gpt2_policy_options *o,
                               pst_distribution *d, pst_error *err);

/* ---- targets ------------------------------------------------------------ */

typedef enum {
    PST_TARGET_POINTWISE = 0,      /* log P = log a + Σ_j log b_j(x),  b_j ≥ 0 */
    PST_TARGET_DISTRIBUTIONAL = 1, /* log P = log a + λ·φ(x), E_p[φ] = μ̄ */
    PST_TARGET_KLRL = 2            /* log P = log a + r(x)/β */
} pst_target_kind;

#define PST_TARGET_MAX_FEATURES 16

/* Evidence for n samples: out[i*k + j] = b_j(x_i) (pointwise), φ_j(x_i)
 * (distributional) or r(x_i) (KL-RL, k = 1), each given contexts[i] (may be NULL). */
typedef int (*pst_evidence_fn)(void *ctx, const pst_seq *contexts, const pst_sample *xs,
                               int n, double *out, pst_error *err);

typedef struct {
    pst_target_kind kind;
    int n_features;                          /* k */
    pst_evidence_fn evidence;
    void *evidence_ctx;
    pst_distribution *prior;                 /* a(x | c) (not owned) */
    double lambda[PST_TARGET_MAX_FEATURES];  /* distributional */
    double moments[PST_TARGET_MAX_FEATURES]; /* μ̄, distributional */
    double beta;                             /* KL-RL */
    /* Known range of each feature (bounded[j] != 0: feature_lo[j] ≤ φ_j ≤ feature_hi[j]),
     * e.g. [0, 1] for a pointwise scorer used as a feature. All bounded: the target has
     * the rejection envelope of pst_target_log_envelope. */
    int bounded[PST_TARGET_MAX_FEATURES];
    double feature_lo[PST_TARGET_MAX_FEATURES], feature_hi[PST_TARGET_MAX_FEATURES];
} pst_target;

const char *pst_target_kind_name(pst_target_kind kind);
int pst_target_kind_parse(const char *name, pst_target_kind *kind, pst_error *err);
/* log P(x) − log a(x) from the k features of one sample. */
double pst_target_log_evidence(const pst_target *t, const double *features);
/* For n samples: features [n, k] (may be NULL) and log_target[i] = log P(x_i | c_i).
 * log_prior[i] = log a(x_i | c_i): when log_prior_known is not NULL it is copied from
 * there (e.g. samples drawn from the prior), otherwise the prior scores the samples. */
int pst_target_score(const pst_target *t, const pst_seq *contexts, const pst_sample *xs, int n,
                     const double *log_prior_known, double *log_prior, double *features,
                     double *log_target, pst_error *err);

/* n samples of q drawn in batches of `batch` and scored under the target.
 * log_prior is the sampler's raw log-prob when q is the prior itself. */
typedef struct {
    int n, k;
    pst_sample *xs;      /* [n] */
    double *log_q;       /* [n] log q (the distribution really sampled) */
    double *log_model;   /* [n] raw log-prob of q's model */
    double *log_prior;   /* [n] log a */
    double *features;    /* [n, k] */
    double *log_target;  /* [n] log P */
} pst_scored_batch;

int pst_draw_scored(const pst_target *t, pst_distribution *q, const pst_seq *context, int n, int batch,
                    pst_rng *rng, pst_scored_batch *out, pst_error *err);
void pst_scored_batch_free(pst_scored_batch *b);

/* ---- estimators ------------------------------------------------------------
 * Samples x_i ~ q, i < n; log_q[i] = log q(x_i) of the distribution really drawn
 * from. Importance weights w_i = P(x_i)/q(x_i), handled in log space. Standard
 * errors by the delta method over the sample means involved. */

typedef struct {
    double value, se;
} pst_estimate;

/* mean(u) with se = sd(u)/√n (unbiased variance; se 0 for n < 2). */
pst_estimate pst_estimate_mean(const double *u, int n);
/* Effective sample size (Σw)²/Σw² of log weights. */
double pst_effective_sample_size(const double *log_w, int n);
/* log Ẑ = log mean(P/q) (log-sum-exp); se of log Ẑ = sd(w)/(√n·Ẑ). */
pst_estimate pst_estimate_log_partition(const double *log_target, const double *log_q, int n);
/* KL(p‖π) = −log Ẑ + mean[w·(log P − log π)]/Ẑ. With log_pi = log_q it is KL(p‖q). */
pst_estimate pst_estimate_kl_target_policy(const double *log_target, const double *log_q,
                                           const double *log_pi, int n);
/* KL(π‖a) = E_π[log π − log a] = mean[(π/q)(log π − log a)]. */
pst_estimate pst_estimate_kl_policy_prior(const double *log_pi, const double *log_prior,
                                          const double *log_q, int n);
/* TVD(p, π) = ½·mean|π/q − P/(Ẑ·q)|. */
pst_estimate pst_estimate_tvd(const double *log_target, const double *log_q, const double *log_pi,
                              int n);
/* E_p[φ_j] by SNIS: Σ w_i φ_ij / Σ w_i, features [n, k], out [k]. */
void pst_estimate_moments_target(const double *log_target, const double *log_q,
                                 const double *features, int n, int k, pst_estimate *out);
/* E_π[φ_j] = mean[(π/q)·φ_ij]; with log_pi == log_q a plain mean. */
void pst_estimate_moments_policy(const double *log_pi, const double *log_q, const double *features,
                                 int n, int k, pst_estimate *out);

/* Conditional targets: one Z_c per context. group[i] in [0, n_groups) names the
 * context of sample i. Fills log_z[g] (per context; may be NULL) and returns the
 * mean over contexts of KL(p_c‖π_c) (log_pi NULL: returns the mean log Ẑ_c). */
pst_estimate pst_estimate_conditional(const double *log_target, const double *log_q,
                                      const double *log_pi, const int *group, int n, int n_groups,
                                      pst_estimate *log_z);

/* ---- λ fitting -------------------------------------------------------------- */

typedef struct {
    int iterations, converged;
    double grad_norm;                          /* |E_p̂[φ] − μ̄| (max norm) at the end */
    double ess;                                /* of the final SNIS weights */
    int low_ess;                               /* ess < max(30, 1% of n): do not trust λ */
    double fitted[PST_TARGET_MAX_FEATURES];    /* E_p̂[φ] under the fitted λ */
    /* Sampling error of the fit (delta method, x_i ~ q independent):
     *   S = Σ_i w̃_i² (φ_i − E_p̂φ)(φ_i − E_p̂φ)ᵀ   (variance of the SNIS moment),
     *   moment_se_j = √S_jj: the fitted target's true E_p[φ_j] is μ̄_j ± this;
     *   lambda_se_j = √(H⁻¹ S H⁻¹)_jj with H = Cov_p̂[φ] (NAN when H is singular). */
    double moment_se[PST_TARGET_MAX_FEATURES];
    double lambda_se[PST_TARGET_MAX_FEATURES];
} pst_lambda_fit;

/* Solves E_p[φ] = μ̄ for p ∝ a·exp(λ·φ) by SNIS over samples x_i ~ q: Newton with
 * backtracking on the convex dual  L(λ) = log Σ_i exp(log a_i − log q_i + λ·φ_i) − λ·μ̄,
 * ∇L = E_p̂[φ] − μ̄, ∇²L = Cov_p̂[φ]. lambda holds the start on entry and the
 * solution on return. Fails (message naming the moment) when μ̄ is outside what
 * the samples can reach. The report's moment_se says how well the samples pin λ
 * down: with q = a and a rare feature it can be several hundredths. */
int pst_fit_lambda(const double *log_prior, const double *log_q, const double *features, int n,
                   int k, const double *moments, double *lambda, int max_iter, double tol,
                   pst_lambda_fit *report, pst_error *err);

/* ---- samplers from p -------------------------------------------------------- */

/* Rejection sampling: accept x_i ~ q with probability P/(M·q) = exp(log P − log q − log_m).
 * Exact when P ≤ M·q everywhere (q = a, b ≤ 1, log_m = 0); fails naming the sample
 * when a ratio exceeds 1. accept[i] ∈ {0,1}; returns 0 / -1. */
int pst_rejection_select(const double *log_target, const double *log_q, int n, double log_m,
                         pst_rng *rng, unsigned char *accept, int *n_accepted, pst_error *err);

/* Quasi-rejection sampling: accept with probability min(1, P/(β·q)); accepted
 * samples follow p_β ∝ min(q, P/β), which tends to p as β → 0. */
void pst_qrs_select(const double *log_target, const double *log_q, int n, double log_beta,
                    pst_rng *rng, unsigned char *accept, int *n_accepted);

typedef struct {
    double log_beta;
    pst_estimate acceptance;   /* E_q[min(1, P/(βq))] */
    pst_estimate tvd;          /* TVD(p_β, p) */
    pst_estimate kl;           /* KL(p‖p_β) */
} pst_qrs_report;

/* Acceptance rate and estimated divergence of p_β to p for one β, from samples of q. */
pst_qrs_report pst_qrs_diagnose(const double *log_target, const double *log_q, int n, double log_beta);

typedef struct {
    int proposed, accepted;
    double acceptance_rate;
    int distinct_states;
} pst_imh_stats;

/* Independent Metropolis–Hastings over proposals x_0..x_{n-1} ~ q: the chain starts
 * at x_0 and moves to x_i with probability min(1, w_i / w_current). chain[i] is the
 * index of the state after step i. */
void pst_imh_chain(const double *log_target, const double *log_q, int n, pst_rng *rng, int *chain,
                   pst_imh_stats *stats);

/* ---- exact samples of p: the yardstick --------------------------------------
 * Rejection sampling from the prior with an envelope P ≤ M·a gives samples of p
 * itself and Ẑ = M·(acceptance rate). Divergences estimated from them see the mass
 * of p that a policy has dropped, which importance sampling from the policy cannot. */

/* log M with P(x) ≤ M·a(x) for every x: 0 for pointwise targets (b ≤ 1), and
 * Σ_j max(λ_j lo_j, λ_j hi_j) for distributional targets whose features are all
 * bounded. Returns 1 when such an envelope is known, else 0 (KL-RL, unbounded φ). */
int pst_target_log_envelope(const pst_target *t, double *log_m);

/* A set of exact samples of p (x_i ~ p | context), stored beside a target. */
typedef struct {
    int n;
    pst_sample *xs;           /* [n] continuations; logprob_model = logprob_proposal = log a */
    double *log_prior;        /* [n] log a(x_i | c) */
    double *log_target;       /* [n] log P(x_i | c) */
    long proposed;            /* draws of a that gave them */
    double log_envelope;      /* log M */
    pst_estimate log_z;       /* log M + log(n / proposed), se √((1 − r)/(r·proposed)) */
    int exact;                /* 1: rejection sampling (exact) */
    int max_new_tokens;       /* the truncation the samples (and any policy compared) share */
    uint64_t target_hash;     /* pst_target_spec_hash of the target they were drawn for */
    int *context, n_context;  /* tokens of the context c (none: unconditional) */
} pst_reference;

typedef struct {
    int batch;                /* draws of a per round (64) */
    long max_proposals;       /* budget of draws (200000): over it is an error naming the rate */
} pst_exact_options;

void pst_exact_options_default(pst_exact_options *o);
/* n exact samples of p given context (NULL: none) by rejection from the target's
 * prior (plain sampling). Fails, naming the acceptance rate and the budget, as soon
 * as the budget cannot give n samples; fails when no envelope is known. */
int pst_draw_exact(const pst_target *t, const pst_seq *context, int n, const pst_exact_options *o, pst_rng *rng,
                   pst_reference *out, pst_error *err);
void pst_reference_free(pst_reference *r);

/* Samples of p with log π(x) − log a(x) below this count as dropped by π. */
#define PST_DROPPED_LOG_RATIO (-10.0)

typedef struct {
    int n;
    pst_estimate kl_target_policy; /* KL(p‖π) = mean(log P − log π) − log Ẑ */
    pst_estimate tvd;              /* TVD(p, π) = mean (1 − π Ẑ/P)_+ */
    pst_estimate log_z;
    double dropped_fraction;       /* share of p's samples with π/a < e^-10 */
} pst_exact_report;

/* Estimates from n exact samples of p with log P, log a and log π of each, and log Ẑ
 * with its standard error (delta method: the sample means' variance plus Ẑ's). */
int pst_estimate_exact(const double *log_target, const double *log_prior, const double *log_pi, int n,
                       pst_estimate log_z, pst_exact_report *out, pst_error *err);

/* out[i] = log d(x_i | c) of the reference samples. */
int pst_reference_logprobs(const pst_reference *r, pst_distribution *d, double *out, pst_error *err);
/* Measures policy π against a reference set of p: KL(p‖π), TVD(p, π), the share of
 * p's samples π has dropped, and (moments_p, [k], may be NULL) the exact E_p[φ_j] =
 * mean φ_j with se = sd/√n. The evidence is computed again; a log P that differs from
 * the one stored is an error (the scorers changed). */
int pst_reference_evaluate(const pst_target *t, const pst_reference *r, pst_distribution *policy,
                           pst_exact_report *out, pst_estimate *moments_p, pst_error *err);
/* When an evaluation cannot be trusted (bit flags):
 *   LOW_ESS   the importance-sampled estimates rest on an ESS below max(30, n/100)
 *   DISAGREE  |KL_IS − KL_exact| > 3·√(se_IS² + se_exact²)
 *   DROPPED   π/a < e^-10 on more than 1% of p's samples (π dropped part of p)
 * exact may be NULL (no exact samples: only LOW_ESS can be told). */
enum { PST_FLAG_LOW_ESS = 1, PST_FLAG_DISAGREE = 2, PST_FLAG_DROPPED = 4 };
int pst_yardstick_flags(pst_estimate kl_is, double ess, int n_is, const pst_exact_report *exact);

/* A policy must share the prior's tokenizer (same ids for the same texts): an error
 * naming both directories and their vocabularies otherwise. */
int pst_target_check_policy(const char *prior_dir, const char *policy_dir, pst_error *err);

/* ---- target specs (JSON) ---------------------------------------------------- */

/* A saved target: {"kind": "pointwise|distributional|klrl", "prior": DIR,
 *  "scorers": ["contains:...", ...], "lambda": [...], "moments": [...], "beta": B,
 *  "conditional": false}. Scorers are scorer spec strings (include/posterior/scorer.h):
 *  pointwise: the b_i (their product); distributional: their features φ, concatenated;
 *  KL-RL: one scorer whose score is r(x). */
typedef struct {
    pst_target_kind kind;
    char *prior;               /* model directory */
    int n_scorers;
    char **scorers;            /* scorer spec strings */
    int n_features;
    double lambda[PST_TARGET_MAX_FEATURES];
    double moments[PST_TARGET_MAX_FEATURES];
    int has_lambda;
    double beta;
    int conditional;
} pst_target_spec;

/* Parses and validates (kind known, prior given, lambda/moments sizes consistent,
 * beta > 0 for klrl). check_files: the prior directory must hold config.json. */
int pst_target_spec_parse(const char *json, const char *origin, int check_files,
                          pst_target_spec *spec, pst_error *err);
int pst_target_spec_load(const char *path, pst_target_spec *spec, pst_error *err);
/* A distributional spec without "lambda" (not fitted yet) would silently be p = a:
 * an error naming the spec for everything but `target fit`. Returns 0 / -1. */
int pst_target_spec_check_fitted(const pst_target_spec *spec, const char *path, pst_error *err);
/* Returns malloc'd JSON text. */
char *pst_target_spec_to_json(const pst_target_spec *spec, pst_error *err);
int pst_target_spec_save(const char *path, const pst_target_spec *spec, pst_error *err);
void pst_target_spec_free(pst_target_spec *spec);
/* FNV-1a 64 of what defines p: kind, scorers, λ, β, conditional, and the prior's
 * config.json and model.safetensors bytes (not its path). A reference set records it. */
int pst_target_spec_hash(const pst_target_spec *spec, uint64_t *hash, pst_error *err);
/* Reference sets as JSON lines: a header {"posterior_reference": 1, "target_hash",
 * "sampler", "n", "proposed", "log_envelope", "log_z", "log_z_se", "max_new_tokens",
 * "context"} and one line per sample {"tokens", "log_prior", "log_target"}. Saved with
 * one atomic rename; loading refuses a set drawn for another target (hash differs). */
int pst_reference_save(const char *path, const pst_reference *r, pst_error *err);
int pst_reference_load(const char *path, uint64_t target_hash, pst_reference *r, pst_error *err);

/* ---- targets over text: scorers on decoded samples ------------------------- */

/* Evidence computed by scorers (include/posterior/scorer.h) on the decoded text of
 * each sample (special tokens such as <|endoftext|> dropped), contexts decoded too.
 *   pointwise: feature j = b_j(x) of scorer j (each must be pointwise)
 *   distributional: the features φ of every scorer, concatenated
 *   klrl: the single scorer's score r(x) */
typedef struct pst_text_evidence pst_text_evidence;

/* tokenizer_dir holds vocab.json + merges.txt (usually the prior's directory).
 * An unknown or unsuitable scorer spec is an error naming it. */
int pst_text_evidence_create(pst_target_kind kind, char *const *scorer_specs, int n_scorers,
                             const char *tokenizer_dir, pst_text_evidence **out, pst_error *err);
void pst_text_evidence_free(pst_text_evidence *e);
int pst_text_evidence_n_features(const pst_text_evidence *e);
const char *pst_text_evidence_feature_name(const pst_text_evidence *e, int j);
/* Range of feature j when known: [0, 1] for a pointwise scorer's b. Returns 1 / 0. */
int pst_text_evidence_feature_range(const pst_text_evidence *e, int j, double *lo, double *hi);
/* The pst_evidence_fn; ctx is the pst_text_evidence. */
int pst_text_evidence_eval(void *ctx, const pst_seq *contexts, const pst_sample *xs, int n,
                           double *out, pst_error *err);
/* Decoded text of token ids, special tokens dropped (malloc'd, NUL-terminated). */
char *pst_text_evidence_decode(const pst_text_evidence *e, const int *ids, int n, size_t *len,
                               pst_error *err);
/* The tokenizer (for encoding prompts). */
pst_tokenizer *pst_text_evidence_tokenizer(const pst_text_evidence *e);

/* A target loaded from its spec: the prior (GPT-2 directory) as a distribution,
 * scorers over decoded text, and the pst_target tying them together. */
typedef struct {
    pst_target_spec spec;
    pst_distribution prior;
    pst_text_evidence *evidence;
    pst_target target;
} pst_target_bundle;

/* Takes ownership of *spec (cleared on return). prior_options may be NULL. */
int pst_target_bundle_open(pst_target_spec *spec, const pst_gpt2_policy_options *prior_options,
                           pst_target_bundle *b, pst_error *err);
int pst_target_bundle_load(const char *spec_path, const pst_gpt2_policy_options *prior_options,
                           pst_target_bundle *b, pst_error *err);
void pst_target_bundle_free(pst_target_bundle *b);
/* The bundle's reference set of exact samples of p: loaded from path (refused when
 * drawn for another target, truncation or context), or, path NULL, n drawn now by
 * rejection (pst_draw_exact; the prior must sample with max_new_tokens). */
int pst_target_bundle_reference(const pst_target_bundle *b, const char *path, int n, int max_new_tokens,
                                const pst_seq *context, const pst_exact_options *o, pst_rng *rng, pst_reference *out,
                                pst_error *err);

#endif
