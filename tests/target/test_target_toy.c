/* Exactness on the toy: every sequence of the toy is listed, so Z, KL, TVD, moments,
 * λ and the samplers' output distributions have exact values to test against. */
#include "check.h"
#include "posterior/target.h"
#include "target/toy_exact.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static pst_error err;

/* Draws n samples of d; fills log_q (= logprob_proposal). */
static pst_sample *draw(pst_distribution *d, const pst_seq *ctx, int n, pst_rng *rng, double *log_q) {
    pst_sample *xs = calloc((size_t)n, sizeof *xs);
    pst_seq *c = NULL;
    if (ctx) {
        c = malloc(sizeof *c * (size_t)n);
        for (int i = 0; i < n; i++) c[i] = *ctx;
    }
    if (pst_dist_sample(d, c, n, rng, xs, &err) < 0) {
        fprintf(stderr, "sample: %s\n", err.msg);
        exit(1);
    }
    for (int i = 0; i < n; i++) log_q[i] = xs[i].logprob_proposal;
    free(c);
    return xs;
}

/* The toy itself: probabilities sum to 1, samples follow them (also warped by a
 * temperature, with log q the warped log-prob), gradients match finite differences. */
static void test_toy_distribution(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 1);
    pst_toy toy;
    CHECK(pst_toy_init(&toy, 4, 4, 1.0, &rng, &err) == 0);
    toy_space s;
    toy_space_init(&s, &toy, NULL);
    CHECK(s.n == 1 + 3 + 9 + 27 + 81); /* end at 1..4 tokens + 4 non-end tokens */
    CHECK_NEAR(pst_logsumexp(s.log_a, (size_t)s.n), 0.0, 1e-12);
    int pre[1] = {2};
    pst_seq ctx = {pre, 1};
    toy_space sc;
    toy_space_init(&sc, &toy, &ctx);
    CHECK_NEAR(pst_logsumexp(sc.log_a, (size_t)sc.n), 0.0, 1e-12);

    for (int pass = 0; pass < 2; pass++) {
        toy.temperature = pass ? 0.6 : 1.0;
        pst_distribution d;
        pst_toy_distribution(&toy, &d);
        int n = 40000;
        double *lq = malloc(sizeof(double) * n);
        pst_sample *xs = draw(&d, NULL, n, &rng, lq);
        long *counts = calloc((size_t)s.n, sizeof(long));
        double *prob = malloc(sizeof(double) * s.n);
        int bad = 0;
        for (int i = 0; i < n; i++) {
            int j = toy_space_index(&s, &xs[i]);
            if (j < 0) { bad++; continue; }
            counts[j]++;
            double lqi = pst_toy_logprob(&toy, NULL, xs[i].tokens, xs[i].n_tokens, toy.temperature);
            if (fabs(lqi - xs[i].logprob_proposal) > 1e-9 || fabs(s.log_a[j] - xs[i].logprob_model) > 1e-9) bad++;
        }
        CHECK(bad == 0);
        double tot = 0;
        for (int j = 0; j < s.n; j++) {
            prob[j] = exp(pst_toy_logprob(&toy, NULL, s.xs[j].tokens, s.lens[j], toy.temperature));
            tot += prob[j];
        }
        CHECK_NEAR(tot, 1.0, 1e-12);
        int df;
        double z = chi_square_z(counts, prob, s.n, n, &df);
        CHECK_MSG(z < 3.7, "toy sampling at T=%g: chi-square z = %g (df %d)", toy.temperature, z, df);
        free_samples(xs, n);
        free(xs), free(lq), free(counts), free(prob);
    }
    toy.temperature = 1.0;

    /* gradient of Σ c_i log π(x_i) against central differences */
    pst_distribution d;
    pst_toy_distribution(&toy, &d);
    double lq[6];
    pst_sample *xs = draw(&d, NULL, 6, &rng, lq);
    double coef[6] = {0.3, -1.2, 0.7, 2.0, -0.1, 0.9};
    pst_dist_zero_grad(&d);
    CHECK(pst_dist_accumulate(&d, NULL, xs, coef, 6, NULL, &err) == 0);
    double max_diff = 0;
    for (int r = 0; r < PST_TOY_MAX_PREFIXES; r++)
        for (int v = 0; v < toy.vocab; v++) {
            double save = toy.logits[r][v], f[2];
            for (int side = 0; side < 2; side++) {
                toy.logits[r][v] = save + (side ? -1e-5 : 1e-5);
                f[side] = 0;
                for (int i = 0; i < 6; i++)
                    f[side] += coef[i] * pst_toy_logprob(&toy, NULL, xs[i].tokens, xs[i].n_tokens, 1);
            }
            toy.logits[r][v] = save;
            max_diff = fmax(max_diff, fabs((f[0] - f[1]) / 2e-5 - toy.grad[r][v]));
        }
    CHECK_MSG(max_diff < 1e-7, "toy gradient vs finite differences: max diff %g", max_diff);
    free_samples(xs, 6);
    free(xs);
    toy_space_free(&s);
    toy_space_free(&sc);
}

