/* The exact-sample yardstick on the enumerable toy: rejection samples of p give log Ẑ,
 * KL(p‖π) and TVD(p, π) within 3 standard errors of the enumerated values at several
 * sample sizes (pointwise and distributional targets); for a policy that drops part of
 * p's support, importance sampling from the policy is biased low, the exact estimate is
 * not, and the flags fire; budgets and reference files fail clearly. */
#include "toy_exact.h"

#include <stdio.h>
#include <unistd.h>

static pst_error err;

/* Exact values over the whole toy space for target t and policy π. */
typedef struct {
    double log_z, kl, tvd, mom;
} exact_values;

static exact_values enumerate(const pst_target *t, const pst_toy *prior, const pst_toy *policy) {
    toy_space s;
    toy_space_init(&s, prior, NULL);
    int N = s.n, k = t->n_features;
    double *lP = malloc(sizeof(double) * N), *la = malloc(sizeof(double) * N), *p = malloc(sizeof(double) * N),
           *lpi = malloc(sizeof(double) * N), *f = malloc(sizeof(double) * N * k);
    CHECK(pst_target_score(t, NULL, s.xs, N, NULL, la, f, lP, &err) == 0);
    exact_values v = {exact_normalise(lP, N, p), 0, 0, 0};
    toy_space_logprobs(&s, policy, NULL, lpi);
    v.kl = exact_kl(p, lpi, N);
    v.tvd = exact_tvd(p, lpi, N);
    for (int i = 0; i < N; i++) v.mom += p[i] * f[(size_t)i * k];
    free(lP), free(la), free(p), free(lpi), free(f);
    toy_space_free(&s);
    return v;
}

/* log π of each reference sample under a toy. */
static void policy_logprobs(const pst_reference *r, const pst_toy *pi, double *out) {
    for (int i = 0; i < r->n; i++) out[i] = pst_toy_logprob(pi, NULL, r->xs[i].tokens, r->xs[i].n_tokens, 1);
}

static void check_against_enumeration(const pst_target *t, const pst_toy *prior, const pst_toy *policy,
                                      const char *what) {
    exact_values v = enumerate(t, prior, policy);
    int sizes[3] = {300, 3000, 30000};
    pst_rng rng;
    pst_rng_seed(&rng, 11);
    double prev = INFINITY;
    for (int si = 0; si < 3; si++) {
        int n = sizes[si];
        pst_exact_options o;
        pst_exact_options_default(&o);
        pst_reference r;
        CHECK(pst_draw_exact(t, NULL, n, &o, &rng, &r, &err) == 0);
        CHECK(r.n == n && r.exact == 1 && r.proposed >= n);
        CHECK_MSG(fabs(r.log_z.value - v.log_z) < 3 * r.log_z.se, "%s n=%d: log Z %g vs %g (se %g)", what, n,
                  r.log_z.value, v.log_z, r.log_z.se);
        double *lpi = malloc(sizeof(double) * n);
        policy_logprobs(&r, policy, lpi);
        pst_exact_report e;
        CHECK(pst_estimate_exact(r.log_target, r.log_prior, lpi, n, r.log_z, &e, &err) == 0);
        CHECK_MSG(fabs(e.kl_target_policy.value - v.kl) < 3 * e.kl_target_policy.se, "%s n=%d: KL %g vs %g (se %g)",
                  what, n, e.kl_target_policy.value, v.kl, e.kl_target_policy.se);
        CHECK_MSG(fabs(e.tvd.value - v.tvd) < 3 * e.tvd.se, "%s n=%d: TVD %g vs %g (se %g)", what, n, e.tvd.value,
                  v.tvd, e.tvd.se);
        CHECK(e.kl_target_policy.se < prev); /* more samples, smaller error */
        prev = e.kl_target_policy.se;
        free(lpi);
        pst_reference_free(&r);
    }
}

