/* posterior — target layer: samplers from p = P/Z — rejection, quasi-rejection and
 * independent Metropolis–Hastings over scored samples of q, and exact samples of p
 * (rejection from the prior: the yardstick) with the estimates they give. */
#ifndef POSTERIOR_SAMPLER_H
#define POSTERIOR_SAMPLER_H

#include "posterior/comm.h"
#include "posterior/distribution.h"
#include "posterior/estimate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pst_target pst_target; /* include/posterior/target.h */

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
    /* Data parallel (NULL: one rank): each round's draws of a split over comm's ranks
     * (pst_draw_scored_split: the draws of one rank) and every rank accepts alike, so
     * every rank gets the same exact samples. Collective; an over-budget error, found
     * alike by every rank, is said by rank 0 alone (empty message elsewhere). */
    const pst_comm *comm;
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

/* Reference sets as JSON lines: a header {"posterior_reference": 1, "target_hash",
 * "sampler", "n", "proposed", "log_envelope", "log_z", "log_z_se", "max_new_tokens",
 * "context"} and one line per sample {"tokens", "log_prior", "log_target"}. Saved with
 * one atomic rename; loading refuses a set drawn for another target (hash differs). */
int pst_reference_save(const char *path, const pst_reference *r, pst_error *err);
int pst_reference_load(const char *path, uint64_t target_hash, pst_reference *r, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
