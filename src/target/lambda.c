/* Fitting λ of a distributional target p ∝ a·exp(λ·φ) so that E_p[φ] = μ̄.
 *
 * With samples x_i ~ q and log weights lw_i(λ) = log a_i − log q_i + λ·φ_i, the
 * SNIS estimate of the dual is L(λ) = log Σ_i exp(lw_i) − λ·μ̄ (convex),
 *   ∇L = Σ w̃_i φ_i − μ̄ = E_p̂[φ] − μ̄,   ∇²L = Cov_p̂[φ],   w̃ = softmax(lw).
 * Newton steps with backtracking converge in a handful of iterations. */
#include "posterior/target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define K PST_TARGET_MAX_FEATURES

/* L(λ) and, when grad/hess are not NULL, its gradient [k] and Hessian [k, k]. */
static double dual(const double *log_prior, const double *log_q, const double *features, int n, int k,
                   const double *moments, const double *lambda, double *lw, double *grad, double *hess) {
    for (int i = 0; i < n; i++) {
        double e = 0;
        for (int j = 0; j < k; j++) e += lambda[j] * features[(size_t)i * k + j];
        lw[i] = log_prior[i] - log_q[i] + e;
    }
    double lse = pst_logsumexp(lw, (size_t)n), L = lse;
    for (int j = 0; j < k; j++) L -= lambda[j] * moments[j];
    if (grad) {
        double mean[K] = {0};
        for (int i = 0; i < n; i++) {
            double w = exp(lw[i] - lse);
            for (int j = 0; j < k; j++) mean[j] += w * features[(size_t)i * k + j];
        }
        memset(hess, 0, sizeof(double) * k * k);
        for (int i = 0; i < n; i++) {
            double w = exp(lw[i] - lse);
            if (w == 0) continue;
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                    hess[a * k + b] += w * (features[(size_t)i * k + a] - mean[a]) *
                                       (features[(size_t)i * k + b] - mean[b]);
        }
        for (int j = 0; j < k; j++) grad[j] = mean[j] - moments[j];
    }
    return L;
}

/* Solves (H + ridge·I) d = −g by Cholesky; returns -1 if not positive definite. */
static int newton_direction(const double *H, const double *g, int k, double ridge, double *d) {
    double Lc[K * K] = {0};
    for (int i = 0; i < k; i++)
        for (int j = 0; j <= i; j++) {
            double s = H[i * k + j] + (i == j ? ridge : 0);
            for (int m = 0; m < j; m++) s -= Lc[i * k + m] * Lc[j * k + m];
            if (i == j) {
                if (!(s > 0)) return -1;
                Lc[i * k + i] = sqrt(s);
            } else {
                Lc[i * k + j] = s / Lc[j * k + j];
            }
        }
    double y[K];
    for (int i = 0; i < k; i++) {
        double s = -g[i];
        for (int m = 0; m < i; m++) s -= Lc[i * k + m] * y[m];
        y[i] = s / Lc[i * k + i];
    }
    for (int i = k - 1; i >= 0; i--) {
        double s = y[i];
        for (int m = i + 1; m < k; m++) s -= Lc[m * k + i] * d[m];
        d[i] = s / Lc[i * k + i];
    }
    return 0;
}

/* Standard errors of the fit (delta method): S = Σ w̃_i² (φ_i − m)(φ_i − m)ᵀ is the variance
 * of the SNIS moment m = Σ w̃_i φ_i; λ̂ solves m(λ) = μ̄ with ∂m/∂λ = H, so
 * Var λ̂ ≈ H⁻¹ S H⁻¹.  lw [n] are the final log weights, H [k, k] the final Hessian. */
static void sampling_error(const double *lw, const double *features, int n, int k, const double *m,
                           const double *H, double *moment_se, double *lambda_se) {
    double S[K * K] = {0}, lse = pst_logsumexp(lw, (size_t)n);
    for (int i = 0; i < n; i++) {
        double w = exp(lw[i] - lse);
        if (w == 0) continue;
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                S[a * k + b] += w * w * (features[(size_t)i * k + a] - m[a]) * (features[(size_t)i * k + b] - m[b]);
    }
    /* X = H⁻¹ S column by column, then Σ = H⁻¹ Xᵀ (S and H symmetric), diagonal only */
    double X[K * K], col[K], sol[K];
    int ok = 1;
    for (int b = 0; b < k && ok; b++) {
        for (int a = 0; a < k; a++) col[a] = -S[a * k + b]; /* newton_direction solves H d = −g */
        ok = newton_direction(H, col, k, 0, sol) == 0;
        for (int a = 0; a < k; a++) X[a * k + b] = sol[a];
    }
    for (int j = 0; j < k; j++) {
        moment_se[j] = sqrt(S[j * k + j]);
        lambda_se[j] = NAN;
    }
    if (!ok) return;
    for (int b = 0; b < k && ok; b++) { /* column b of H⁻¹ Xᵀ: solve H y = (row b of X) */
        for (int a = 0; a < k; a++) col[a] = -X[b * k + a];
        ok = newton_direction(H, col, k, 0, sol) == 0;
        if (ok) lambda_se[b] = sqrt(fmax(sol[b], 0));
    }
}