static void test_pointwise_and_distributional(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    pst_toy prior, policy;
    pst_toy_init(&prior, 5, 5, 1.0, &rng, &err);
    pst_toy_init(&policy, 5, 5, 1.0, &rng, &err);
    pst_distribution dprior;
    pst_toy_distribution(&prior, &dprior);
    toy_contains ev = {3};
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = toy_contains_fn,
                    .evidence_ctx = &ev, .prior = &dprior};
    double log_m;
    CHECK(pst_target_log_envelope(&t, &log_m) == 1 && log_m == 0);
    check_against_enumeration(&t, &prior, &policy, "pointwise");

    /* distributional, φ = [contains 3] ∈ [0, 1]: envelope e^λ for λ > 0, 1 for λ < 0 */
    pst_target d = t;
    d.kind = PST_TARGET_DISTRIBUTIONAL;
    d.lambda[0] = 1.7;
    CHECK(pst_target_log_envelope(&d, &log_m) == 0); /* bounds unknown: no envelope */
    d.bounded[0] = 1, d.feature_lo[0] = 0, d.feature_hi[0] = 1;
    CHECK(pst_target_log_envelope(&d, &log_m) == 1 && fabs(log_m - 1.7) < 1e-12);
    check_against_enumeration(&d, &prior, &policy, "distributional λ 1.7");
    d.lambda[0] = -0.8;
    CHECK(pst_target_log_envelope(&d, &log_m) == 1 && log_m == 0);
    check_against_enumeration(&d, &prior, &policy, "distributional λ -0.8");
    /* the exact E_p[φ] is the plain mean of φ over the samples */
    pst_reference r;
    pst_exact_options o;
    pst_exact_options_default(&o);
    CHECK(pst_draw_exact(&d, NULL, 20000, &o, &rng, &r, &err) == 0);
    double m = 0;
    for (int i = 0; i < r.n; i++) {
        double f;
        toy_contains_fn(&ev, NULL, &r.xs[i], 1, &f, &err);
        m += f / r.n;
    }
    exact_values v = enumerate(&d, &prior, &policy);
    CHECK_MSG(fabs(m - v.mom) < 3 * sqrt(v.mom * (1 - v.mom) / r.n), "E_p[phi] %g vs %g", m, v.mom);
    pst_reference_free(&r);
    /* a KL-RL target a·exp(r/β): no envelope while r's bounds are unknown; with r ∈ [0, 1],
     * M = e^(1/β), and its exact samples match enumeration */
    pst_target k = t;
    k.kind = PST_TARGET_KLRL;
    k.beta = 0.5;
    CHECK(pst_draw_exact(&k, NULL, 10, &o, &rng, &r, &err) < 0 && strstr(err.msg, "no envelope"));
    k.bounded[0] = 1, k.feature_lo[0] = 0, k.feature_hi[0] = 1;
    CHECK(pst_target_log_envelope(&k, &log_m) == 1 && fabs(log_m - 2) < 1e-12);
    check_against_enumeration(&k, &prior, &policy, "klrl beta 0.5");
}

/* π = p, built from the enumerated p (prefix masses); with drop, sequences that start
 * with token 3 then get e^-40 of their mass: π drops part of p's support. */
static void toy_from_target(pst_toy *pi, const pst_target *t, const pst_toy *prior, int drop) {
    toy_space s;
    toy_space_init(&s, prior, NULL);
    int N = s.n;
    double *lP = malloc(sizeof(double) * N), *la = malloc(sizeof(double) * N), *p = malloc(sizeof(double) * N);
    pst_target_score(t, NULL, s.xs, N, NULL, la, NULL, lP, &err);
    exact_normalise(lP, N, p);
    *pi = *prior;
    static double mass[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    memset(mass, 0, sizeof mass);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < s.lens[i]; j++)
            mass[pst_toy_prefix_index(prior, s.xs[i].tokens, j)][s.xs[i].tokens[j]] += p[i];
    for (int r = 0; r < PST_TOY_MAX_PREFIXES; r++)
        for (int v = 0; v < prior->vocab; v++) pi->logits[r][v] = mass[r][v] > 0 ? log(mass[r][v]) : -60;
    if (drop) pi->logits[0][3] = -40; /* the root row: sequences that start with token 3 are dropped */
    free(lP), free(la), free(p);
    toy_space_free(&s);
}

