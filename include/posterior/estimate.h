/* posterior — target layer: estimators from samples of a proposal q, with standard
 * errors (docs/design.md: importance weights, log Z, KL, TVD, moments). */
#ifndef POSTERIOR_ESTIMATE_H
#define POSTERIOR_ESTIMATE_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif

#endif