int pst_fit_lambda(const double *log_prior, const double *log_q, const double *features, int n, int k,
                   const double *moments, double *lambda, int max_iter, double tol,
                   pst_lambda_fit *report, pst_error *err) {
    if (k < 1 || k > K) return pst_fail(err, "fit lambda: %d moments (1..%d supported)", k, K);
    if (n < 2) return pst_fail(err, "fit lambda: %d samples; need at least 2", n);
    /* μ̄ must lie strictly inside the range of φ over samples of positive weight. */
    for (int j = 0; j < k; j++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < n; i++) {
            if (!(log_prior[i] - log_q[i] > -INFINITY)) continue;
            double f = features[(size_t)i * k + j];
            if (!isfinite(f)) return pst_fail(err, "fit lambda: feature %d of sample %d is %g", j, i, f);
            if (f < lo) lo = f;
            if (f > hi) hi = f;
        }
        if (!(moments[j] > lo && moments[j] < hi))
            return pst_fail(err,
                            "fit lambda: moment %d = %g is not strictly inside the range [%g, %g] of "
                            "feature %d over the %d samples; no finite lambda reaches it",
                            j, moments[j], lo, hi, j, n);
    }
    double *lw = pst_malloc(sizeof(double) * (size_t)n, err);
    if (!lw) return -1;
    double g[K], H[K * K], d[K], trial[K];
    double L = dual(log_prior, log_q, features, n, k, moments, lambda, lw, g, H);
    pst_lambda_fit rep = {0};
    int it = 0;
    for (; it < max_iter; it++) {
        double gmax = 0;
        for (int j = 0; j < k; j++) gmax = fmax(gmax, fabs(g[j]));
        rep.grad_norm = gmax;
        if (gmax <= tol) {
            rep.converged = 1;
            break;
        }
        double ridge = 0;
        while (newton_direction(H, g, k, ridge, d) < 0) ridge = ridge ? ridge * 10 : 1e-10;
        /* backtracking (Armijo) on L along d */
        double slope = 0, t = 1;
        for (int j = 0; j < k; j++) slope += g[j] * d[j];
        /* Near the optimum L is flat to rounding: a step that halves |∇L| is taken too. */
        double Lt = L, gt[K], Ht[K * K], gt_max = INFINITY;
        int ok = 0;
        for (int ls = 0; ls < 60 && !ok; ls++, t *= 0.5) {
            for (int j = 0; j < k; j++) trial[j] = lambda[j] + t * d[j];
            Lt = dual(log_prior, log_q, features, n, k, moments, trial, lw, gt, Ht);
            gt_max = 0;
            for (int j = 0; j < k; j++) gt_max = fmax(gt_max, fabs(gt[j]));
            ok = Lt <= L + 1e-4 * t * slope || (Lt <= L + 1e-12 * fabs(L) && gt_max < 0.5 * gmax);
        }
        if (!ok) break; /* no progress possible */
        memcpy(lambda, trial, sizeof(double) * k);
        memcpy(g, gt, sizeof(double) * k);
        memcpy(H, Ht, sizeof(double) * k * k);
        L = Lt;
    }
    rep.iterations = it;
    /* lw, g, H at the returned λ (a rejected line-search trial may have overwritten lw) */
    (void)dual(log_prior, log_q, features, n, k, moments, lambda, lw, g, H);
    {
        double gmax = 0;
        for (int j = 0; j < k; j++) gmax = fmax(gmax, fabs(g[j]));
        rep.grad_norm = gmax;
        if (gmax <= tol) rep.converged = 1;
    }
    for (int j = 0; j < k; j++) rep.fitted[j] = g[j] + moments[j];
    rep.ess = pst_effective_sample_size(lw, n);
    sampling_error(lw, features, n, k, rep.fitted, H, rep.moment_se, rep.lambda_se);
    rep.low_ess = rep.ess < fmax(30.0, 0.01 * n);
    free(lw);
    if (report) *report = rep;
    if (!rep.converged)
        return pst_fail(err, "fit lambda: no convergence after %d Newton iterations (|E[phi] - mu| = %g > %g)",
                        it, rep.grad_norm, tol);
    return 0;
}