/* Ẑ, KL(p‖π), KL(π‖a), TVD(p, π), moments under p and π: within 4 standard
 * errors of the exact values at several sample sizes, with q ≠ a ≠ π; and the
 * standard errors are calibrated (about 95% of 2-se intervals cover). */
static void test_estimators(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 2);
    pst_toy prior, policy, proposal;
    pst_toy_init(&prior, 5, 5, 1.0, &rng, &err);
    pst_toy_init(&policy, 5, 5, 1.0, &rng, &err);
    proposal = prior;
    proposal.temperature = 1.4; /* q: the prior at temperature 1.4 */
    pst_distribution dprior, dq;
    pst_toy_distribution(&prior, &dprior);
    pst_toy_distribution(&proposal, &dq);
    toy_contains ev = {3};
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = toy_contains_fn,
                    .evidence_ctx = &ev, .prior = &dprior};

    toy_space s;
    toy_space_init(&s, &prior, NULL);
    int N = s.n;
    double *logP = malloc(sizeof(double) * N), *la = malloc(sizeof(double) * N),
           *p = malloc(sizeof(double) * N), *lpi = malloc(sizeof(double) * N), *f = malloc(sizeof(double) * N);
    CHECK(pst_target_score(&t, NULL, s.xs, N, NULL, la, f, logP, &err) == 0);
    double log_z = exact_normalise(logP, N, p);
    toy_space_logprobs(&s, &policy, NULL, lpi);
    double kl = exact_kl(p, lpi, N), tvd = exact_tvd(p, lpi, N), kl_pa = 0, mom_p = 0, mom_pi = 0;
    for (int i = 0; i < N; i++) {
        double pi = exp(lpi[i]);
        kl_pa += pi * (lpi[i] - la[i]);
        mom_p += p[i] * f[i];
        mom_pi += pi * f[i];
    }
    CHECK(log_z < -0.05 && log_z > -3); /* a constraint neither trivial nor rare */

    int sizes[3] = {1000, 10000, 100000};
    double prev_se = INFINITY;
    for (int si = 0; si < 3; si++) {
        int n = sizes[si];
        double *lq = malloc(sizeof(double) * n), *lp = malloc(sizeof(double) * n),
               *lt = malloc(sizeof(double) * n), *lpol = malloc(sizeof(double) * n),
               *ff = malloc(sizeof(double) * n);
        pst_sample *xs = draw(&dq, NULL, n, &rng, lq);
        CHECK(pst_target_score(&t, NULL, xs, n, NULL, lp, ff, lt, &err) == 0);
        for (int i = 0; i < n; i++) lpol[i] = pst_toy_logprob(&policy, NULL, xs[i].tokens, xs[i].n_tokens, 1);
        pst_estimate e = pst_estimate_log_partition(lt, lq, n);
        CHECK_MSG(fabs(e.value - log_z) < 4 * e.se, "n=%d log Z %g vs exact %g (se %g)", n, e.value, log_z, e.se);
        CHECK(e.se < prev_se);
        prev_se = e.se;
        e = pst_estimate_kl_target_policy(lt, lq, lpol, n);
        CHECK_MSG(fabs(e.value - kl) < 4 * e.se, "n=%d KL(p|pi) %g vs exact %g (se %g)", n, e.value, kl, e.se);
        e = pst_estimate_tvd(lt, lq, lpol, n);
        CHECK_MSG(fabs(e.value - tvd) < 4 * e.se + 2.0 / n, "n=%d TVD %g vs exact %g (se %g)", n, e.value, tvd, e.se);
        e = pst_estimate_kl_policy_prior(lpol, lp, lq, n);
        CHECK_MSG(fabs(e.value - kl_pa) < 4 * e.se, "n=%d KL(pi|a) %g vs exact %g (se %g)", n, e.value, kl_pa, e.se);
        pst_estimate m;
        pst_estimate_moments_target(lt, lq, ff, n, 1, &m);
        CHECK_MSG(fabs(m.value - mom_p) < 4 * m.se + 1e-12, "n=%d E_p[b] %g vs %g (se %g)", n, m.value, mom_p, m.se);
        pst_estimate_moments_policy(lpol, lq, ff, n, 1, &m);
        CHECK_MSG(fabs(m.value - mom_pi) < 4 * m.se, "n=%d E_pi[b] %g vs %g (se %g)", n, m.value, mom_pi, m.se);
        /* KL(p‖q) through the same estimator with π = q: exact value from the space */
        double *lqs = malloc(sizeof(double) * N);
        for (int i = 0; i < N; i++) lqs[i] = pst_toy_logprob(&proposal, NULL, s.xs[i].tokens, s.lens[i], 1.4);
        e = pst_estimate_kl_target_policy(lt, lq, lq, n);
        double klq = exact_kl(p, lqs, N);
        CHECK_MSG(fabs(e.value - klq) < 4 * e.se, "n=%d KL(p|q) %g vs %g (se %g)", n, e.value, klq, e.se);
        free(lqs);
        free_samples(xs, n);
        free(xs), free(lq), free(lp), free(lt), free(lpol), free(ff);
    }

    /* calibration: 300 replications at n = 400 */
    int reps = 300, n = 400, cover_z = 0, cover_kl = 0, cover_tvd = 0;
    double *lq = malloc(sizeof(double) * n), *lp = malloc(sizeof(double) * n),
           *lt = malloc(sizeof(double) * n), *lpol = malloc(sizeof(double) * n);
    for (int r = 0; r < reps; r++) {
        pst_sample *xs = draw(&dq, NULL, n, &rng, lq);
        pst_target_score(&t, NULL, xs, n, NULL, lp, NULL, lt, &err);
        for (int i = 0; i < n; i++) lpol[i] = pst_toy_logprob(&policy, NULL, xs[i].tokens, xs[i].n_tokens, 1);
        pst_estimate e = pst_estimate_log_partition(lt, lq, n);
        cover_z += fabs(e.value - log_z) < 2 * e.se;
        e = pst_estimate_kl_target_policy(lt, lq, lpol, n);
        cover_kl += fabs(e.value - kl) < 2 * e.se;
        e = pst_estimate_tvd(lt, lq, lpol, n);
        cover_tvd += fabs(e.value - tvd) < 2 * e.se;
        free_samples(xs, n);
        free(xs);
    }
    CHECK_MSG(cover_z > 0.88 * reps && cover_z < 0.995 * reps, "log Z 2-se coverage %d/%d", cover_z, reps);
    CHECK_MSG(cover_kl > 0.85 * reps && cover_kl < 0.995 * reps, "KL 2-se coverage %d/%d", cover_kl, reps);
    CHECK_MSG(cover_tvd > 0.80 * reps, "TVD 2-se coverage %d/%d", cover_tvd, reps);
    free(lq), free(lp), free(lt), free(lpol);

    /* ESS: equal weights → n; one weight → 1 */
    double lw[4] = {0.5, 0.5, 0.5, 0.5};
    CHECK_NEAR(pst_effective_sample_size(lw, 4), 4.0, 1e-12);
    double lw1[3] = {0, -INFINITY, -INFINITY};
    CHECK_NEAR(pst_effective_sample_size(lw1, 3), 1.0, 1e-12);
    /* Ẑ = 0 (no sample satisfies b) is reported, not hidden */
    double zt[3] = {-INFINITY, -INFINITY, -INFINITY}, zq[3] = {-1, -2, -3};
    pst_estimate e0 = pst_estimate_log_partition(zt, zq, 3);
    CHECK(e0.value == -INFINITY);
    CHECK(isnan(pst_estimate_kl_target_policy(zt, zq, zq, 3).value));

    free(logP), free(la), free(p), free(lpi), free(f);
    toy_space_free(&s);
}

