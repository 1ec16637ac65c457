/* Importance-sampling estimators with x_i ~ q (docs/design.md, "Glossary"; formulas in docs/posterior.md), in log space.
 *
 * Weights w_i = P(x_i)/q(x_i) are kept scaled, w_i = exp(lw_i − M) with M = max lw,
 * so nothing overflows; ratios are scale-free and log Ẑ adds M back.
 * Standard errors by the delta method: an estimator f(mean v_1, ..., mean v_m) has
 * influence u_i = Σ_k ∂f/∂m_k · v_{k,i} and se = sd(u)/√n. */
#include "posterior/target.h"

#include <math.h>
#include <stdlib.h>

/* sd(u)/√n with the unbiased variance; 0 for n < 2. */
static double se_of(const double *u, int n) {
    if (n < 2) return 0;
    double mean = 0, ss = 0;
    for (int i = 0; i < n; i++) mean += u[i];
    mean /= n;
    for (int i = 0; i < n; i++) ss += (u[i] - mean) * (u[i] - mean);
    return sqrt(ss / (n - 1) / n);
}

/* Scaled weights w[i] = exp(log_a[i] − log_b[i] − M) and their mean B (*mean_w);
 * returns M (−inf if all zero). */
static double scaled_weights(const double *log_a, const double *log_b, int n, double *w, double *mean_w) {
    double M = -INFINITY, B = 0;
    for (int i = 0; i < n; i++) {
        double lw = log_a[i] - log_b[i];
        if (lw > M) M = lw;
    }
    for (int i = 0; i < n; i++) w[i] = M == -INFINITY ? 0 : exp(log_a[i] - log_b[i] - M);
    for (int i = 0; i < n; i++) B += w[i];
    *mean_w = B / n;
    return M;
}

/* A new buffer of `per_n`·n doubles whose first n are the scaled weights of log_a − log_b
 * (scaled_weights: *M the log scale, *B their mean); NULL when n < 1 or out of memory. */
static double *weights_new(const double *log_a, const double *log_b, int n, int per_n, double *M, double *B) {
    double *w = n > 0 ? malloc(sizeof(double) * (size_t)per_n * (size_t)n) : NULL;
    if (w) *M = scaled_weights(log_a, log_b, n, w, B);
    return w;
}

static const pst_estimate nan_estimate = {NAN, NAN};

pst_estimate pst_estimate_mean(const double *u, int n) {
    if (n < 1) return nan_estimate;
    double m = 0;
    for (int i = 0; i < n; i++) m += u[i];
    pst_estimate e = {m / n, se_of(u, n)};
    return e;
}

double pst_effective_sample_size(const double *log_w, int n) {
    double M = -INFINITY, s = 0, s2 = 0;
    for (int i = 0; i < n; i++)
        if (log_w[i] > M) M = log_w[i];
    if (M == -INFINITY) return 0;
    for (int i = 0; i < n; i++) {
        double w = exp(log_w[i] - M);
        s += w;
        s2 += w * w;
    }
    return s * s / s2;
}

/* log Ẑ = M + log mean(w);  se(log Ẑ) = sd(w)/(√n·mean(w)). */
pst_estimate pst_estimate_log_partition(const double *log_target, const double *log_q, int n) {
    double B, M, *w = weights_new(log_target, log_q, n, 1, &M, &B);
    if (!w) return nan_estimate;
    pst_estimate e = {-INFINITY, INFINITY};
    if (B > 0) {
        e.value = M + log(B);
        for (int i = 0; i < n; i++) w[i] /= B;
        e.se = se_of(w, n);
    }
    free(w);
    return e;
}

/* KL(p‖π) = A/B − (M + log B),  A = mean(w·g), B = mean(w), g = log P − log π.
 * u_i = w_i g_i / B − w_i (A/B² + 1/B). */
pst_estimate pst_estimate_kl_target_policy(const double *log_target, const double *log_q,
                                           const double *log_pi, int n) {
    double B, M, A = 0, *w = weights_new(log_target, log_q, n, 2, &M, &B);
    if (!w) return nan_estimate;
    double *u = w + n;
    for (int i = 0; i < n; i++)
        if (w[i] > 0) A += w[i] * (log_target[i] - log_pi[i]);
    A /= n;
    pst_estimate e = nan_estimate;
    if (B > 0) {
        e.value = A / B - (M + log(B));
        for (int i = 0; i < n; i++) {
            double wg = w[i] > 0 ? w[i] * (log_target[i] - log_pi[i]) : 0;
            u[i] = wg / B - w[i] * (A / (B * B) + 1 / B);
        }
        e.se = se_of(u, n);
    }
    free(w);
    return e;
}