static void test_dropped_support(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 5);
    pst_toy prior, pi;
    pst_toy_init(&prior, 5, 5, 1.0, &rng, &err);
    pst_distribution dprior, dpi;
    pst_toy_distribution(&prior, &dprior);
    toy_contains ev = {3};
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = toy_contains_fn,
                    .evidence_ctx = &ev, .prior = &dprior};
    toy_from_target(&pi, &t, &prior, 1);
    pst_toy_distribution(&pi, &dpi);
    exact_values v = enumerate(&t, &prior, &pi);
    CHECK(v.kl > 5); /* p's mass on sequences starting with 3, times ~40 nats */

    /* on-policy importance sampling (q = π) sees only what π still covers */
    int n = 4000;
    pst_sample *xs = calloc((size_t)n, sizeof *xs);
    double *lq = malloc(sizeof(double) * n), *lt = malloc(sizeof(double) * n), *la = malloc(sizeof(double) * n);
    CHECK(pst_dist_sample(&dpi, NULL, n, &rng, xs, &err) == 0);
    for (int i = 0; i < n; i++) lq[i] = xs[i].logprob_proposal;
    CHECK(pst_target_score(&t, NULL, xs, n, NULL, la, NULL, lt, &err) == 0);
    pst_estimate is = pst_estimate_kl_target_policy(lt, lq, lq, n);
    CHECK_MSG(is.value + 3 * is.se < v.kl - 1, "IS from pi: %g ± %g, exact %g (should be far below)", is.value,
              is.se, v.kl);
    for (int i = 0; i < n; i++) lt[i] -= lq[i];
    double ess = pst_effective_sample_size(lt, n);

    /* the exact estimate from samples of p is not biased */
    pst_exact_options o;
    pst_exact_options_default(&o);
    pst_reference r;
    CHECK(pst_draw_exact(&t, NULL, n, &o, &rng, &r, &err) == 0);
    double *lpi = malloc(sizeof(double) * n);
    policy_logprobs(&r, &pi, lpi);
    pst_exact_report e;
    CHECK(pst_estimate_exact(r.log_target, r.log_prior, lpi, n, r.log_z, &e, &err) == 0);
    CHECK_MSG(fabs(e.kl_target_policy.value - v.kl) < 3 * e.kl_target_policy.se, "exact KL %g ± %g vs %g",
              e.kl_target_policy.value, e.kl_target_policy.se, v.kl);
    CHECK(e.dropped_fraction > 0.01);
    int flags = pst_yardstick_flags(is, ess, n, &e);
    CHECK(flags & PST_FLAG_DISAGREE);
    CHECK(flags & PST_FLAG_DROPPED);
    /* the same checks for a policy that covers p: no flag */
    pst_toy fair;
    toy_from_target(&fair, &t, &prior, 0);
    policy_logprobs(&r, &fair, lpi);
    CHECK(pst_estimate_exact(r.log_target, r.log_prior, lpi, n, r.log_z, &e, &err) == 0);
    CHECK_MSG(fabs(e.kl_target_policy.value) < 3 * e.kl_target_policy.se, "KL(p|p) %g ± %g",
              e.kl_target_policy.value, e.kl_target_policy.se);
    pst_estimate ok = {e.kl_target_policy.value, e.kl_target_policy.se};
    CHECK(pst_yardstick_flags(ok, n, n, &e) == 0);
    /* a tiny ESS is flagged on its own */
    CHECK(pst_yardstick_flags(ok, 5, n, &e) & PST_FLAG_LOW_ESS);
    free(lpi), free(lq), free(lt), free(la);
    free_samples(xs, n);
    free(xs);
    pst_reference_free(&r);
}