/* Conditional target: one Z_c per context, each matching its exact value. */
static void test_conditional(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    pst_toy prior;
    pst_toy_init(&prior, 4, 5, 1.0, &rng, &err);
    pst_distribution d;
    pst_toy_distribution(&prior, &d);
    toy_contains ev = {2};
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = toy_contains_fn,
                    .evidence_ctx = &ev, .prior = &d};
    int c0[1] = {1}, c1[2] = {3, 3};
    pst_seq ctxs[2] = {{c0, 1}, {c1, 2}};
    int per = 20000, n = 2 * per;
    pst_seq *cs = malloc(sizeof *cs * n);
    int *group = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        cs[i] = ctxs[i % 2];
        group[i] = i % 2;
    }
    pst_sample *xs = calloc((size_t)n, sizeof *xs);
    CHECK(pst_dist_sample(&d, cs, n, &rng, xs, &err) == 0);
    double *lq = malloc(sizeof(double) * n), *la = malloc(sizeof(double) * n), *lt = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) lq[i] = xs[i].logprob_proposal;
    CHECK(pst_target_score(&t, cs, xs, n, NULL, la, NULL, lt, &err) == 0);
    int mismatched = 0;
    for (int i = 0; i < n; i++) mismatched += fabs(la[i] - lq[i]) > 1e-9;
    CHECK(mismatched == 0);
    pst_estimate lz[2];
    pst_estimate_conditional(lt, lq, NULL, group, n, 2, lz);
    for (int g = 0; g < 2; g++) {
        toy_space s;
        toy_space_init(&s, &prior, &ctxs[g]);
        double *lP = malloc(sizeof(double) * s.n), *lA = malloc(sizeof(double) * s.n);
        pst_target_score(&t, NULL, s.xs, s.n, s.log_a, lA, NULL, lP, &err);
        double exact = pst_logsumexp(lP, (size_t)s.n);
        CHECK_MSG(fabs(lz[g].value - exact) < 3 * lz[g].se, "context %d: log Z_c %g vs %g (se %g)", g,
                  lz[g].value, exact, lz[g].se);
        free(lP), free(lA);
        toy_space_free(&s);
    }
    CHECK(fabs(lz[0].value - lz[1].value) > 0.05); /* contexts really differ */
    /* the mean over contexts of KL(p_c‖π_c) for another model π, against enumeration */
    pst_toy pi;
    pst_toy_init(&pi, 4, 5, 1.0, &rng, &err);
    double *lpi = malloc(sizeof(double) * n), exact_kl_mean = 0;
    for (int i = 0; i < n; i++) lpi[i] = pst_toy_logprob(&pi, &cs[i], xs[i].tokens, xs[i].n_tokens, 1.0);
    pst_estimate kl = pst_estimate_conditional(lt, lq, lpi, group, n, 2, NULL);
    for (int g = 0; g < 2; g++) {
        toy_space s;
        toy_space_init(&s, &prior, &ctxs[g]);
        double *lP = malloc(sizeof(double) * s.n), *lA = malloc(sizeof(double) * s.n),
               *p = malloc(sizeof(double) * s.n), *lp = malloc(sizeof(double) * s.n);
        pst_target_score(&t, NULL, s.xs, s.n, s.log_a, lA, NULL, lP, &err);
        exact_normalise(lP, s.n, p);
        toy_space_logprobs(&s, &pi, &ctxs[g], lp);
        exact_kl_mean += exact_kl(p, lp, s.n) / 2;
        free(lP), free(lA), free(p), free(lp);
        toy_space_free(&s);
    }
    CHECK_MSG(kl.se > 0 && fabs(kl.value - exact_kl_mean) < 3 * kl.se, "mean KL(p_c||pi_c) %g vs %g (se %g)",
              kl.value, exact_kl_mean, kl.se);
    free(lpi);
    /* a context too long for the toy is an error naming it */
    int clong[5] = {1, 1, 1, 1, 1};
    pst_seq bad = {clong, 5};
    pst_sample one;
    CHECK(pst_dist_sample(&d, &bad, 1, &rng, &one, &err) < 0);
    CHECK(strstr(err.msg, "context") != NULL);
    free_samples(xs, n);
    free(xs), free(cs), free(group), free(lq), free(la), free(lt);
}

