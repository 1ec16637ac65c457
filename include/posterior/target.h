/* posterior — target layer: the posterior p(x) = P(x)/Z as an energy-based model.
 *
 *  - pst_target: log P(x) = log a(x) + evidence term (pointwise Σ log b_i(x),
 *    distributional λ·φ(x), KL-RL r(x)/β; conditional a(x|c)·b(x,c) through contexts);
 *  - λ fitting (Newton on the convex dual);
 *  - target specs (JSON), evidence computed by scorers on decoded text, and the bundle
 *    that opens a spec (prior + evidence + target).
 * The concepts it builds on have their own headers, included here: the distribution
 * interface (distribution.h), the enumerable toy (toy.h), estimators (estimate.h) and
 * samplers, exact samples of p included (sampler.h). Names: docs/design.md, "Glossary". */
#ifndef POSTERIOR_TARGET_H
#define POSTERIOR_TARGET_H

#include "posterior/base.h"
#include "posterior/prior.h"
#include "posterior/tokenizer.h"
#include "posterior/comm.h"
#include "posterior/distribution.h"
#include "posterior/corpus.h"
#include "posterior/toy.h"
#include "posterior/estimate.h"
#include "posterior/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

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

struct pst_target {
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
};

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
/* The same, data parallel over comm's N ranks (NULL or one rank: pst_draw_scored): of each
 * batch of m samples, rank r draws (pst_dist_sample_rows) and scores rows
 * [⌊m·r/N⌋, ⌊m·(r+1)/N⌋), the rows one rank draws; then every rank receives every row (its
 * tokens and numbers, copied exactly: sums with zeros), so that out is one rank's batch (to
 * the rounding of log-probs computed over other row counts) on every rank, and rng has
 * advanced alike. Collective; q must support sample_rows. */
int pst_draw_scored_split(const pst_target *t, pst_distribution *q, const pst_seq *context, int n, int batch,
                          pst_rng *rng, const pst_comm *comm, pst_scored_batch *out, pst_error *err);
void pst_scored_batch_free(pst_scored_batch *b);

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
/* The contexts of a conditional target from a prompts file (pst_prompts_read, corpus.h),
 * tokenized by the bundle's tokenizer: *contexts is [*n], each owning its tokens (free
 * with pst_contexts_free); lines (may be NULL) receives their line numbers in the file
 * ([*n], malloc'd). A prompt of no tokens, or one that leaves no room for max_new_tokens
 * in the prior's context window, is an error naming its line. */
int pst_target_bundle_contexts(const pst_target_bundle *b, const char *path, int max_new_tokens, pst_seq **contexts,
                               long **lines, int *n, pst_error *err);
/* A context of n_tokens must leave max_new_tokens of the prior's n_positions: else an error
 * saying how long a context may be. */
int pst_target_bundle_check_context(const pst_target_bundle *b, int n_tokens, int max_new_tokens, pst_error *err);
/* A target with a context-aware scorer (pst_scorer_needs_context) refuses to run with no
 * contexts (n_contexts 0): an error naming the scorer (field "prompts"). Opening the bundle
 * already refuses such a scorer in a target that is not "conditional". */
int pst_target_bundle_require_contexts(const pst_target_bundle *b, int n_contexts, pst_error *err);
void pst_contexts_free(pst_seq *contexts, int n);

#ifdef __cplusplus
}
#endif

#endif
