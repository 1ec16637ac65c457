/* Samplers from p = P/Z over proposals x_i ~ q: rejection sampling, quasi-rejection
 * sampling (QRS) and independent Metropolis–Hastings (IMH). */
#include "posterior/target.h"

#include <math.h>
#include <stdlib.h>

/* accept with probability P/(M q); exact iff P ≤ M q. */
int pst_rejection_select(const double *log_target, const double *log_q, int n, double log_m,
                         pst_rng *rng, unsigned char *accept, int *n_accepted, pst_error *err) {
    int acc = 0;
    for (int i = 0; i < n; i++) {
        double la = log_target[i] - log_q[i] - log_m;
        if (isnan(la)) return pst_fail(err, "rejection sampling: sample %d has a NaN log-ratio", i);
        if (la > 1e-9)
            return pst_fail_field(err, "sampler",
                            "rejection sampling: sample %d has P/(M q) = exp(%g) > 1; the envelope "
                            "P <= M q does not hold (use the sampler qrs or imh, or a larger M)",
                            i, la);
        accept[i] = log(pst_rng_uniform(rng)) < la;
        acc += accept[i];
    }
    if (n_accepted) *n_accepted = acc;
    return 0;
}

/* accept with probability min(1, P/(β q)). */
void pst_qrs_select(const double *log_target, const double *log_q, int n, double log_beta,
                    pst_rng *rng, unsigned char *accept, int *n_accepted) {
    int acc = 0;
    for (int i = 0; i < n; i++) {
        double la = fmin(0.0, log_target[i] - log_q[i] - log_beta);
        accept[i] = log(pst_rng_uniform(rng)) < la;
        acc += accept[i];
    }
    if (n_accepted) *n_accepted = acc;
}

static double mean_sd(const double *u, int n, double *se) {
    pst_estimate e = pst_estimate_mean(u, n);
    *se = e.se;
    return e.value;
}

/* With a_i = min(1, w_i/β), w = P/q:  Z_β = E_q[a] (the acceptance rate),
 *   p_β/q = a/Z_β,  p/q = w/Z,
 *   TVD(p_β, p) = ½ E_q|a/Z_β − w/Z|,
 *   KL(p‖p_β)  = E_q[(w/Z)(log w − log a)] − log Z + log Z_β,  log w − log a = max(log w, log β).
 * Standard errors treat Ẑ and Ẑ_β as known (sd of the per-sample terms / √n). */
pst_qrs_report pst_qrs_diagnose(const double *log_target, const double *log_q, int n, double log_beta) {
    pst_qrs_report r = {log_beta, {NAN, NAN}, {NAN, NAN}, {NAN, NAN}};
    if (n < 1) return r;
    double *buf = malloc(sizeof(double) * 3 * (size_t)n);
    if (!buf) return r;
    double *a = buf, *u = buf + n, *v = buf + 2 * n;
    double M = -INFINITY;
    for (int i = 0; i < n; i++) M = fmax(M, log_target[i] - log_q[i]);
    double B = 0; /* mean of w·e^{-M} */
    for (int i = 0; i < n; i++) {
        double lw = log_target[i] - log_q[i];
        a[i] = exp(fmin(0.0, lw - log_beta));
        B += exp(lw - M);
    }
    B /= n;
    r.acceptance.value = mean_sd(a, n, &r.acceptance.se);
    double Zb = r.acceptance.value, logZ = M + log(B);
    if (Zb > 0 && B > 0) {
        for (int i = 0; i < n; i++) {
            double lw = log_target[i] - log_q[i], pw = exp(lw - logZ);
            u[i] = 0.5 * fabs(a[i] / Zb - pw);
            v[i] = pw > 0 ? pw * (fmax(lw, log_beta) - logZ + log(Zb)) : 0;
        }
        r.tvd.value = mean_sd(u, n, &r.tvd.se);
        r.kl.value = mean_sd(v, n, &r.kl.se);
    }
    free(buf);
    return r;
}

void pst_imh_chain(const double *log_target, const double *log_q, int n, pst_rng *rng, int *chain,
                   pst_imh_stats *stats) {
    pst_imh_stats s = {0};
    if (n < 1) {
        if (stats) *stats = s;
        return;
    }
    int cur = 0;
    double lw_cur = log_target[0] - log_q[0];
    chain[0] = 0;
    s.distinct_states = 1;
    for (int i = 1; i < n; i++) {
        double lw = log_target[i] - log_q[i];
        s.proposed++;
        /* accept with probability min(1, w_i / w_cur); a zero-weight start is always left */
        if (lw_cur == -INFINITY || log(pst_rng_uniform(rng)) < lw - lw_cur) {
            if (lw > -INFINITY || lw_cur == -INFINITY) {
                cur = i;
                lw_cur = lw;
                s.accepted++;
                s.distinct_states++;
            }
        }
        chain[i] = cur;
    }
    s.acceptance_rate = s.proposed ? (double)s.accepted / s.proposed : 0;
    if (stats) *stats = s;
}