/* λ: exact fit over the enumeration equals the closed form for a binary feature
 * (λ = logit μ̄ − logit E_a[φ]); two features fitted over the enumeration match
 * both moments exactly; a sampled fit lands within its statistical error. */
static void test_fit_lambda(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 4);
    pst_toy prior;
    pst_toy_init(&prior, 5, 5, 1.0, &rng, &err);
    toy_space s;
    toy_space_init(&s, &prior, NULL);
    int N = s.n;
    double *f2 = malloc(sizeof(double) * 2 * N), *f1 = malloc(sizeof(double) * N),
           *lu = malloc(sizeof(double) * N);
    toy_two_features_fn(NULL, NULL, s.xs, N, f2, &err);
    double m = 0;
    for (int i = 0; i < N; i++) {
        f1[i] = f2[2 * i];
        lu[i] = -log((double)N); /* q uniform over the space: SNIS becomes exact */
        m += exp(s.log_a[i]) * f1[i];
    }
    double mu = 0.8, lambda = 0;
    pst_lambda_fit rep;
    CHECK(pst_fit_lambda(s.log_a, lu, f1, N, 1, &mu, &lambda, 50, 1e-12, &rep, &err) == 0);
    double closed = log(mu / (1 - mu)) - log(m / (1 - m));
    CHECK_NEAR(lambda, closed, 1e-8);
    CHECK(rep.converged && rep.iterations <= 12);
    CHECK_NEAR(rep.fitted[0], mu, 1e-10);

    double mu2[2] = {0.3, 0.5}, l2[2] = {0, 0};
    CHECK(pst_fit_lambda(s.log_a, lu, f2, N, 2, mu2, l2, 50, 1e-12, &rep, &err) == 0);
    CHECK(rep.iterations <= 15);
    double lp[2000], e0 = 0, e1 = 0;
    for (int i = 0; i < N; i++) lp[i] = s.log_a[i] + l2[0] * f2[2 * i] + l2[1] * f2[2 * i + 1];
    double lz = pst_logsumexp(lp, (size_t)N);
    for (int i = 0; i < N; i++) {
        e0 += exp(lp[i] - lz) * f2[2 * i];
        e1 += exp(lp[i] - lz) * f2[2 * i + 1];
    }
    CHECK_NEAR(e0, 0.3, 1e-9);
    CHECK_NEAR(e1, 0.5, 1e-9);

    /* sampled: x ~ a, λ̂ within a few standard errors: se(λ) ≈ se(μ̂)/Var_p[φ] */
    pst_distribution d;
    pst_toy_distribution(&prior, &d);
    int n = 20000;
    double *lq = malloc(sizeof(double) * n), *fs = malloc(sizeof(double) * n);
    pst_sample *xs = draw(&d, NULL, n, &rng, lq);
    toy_contains ev1 = {1};
    toy_contains_fn(&ev1, NULL, xs, n, fs, &err);
    double lam_s = 0;
    CHECK(pst_fit_lambda(lq, lq, fs, n, 1, &mu, &lam_s, 50, 1e-10, &rep, &err) == 0);
    CHECK(rep.iterations <= 12);
    CHECK(!rep.low_ess && rep.ess > 0.2 * n && rep.ess < n);
    double se_lambda = sqrt(1.0 / (n * m * (1 - m))) * 1.0; /* se of logit(m̂) */
    CHECK_MSG(fabs(lam_s - closed) < 4 * se_lambda, "sampled lambda %g vs closed form %g (se %g)", lam_s,
              closed, se_lambda);

    /* unreachable moment: μ̄ = 1 lies on the boundary of the samples' range */
    double one = 1.0, lam_bad = 0;
    CHECK(pst_fit_lambda(lq, lq, fs, n, 1, &one, &lam_bad, 50, 1e-10, &rep, &err) < 0);
    CHECK(strstr(err.msg, "moment 0") != NULL);
    /* low ESS is flagged: 5 of 1000 samples have φ = 1 and μ̄ = 0.5 puts half the mass on them */
    {
        int nn = 1000;
        double *z0 = calloc((size_t)nn, sizeof(double)), *phi = calloc((size_t)nn, sizeof(double));
        for (int i = 0; i < 5; i++) phi[i * 100] = 1;
        double half = 0.5, lam_low = 0;
        CHECK(pst_fit_lambda(z0, z0, phi, nn, 1, &half, &lam_low, 50, 1e-10, &rep, &err) == 0);
        CHECK(rep.low_ess && rep.ess < 30);
        CHECK_NEAR(lam_low, log(995.0 / 5.0), 1e-8);
        free(z0), free(phi);
    }
    free_samples(xs, n);
    free(xs), free(lq), free(fs), free(f2), free(f1), free(lu);
    toy_space_free(&s);
}