/* KL(π‖a) = mean[r·h], r = π/q, h = log π − log a. */
pst_estimate pst_estimate_kl_policy_prior(const double *log_pi, const double *log_prior,
                                          const double *log_q, int n) {
    if (n < 1) return nan_estimate;
    double *u = malloc(sizeof(double) * (size_t)n);
    if (!u) return nan_estimate;
    double s = 0;
    for (int i = 0; i < n; i++) {
        double r = exp(log_pi[i] - log_q[i]);
        u[i] = r > 0 ? r * (log_pi[i] - log_prior[i]) : 0;
        s += u[i];
    }
    pst_estimate e = {s / n, se_of(u, n)};
    free(u);
    return e;
}

/* TVD = ½ mean|d_i|, d_i = s_i − w_i/B, s = π/q;  u_i = ½|d_i| + D·w_i, D = ½ mean(sign(d)·w/B²). */
pst_estimate pst_estimate_tvd(const double *log_target, const double *log_q, const double *log_pi,
                              int n) {
    double B, M, T = 0, D = 0, *w = weights_new(log_target, log_q, n, 2, &M, &B);
    if (!w) return nan_estimate;
    double *u = w + n;
    pst_estimate e = nan_estimate;
    if (B > 0) {
        for (int i = 0; i < n; i++) {
            double d = exp(log_pi[i] - log_q[i]) - w[i] / B;
            u[i] = 0.5 * fabs(d);
            T += u[i];
            D += (d > 0 ? 1 : d < 0 ? -1 : 0) * w[i] / (B * B);
        }
        D *= 0.5 / n;
        for (int i = 0; i < n; i++) u[i] += D * w[i];
        e.value = T / n;
        e.se = se_of(u, n);
    }
    free(w);
    return e;
}

/* E_p[φ] = Σ w φ / Σ w;  u_i = w_i (φ_i − E)/B. */
void pst_estimate_moments_target(const double *log_target, const double *log_q,
                                 const double *features, int n, int k, pst_estimate *out) {
    double B, M, *w = weights_new(log_target, log_q, n, 2, &M, &B);
    if (!w) {
        for (int j = 0; j < k; j++) out[j] = nan_estimate;
        return;
    }
    double *u = w + n;
    for (int j = 0; j < k; j++) {
        if (!(B > 0)) {
            out[j] = nan_estimate;
            continue;
        }
        double E = 0;
        for (int i = 0; i < n; i++)
            if (w[i] > 0) E += w[i] * features[(size_t)i * k + j];
        E /= n * B;
        for (int i = 0; i < n; i++) u[i] = w[i] > 0 ? w[i] * (features[(size_t)i * k + j] - E) / B : 0;
        out[j].value = E;
        out[j].se = se_of(u, n);
    }
    free(w);
}

/* E_π[φ] = mean[(π/q) φ]. */
void pst_estimate_moments_policy(const double *log_pi, const double *log_q, const double *features,
                                 int n, int k, pst_estimate *out) {
    double *u = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
    for (int j = 0; j < k; j++) {
        if (!u) {
            out[j] = nan_estimate;
            continue;
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            double r = exp(log_pi[i] - log_q[i]);
            u[i] = r > 0 ? r * features[(size_t)i * k + j] : 0;
            s += u[i];
        }
        out[j].value = s / n;
        out[j].se = se_of(u, n);
    }
    free(u);
}

/* Per context c: log Ẑ_c and KL(p_c‖π_c) from that context's samples; returns the
 * mean over contexts, se = √(Σ se_c²)/G. */
pst_estimate pst_estimate_conditional(const double *log_target, const double *log_q,
                                      const double *log_pi, const int *group, int n, int n_groups,
                                      pst_estimate *log_z) {
    if (n < 1 || n_groups < 1) return nan_estimate;
    double *buf = malloc(sizeof(double) * 3 * (size_t)n);
    if (!buf) return nan_estimate;
    double *lt = buf, *lq = buf + n, *lp = buf + 2 * n;
    double sum = 0, var = 0;
    int used = 0;
    for (int g = 0; g < n_groups; g++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (group[i] == g) {
                lt[m] = log_target[i];
                lq[m] = log_q[i];
                lp[m] = log_pi ? log_pi[i] : 0;
                m++;
            }
        pst_estimate z = m ? pst_estimate_log_partition(lt, lq, m) : nan_estimate;
        if (log_z) log_z[g] = z;
        if (!m) continue;
        pst_estimate e = log_pi ? pst_estimate_kl_target_policy(lt, lq, lp, m) : z;
        sum += e.value;
        var += e.se * e.se;
        used++;
    }
    free(buf);
    if (!used) return nan_estimate;
    pst_estimate r = {sum / used, sqrt(var) / used};
    return r;
}