/* A rare constraint: the budget is refused with the acceptance rate and the budget. */
static void test_budget(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 7);
    pst_toy prior;
    pst_toy_init(&prior, 5, 5, 1.0, &rng, &err);
    prior.logits[0][3] -= 4; /* make "contains 3" rarer */
    pst_distribution dprior;
    pst_toy_distribution(&prior, &dprior);
    toy_contains ev = {3};
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = toy_contains_fn,
                    .evidence_ctx = &ev, .prior = &dprior};
    pst_exact_options o;
    pst_exact_options_default(&o);
    o.max_proposals = 2000;
    pst_reference r;
    CHECK(pst_draw_exact(&t, NULL, 5000, &o, &rng, &r, &err) < 0);
    CHECK_MSG(strstr(err.msg, "acceptance rate") && strstr(err.msg, "budget of 2000"), "%s", err.msg);
    CHECK(r.n == 0 && r.xs == NULL);
    /* a budget spent with a few (1..9) accepted: the rough projection, not "more than 0 draws" */
    for (int i = 0; i < PST_TOY_MAX_PREFIXES; i++) prior.logits[i][3] -= 3; /* "3" rarer at every prefix */
    o.max_proposals = 64;
    CHECK(pst_draw_exact(&t, NULL, 5000, &o, &rng, &r, &err) < 0);
    CHECK_MSG(strstr(err.msg, "a rough projection: fewer than 10 accepted") && strstr(err.msg, "budget of 64") &&
                  !strstr(err.msg, "more than 0 draws"), "%s", err.msg);
    CHECK(r.n == 0 && r.xs == NULL);
}

/* Reference files: saved and loaded back identically; another target's hash, a
 * truncated file and a bad line are refused, naming the file (and line). */
static void test_reference_file(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 9);
    pst_toy prior;
    pst_toy_init(&prior, 4, 4, 1.0, &rng, &err);
    pst_distribution dprior;
    pst_toy_distribution(&prior, &dprior);
    toy_contains ev = {2};
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = toy_contains_fn,
                    .evidence_ctx = &ev, .prior = &dprior};
    pst_exact_options o;
    pst_exact_options_default(&o);
    pst_reference r, back;
    int ctx_tokens[2] = {1, 3};
    CHECK(pst_draw_exact(&t, NULL, 50, &o, &rng, &r, &err) == 0);
    r.target_hash = 0x1234abcdull;
    r.max_new_tokens = 4;
    r.context = malloc(sizeof ctx_tokens), memcpy(r.context, ctx_tokens, sizeof ctx_tokens), r.n_context = 2;
    char path[64];
    snprintf(path, sizeof path, "/tmp/pst_ref_%d.jsonl", (int)getpid());
    CHECK(pst_reference_save(path, &r, &err) == 0);
    CHECK(pst_reference_load(path, 0x1234abcdull, &back, &err) == 0);
    CHECK(back.n == r.n && back.proposed == r.proposed && back.max_new_tokens == 4 && back.n_context == 2);
    CHECK(back.log_z.value == r.log_z.value && back.log_z.se == r.log_z.se);
    int same = 1;
    for (int i = 0; i < r.n; i++) {
        same &= back.xs[i].n_tokens == r.xs[i].n_tokens && back.log_prior[i] == r.log_prior[i] &&
                back.log_target[i] == r.log_target[i];
        for (int j = 0; j < r.xs[i].n_tokens && same; j++) same &= back.xs[i].tokens[j] == r.xs[i].tokens[j];
    }
    CHECK(same);
    pst_reference_free(&back);
    CHECK(pst_reference_load(path, 0x9999ull, &back, &err) < 0 && strstr(err.msg, "another target"));
    /* truncate: drop the last line */
    char *text;
    size_t len;
    CHECK(pst_read_file(path, &text, &len, &err) == 0);
    size_t cut = len - 1;
    while (cut && text[cut - 1] != '\n') cut--;
    CHECK(pst_write_file_atomic(path, text, cut, &err) == 0);
    CHECK(pst_reference_load(path, 0x1234abcdull, &back, &err) < 0 && strstr(err.msg, "truncated"));
    /* a bad token on line 3 */
    char *p3 = strchr(strchr(text, '\n') + 1, '\n') + 1, *tok = strstr(p3, "[") + 1;
    *tok = '-';
    CHECK(pst_write_file_atomic(path, text, len, &err) == 0);
    CHECK_MSG(pst_reference_load(path, 0x1234abcdull, &back, &err) < 0 && strstr(err.msg, ":3:"), "%s", err.msg);
    CHECK(pst_write_file_atomic(path, "{\"x\": 1}\n", 9, &err) == 0);
    CHECK(pst_reference_load(path, 0x1234abcdull, &back, &err) < 0 && strstr(err.msg, ":1:"));
    free(text);
    unlink(path);
    pst_reference_free(&r);
}

int main(void) {
    test_pointwise_and_distributional();
    test_dropped_support();
    test_budget();
    test_reference_file();
    return check_report();
}