/* The fit's standard errors are calibrated: over R independent sample sets (x ~ a), the
 * spread of λ̂ matches the reported lambda_se, and the spread of the fitted target's exact
 * moment E_p[φ](λ̂) around μ̄ (enumerated) matches moment_se; two features check the
 * sandwich H⁻¹ S H⁻¹ as a matrix. */
static void test_fit_lambda_standard_errors(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 11);
    pst_toy prior;
    pst_toy_init(&prior, 5, 5, 1.0, &rng, &err);
    toy_space s;
    toy_space_init(&s, &prior, NULL);
    pst_distribution d;
    pst_toy_distribution(&prior, &d);
    double *fe = malloc(sizeof(double) * 2 * s.n), *lp = malloc(sizeof(double) * s.n);
    toy_two_features_fn(NULL, NULL, s.xs, s.n, fe, &err);
    enum { R = 300, n = 2000 };
    double *lq = malloc(sizeof(double) * n), *f2 = malloc(sizeof(double) * 2 * n), *f1 = malloc(sizeof(double) * n);
    for (int k = 1; k <= 2; k++) {
        double mu[2] = {0.6, 0.5}, sum[2] = {0}, sum2[2] = {0}, se_mean[2] = {0}, dm2 = 0, mse_mean = 0;
        int covered = 0;
        for (int r = 0; r < R; r++) {
            pst_sample *xs = draw(&d, NULL, n, &rng, lq);
            toy_two_features_fn(NULL, NULL, xs, n, f2, &err);
            for (int i = 0; i < n; i++) f1[i] = f2[2 * i];
            double lam[2] = {0, 0};
            pst_lambda_fit rep;
            CHECK(pst_fit_lambda(lq, lq, k == 1 ? f1 : f2, n, k, mu, lam, 50, 1e-10, &rep, &err) == 0);
            for (int j = 0; j < k; j++) {
                CHECK(isfinite(rep.lambda_se[j]) && rep.lambda_se[j] > 0);
                sum[j] += lam[j], sum2[j] += lam[j] * lam[j], se_mean[j] += rep.lambda_se[j] / R;
            }
            if (k == 1) { /* exact E_p[φ] of the fitted target, by enumeration */
                for (int i = 0; i < s.n; i++) lp[i] = s.log_a[i] + lam[0] * fe[2 * i];
                double lz = pst_logsumexp(lp, (size_t)s.n), m = 0;
                for (int i = 0; i < s.n; i++) m += exp(lp[i] - lz) * fe[2 * i];
                dm2 += (m - mu[0]) * (m - mu[0]) / R;
                mse_mean += rep.moment_se[0] / R;
                covered += fabs(m - mu[0]) <= 2 * rep.moment_se[0];
            }
            free_samples(xs, n);
            free(xs);
        }
        for (int j = 0; j < k; j++) {
            double mean = sum[j] / R, sd = sqrt(fmax(sum2[j] / R - mean * mean, 0));
            CHECK_MSG(sd / se_mean[j] > 0.85 && sd / se_mean[j] < 1.15,
                      "k=%d feature %d: sd of lambda over %d fits %g vs mean reported se %g", k, j, R, sd,
                      se_mean[j]);
        }
        if (k == 1) {
            CHECK_MSG(sqrt(dm2) / mse_mean > 0.85 && sqrt(dm2) / mse_mean < 1.15,
                      "rms |E_p[phi](lambda) - mu| %g vs mean moment_se %g", sqrt(dm2), mse_mean);
            CHECK_MSG(covered > 0.90 * R && covered < 0.99 * R, "2-s.e. coverage %d of %d", covered, R);
        }
    }
    free(lq), free(f2), free(f1), free(fe), free(lp);
    toy_space_free(&s);
}

/* Rejection sampling (q = a, b ≤ 1) matches p; QRS matches p_β ∝ min(q, P/β) and
 * its diagnostics match the exact acceptance rate and TVD(p_β, p); IMH's chain
 * visits sequences in proportion to p. */
static void test_samplers(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 5);
    pst_toy prior, other;
    pst_toy_init(&prior, 4, 4, 1.0, &rng, &err);
    pst_toy_init(&other, 4, 4, 0.7, &rng, &err);
    pst_distribution da, dq;
    pst_toy_distribution(&prior, &da);
    pst_toy_distribution(&other, &dq);
    toy_contains ev = {2};
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = toy_contains_fn,
                    .evidence_ctx = &ev, .prior = &da};
    toy_space s;
    toy_space_init(&s, &prior, NULL);
    int N = s.n;
    double *lP = malloc(sizeof(double) * N), *la = malloc(sizeof(double) * N), *p = malloc(sizeof(double) * N),
           *lqs = malloc(sizeof(double) * N), *pb = malloc(sizeof(double) * N);
    pst_target_score(&t, NULL, s.xs, N, s.log_a, la, NULL, lP, &err);
    double log_z = exact_normalise(lP, N, p);
    toy_space_logprobs(&s, &other, NULL, lqs);
    long *counts = calloc((size_t)N, sizeof(long));
    int df;

    /* rejection with q = a */
    int n = 60000;
    double *lq = malloc(sizeof(double) * n), *lt = malloc(sizeof(double) * n), *lp = malloc(sizeof(double) * n);
    unsigned char *acc = malloc((size_t)n);
    pst_sample *xs = draw(&da, NULL, n, &rng, lq);
    pst_target_score(&t, NULL, xs, n, lq, lp, NULL, lt, &err);
    int na = 0;
    CHECK(pst_rejection_select(lt, lq, n, 0.0, &rng, acc, &na, &err) == 0);
    for (int i = 0; i < n; i++)
        if (acc[i]) counts[toy_space_index(&s, &xs[i])]++;
    double z = chi_square_z(counts, p, N, na, &df);
    CHECK_MSG(z < 3.7, "rejection samples vs p: chi-square z %g (df %d, %d accepted)", z, df, na);
    double rate = (double)na / n, rate_se = sqrt(exp(log_z) * (1 - exp(log_z)) / n);
    CHECK_MSG(fabs(rate - exp(log_z)) < 4 * rate_se, "acceptance %g vs Z %g", rate, exp(log_z));
    /* the envelope is checked: with q ≠ a, P/q > 1 somewhere */
    free_samples(xs, n);
    free(xs);
    xs = draw(&dq, NULL, n, &rng, lq);
    pst_target_score(&t, NULL, xs, n, NULL, lp, NULL, lt, &err);
    CHECK(pst_rejection_select(lt, lq, n, 0.0, &rng, acc, &na, &err) < 0);
    CHECK(strstr(err.msg, "envelope") != NULL);

    /* QRS with q = other toy, several β */
    double log_betas[3] = {log_z - 1.0, log_z, log_z + 1.5};
    for (int b = 0; b < 3; b++) {
        double lb = log_betas[b], zb = 0, tv = 0;
        for (int i = 0; i < N; i++) {
            pb[i] = fmin(exp(lqs[i]), exp(lP[i] - lb));
            zb += pb[i];
        }
        for (int i = 0; i < N; i++) {
            pb[i] /= zb;
            tv += 0.5 * fabs(pb[i] - p[i]);
        }
        memset(counts, 0, sizeof(long) * N);
        pst_qrs_select(lt, lq, n, lb, &rng, acc, &na);
        for (int i = 0; i < n; i++)
            if (acc[i]) counts[toy_space_index(&s, &xs[i])]++;
        z = chi_square_z(counts, pb, N, na, &df);
        CHECK_MSG(z < 3.7, "QRS log beta %g: chi-square z %g vs p_beta (df %d)", lb, z, df);
        pst_qrs_report r = pst_qrs_diagnose(lt, lq, n, lb);
        CHECK_MSG(fabs(r.acceptance.value - zb) < 4 * r.acceptance.se, "QRS acceptance %g vs exact %g",
                  r.acceptance.value, zb);
        CHECK_MSG(fabs(r.tvd.value - tv) < 0.02 + 4 * r.tvd.se, "QRS TVD(p_beta, p) %g vs exact %g", r.tvd.value, tv);
        if (b == 0) CHECK(tv > 0.01);
    }
    /* divergence shrinks as β grows */
    pst_qrs_report r0 = pst_qrs_diagnose(lt, lq, n, log_betas[0]), r2 = pst_qrs_diagnose(lt, lq, n, log_betas[2]);
    CHECK(r2.tvd.value < r0.tvd.value && r2.acceptance.value < r0.acceptance.value);

    /* IMH: chain of n steps over proposals from q; visit frequencies ≈ p */
    free_samples(xs, n);
    free(xs), free(lq), free(lt), free(lp), free(acc);
    n = 200000;
    lq = malloc(sizeof(double) * n), lt = malloc(sizeof(double) * n), lp = malloc(sizeof(double) * n);
    acc = malloc((size_t)n);
    xs = draw(&dq, NULL, n, &rng, lq);
    pst_target_score(&t, NULL, xs, n, NULL, lp, NULL, lt, &err);
    int *chain = malloc(sizeof(int) * n);
    pst_imh_stats st;
    pst_imh_chain(lt, lq, n, &rng, chain, &st);
    CHECK(st.proposed == n - 1 && st.accepted > 0 && st.acceptance_rate > 0.05 && st.acceptance_rate < 1);
    memset(counts, 0, sizeof(long) * N);
    int burn = 1000;
    for (int i = burn; i < n; i++) counts[toy_space_index(&s, &xs[chain[i]])]++;
    /* marginals of p (length, first token) from the chain vs exact: correlated draws,
     * so compare coarse statistics with a tolerance of several iid standard errors */
    double len_chain[5] = {0}, len_p[5] = {0}, first_chain[4] = {0}, first_p[4] = {0};
    for (int i = 0; i < N; i++) {
        len_p[s.lens[i]] += p[i];
        first_p[s.xs[i].tokens[0]] += p[i];
    }
    for (int i = burn; i < n; i++) {
        len_chain[xs[chain[i]].n_tokens] += 1.0 / (n - burn);
        first_chain[xs[chain[i]].tokens[0]] += 1.0 / (n - burn);
    }
    for (int k = 0; k < 5; k++) CHECK_MSG(fabs(len_chain[k] - len_p[k]) < 0.015, "IMH P(len=%d) %g vs %g", k, len_chain[k], len_p[k]);
    for (int k = 0; k < 4; k++) CHECK_MSG(fabs(first_chain[k] - first_p[k]) < 0.015, "IMH P(x0=%d) %g vs %g", k, first_chain[k], first_p[k]);
    free_samples(xs, n);
    free(xs), free(lq), free(lt), free(lp), free(acc), free(chain), free(counts);
    free(lP), free(la), free(p), free(lqs), free(pb);
    toy_space_free(&s);
}

/* Target kinds: distributional a·exp(λφ) and KL-RL a·exp(r/β) give the exact log P. */
static void test_target_kinds(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 6);
    pst_toy prior;
    pst_toy_init(&prior, 3, 3, 1.0, &rng, &err);
    pst_distribution d;
    pst_toy_distribution(&prior, &d);
    toy_space s;
    toy_space_init(&s, &prior, NULL);
    pst_target t = {.kind = PST_TARGET_DISTRIBUTIONAL, .n_features = 2, .evidence = toy_two_features_fn,
                    .prior = &d, .lambda = {0.7, -1.3}};
    double lp, lt, f[2];
    CHECK(pst_target_score(&t, NULL, &s.xs[3], 1, NULL, &lp, f, &lt, &err) == 0);
    CHECK_NEAR(lt, s.log_a[3] + 0.7 * f[0] - 1.3 * f[1], 1e-12);
    pst_target r = {.kind = PST_TARGET_KLRL, .n_features = 1, .evidence = toy_reward_fn, .prior = &d, .beta = 0.5};
    CHECK(pst_target_score(&r, NULL, &s.xs[5], 1, NULL, &lp, f, &lt, &err) == 0);
    CHECK_NEAR(lt, s.log_a[5] + f[0] / 0.5, 1e-12);
    r.beta = 0;
    CHECK(pst_target_score(&r, NULL, &s.xs[5], 1, NULL, &lp, f, &lt, &err) < 0);
    pst_target_kind k;
    CHECK(pst_target_kind_parse("klrl", &k, &err) == 0 && k == PST_TARGET_KLRL);
    CHECK(pst_target_kind_parse("bayes", &k, &err) < 0 && strstr(err.msg, "bayes"));
    toy_space_free(&s);
}

/* JSON target specs round-trip, and bad specs are clear errors. */
static void test_spec(void) {
    const char *json = "{\"kind\": \"distributional\", \"prior\": \"tests/fixtures\", "
                       "\"scorers\": [\"contains:cat,dog\", \"regex:^A\"], \"moments\": [0.5, 0.25], "
                       "\"lambda\": [1.5, -0.125], \"beta\": 2}";
    pst_target_spec sp, back;
    CHECK(pst_target_spec_parse(json, "spec", 0, &sp, &err) == 0);
    CHECK(sp.kind == PST_TARGET_DISTRIBUTIONAL && sp.n_scorers == 2 && sp.n_features == 2 && sp.has_lambda);
    CHECK(strcmp(sp.scorers[1], "regex:^A") == 0);
    char *text = pst_target_spec_to_json(&sp, &err);
    CHECK(text && pst_target_spec_parse(text, "round trip", 0, &back, &err) == 0);
    CHECK(back.lambda[1] == -0.125 && back.moments[0] == 0.5 && back.beta == 2 && back.n_scorers == 2);
    free(text);
    pst_target_spec_free(&back);
    pst_target_spec_free(&sp);

    struct { const char *json, *needle; } bad[] = {
        {"{\"prior\": \"m\", \"scorers\": [\"pii\"]}", "kind"},
        {"{\"kind\": \"pointwise\", \"scorers\": [\"pii\"]}", "prior"},
        {"{\"kind\": \"pointwise\", \"prior\": \"m\"}", "scorers"},
        {"{\"kind\": \"mystery\", \"prior\": \"m\", \"scorers\": [\"pii\"]}", "mystery"},
        {"{\"kind\": \"distributional\", \"prior\": \"m\", \"scorers\": [\"pii\"]}", "moments"},
        {"{\"kind\": \"distributional\", \"prior\": \"m\", \"scorers\": [\"pii\"], \"moments\": [0.5], \"lambda\": [1, 2]}", "lambda"},
        {"{\"kind\": \"klrl\", \"prior\": \"m\", \"scorers\": [\"pii\"], \"beta\": -1}", "beta"},
        {"{\"kind\": \"pointwise\", \"prior\": \"m\", \"scorers\": [3]}", "scorers\"[0]"},
        {"{\"kind\": ", "JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = pst_target_spec_parse(bad[i].json, "t.json", 0, &sp, &err);
        CHECK_MSG(rc < 0 && strstr(err.msg, bad[i].needle) && strstr(err.msg, "t.json"), "bad spec %zu: '%s'", i,
                  rc < 0 ? err.msg : "accepted");
    }
    /* a missing model directory is named */
    CHECK(pst_target_spec_parse("{\"kind\": \"pointwise\", \"prior\": \"/nonexistent/model\", \"scorers\": [\"pii\"]}",
                                "t.json", 1, &sp, &err) < 0);
    CHECK(strstr(err.msg, "/nonexistent/model") != NULL);
}

/* Owned vs borrowed: a view of a toy and a borrowed copy of a clone are not destroyed by
 * pst_distribution_free (the model stays usable through its owner); the clone is. */
static void test_owned_borrowed(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    pst_toy toy;
    pst_error err = {0};
    CHECK(pst_toy_init(&toy, 4, 3, 1.0, &rng, &err) == 0);
    pst_distribution view, clone, borrowed;
    pst_toy_distribution(&toy, &view);
    CHECK(!view.owned && !strcmp(pst_dist_name(&view), "toy") && pst_dist_trainable(&view));
    CHECK(pst_dist_clone(&view, &clone, &err) == 0 && clone.owned && !pst_dist_same(&clone, &view));
    borrowed = pst_distribution_borrow(&clone);
    CHECK(!borrowed.owned && pst_dist_same(&borrowed, &clone));
    pst_distribution_free(&borrowed);
    CHECK(borrowed.ops == NULL && borrowed.self == NULL);
    pst_sample x[2];
    CHECK(pst_dist_sample(&clone, NULL, 2, &rng, x, &err) == 0); /* the clone survived its view's free */
    double lp[2];
    CHECK(pst_dist_score(&clone, NULL, x, 2, lp, &err) == 0 && lp[0] <= 0 && lp[1] <= 0);
    pst_sample_free(x, 2);
    pst_distribution_free(&clone); /* owned: destroyed (a leak here fails the sanitizer build) */
    pst_distribution_free(&view);  /* a view: toy (on the stack) is left alone */
    CHECK(toy.vocab == 4);
}

int main(void) {
    test_owned_borrowed();
    test_toy_distribution();
    test_estimators();
    test_conditional();
    test_fit_lambda();
    test_fit_lambda_standard_errors();
    test_samplers();
    test_target_kinds();
    test_spec();
    return check_report();
}
