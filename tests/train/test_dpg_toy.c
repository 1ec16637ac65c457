/* The DPG family on the enumerable toy: each variant drives the EXACT KL(p‖π_θ)
 * (computed by listing every sequence) toward 0; f-DPG with reverse KL reaches the
 * optimum of KL-regularised RL, the posterior a·exp(r/β)/Z; CDPG handles one Z per
 * context, and one Z shared by the contexts lands where the closed form says (the
 * ablation); --resume continues bit for bit; NaN and Z = 0 are clear errors. */
#include "check.h"
#include "posterior/dpg.h"
#include "target/toy_exact.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pst_error err;

typedef struct {
    pst_toy *policy;
    const pst_target *target;
    const pst_seq *contexts;
    int n_contexts;
    double first_kl, last_kl; /* exact KL(p‖π), averaged over contexts */
    long steps;
    long proposal_updates;
    double last_estimate;     /* the trainer's own estimate at the last step */
} watch;

/* exact KL(p_c‖π_c) averaged over contexts (or unconditional) */
static double exact_kl_target_policy(const pst_toy *policy, const pst_target *t, const pst_seq *ctxs, int nc,
                                     double *rkl) {
    double sum = 0, rsum = 0;
    int G = nc > 0 ? nc : 1;
    for (int g = 0; g < G; g++) {
        const pst_seq *c = nc > 0 ? &ctxs[g] : NULL;
        pst_toy *prior = t->prior->self;
        toy_space s;
        toy_space_init(&s, prior, c);
        double *lP = malloc(sizeof(double) * s.n), *la = malloc(sizeof(double) * s.n),
               *p = malloc(sizeof(double) * s.n), *lpi = malloc(sizeof(double) * s.n);
        pst_seq *cs = NULL;
        if (c) {
            cs = malloc(sizeof *cs * s.n);
            for (int i = 0; i < s.n; i++) cs[i] = *c;
        }
        pst_target_score(t, cs, s.xs, s.n, s.log_a, la, NULL, lP, &err);
        exact_normalise(lP, s.n, p);
        toy_space_logprobs(&s, policy, c, lpi);
        sum += exact_kl(p, lpi, s.n);
        double r = 0;
        for (int i = 0; i < s.n; i++) {
            double pi = exp(lpi[i]);
            if (pi > 0) r += pi * (lpi[i] - (p[i] > 0 ? log(p[i]) : -INFINITY));
        }
        rsum += r;
        free(lP), free(la), free(p), free(lpi), free(cs);
        toy_space_free(&s);
    }
    if (rkl) *rkl = rsum / G;
    return sum / G;
}

static int on_step(void *ctx, const pst_dpg_step *m) {
    watch *w = ctx;
    double kl = exact_kl_target_policy(w->policy, w->target, w->contexts, w->n_contexts, NULL);
    if (m->step == 1) w->first_kl = kl;
    w->last_kl = kl;
    w->steps = m->step;
    w->proposal_updates = m->proposal_updates;
    w->last_estimate = m->kl_target_policy.value;
    return 0;
}

static long stop_at; /* stop_cb stops training after this step */
static int stop_cb(void *ctx, const pst_dpg_step *m) {
    on_step(ctx, m);
    return stop_at && m->step >= stop_at;
}

typedef struct {
    pst_toy prior, policy;
    pst_distribution dprior, dpolicy;
    toy_contains ev;
    pst_target target;
} setup;

static void setup_pointwise(setup *s, uint64_t seed) {
    pst_rng rng;
    pst_rng_seed(&rng, seed);
    pst_toy_init(&s->prior, 4, 4, 1.0, &rng, &err);
    s->policy = s->prior; /* π_θ starts at the prior */
    pst_toy_distribution(&s->prior, &s->dprior);
    pst_toy_distribution(&s->policy, &s->dpolicy);
    s->ev.token = 2;
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = toy_contains_fn,
                    .evidence_ctx = &s->ev, .prior = &s->dprior};
    s->target = t;
}

/* The toy over 4 tokens and 5 positions (seed 13) for several contexts, b = evidence
 * (token 2 by toy_contains). */
static void setup_conditional(setup *s, pst_evidence_fn evidence) {
    pst_rng rng;
    pst_rng_seed(&rng, 13);
    pst_toy_init(&s->prior, 4, 5, 1.0, &rng, &err);
    s->policy = s->prior;
    pst_toy_distribution(&s->prior, &s->dprior);
    pst_toy_distribution(&s->policy, &s->dpolicy);
    s->ev.token = 2;
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = evidence, .evidence_ctx = &s->ev,
                    .prior = &s->dprior};
    s->target = t;
}

static void test_variants(void) {
    struct {
        pst_dpg_variant v;
        pst_f_divergence f;
        double lr;
    } runs[] = {
        {PST_DPG_ON_POLICY, PST_F_FKL, 0.05}, {PST_DPG_KL_ADAPTIVE, PST_F_FKL, 0.05},
        {PST_DPG_BASELINE, PST_F_FKL, 0.05},  {PST_DPG_F, PST_F_FKL, 0.05},
        {PST_DPG_F, PST_F_JS, 0.05},          {PST_DPG_F, PST_F_TV, 0.05},
        {PST_DPG_F, PST_F_RKL, 0.05},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        setup s;
        setup_pointwise(&s, 11);
        pst_dpg_options o;
        pst_dpg_options_default(&o);
        o.variant = runs[r].v;
        o.f = runs[r].f;
        o.batch = 128;
        o.steps = 400;
        o.lr = runs[r].lr;
        o.quiet = 1;
        o.seed = 100 + r;
        watch w = {&s.policy, &s.target, NULL, 0, 0, 0, 0, 0, 0};
        int rc = pst_dpg_train(&s.dpolicy, &s.target, &s.dprior, &o, on_step, &w, &err);
        CHECK_MSG(rc == 0, "%s: %s", pst_dpg_variant_name(runs[r].v), err.msg);
        const char *name = runs[r].v == PST_DPG_F ? pst_f_divergence_name(runs[r].f) : pst_dpg_variant_name(runs[r].v);
        printf("%-12s exact KL(p|pi) %.4f -> %.4f  (estimate %.4f, proposal updates %ld)\n", name, w.first_kl,
               w.last_kl, w.last_estimate, w.proposal_updates);
        CHECK(w.steps == 400);
        CHECK_MSG(w.first_kl > 0.3, "%s starts at KL %g", name, w.first_kl);
        /* Reverse KL is infinite while π puts any mass where b = 0 (its f' is clipped
         * there), so it approaches a hard pointwise constraint more slowly: looser. */
        double goal = runs[r].f == PST_F_RKL ? 0.2 : 0.1;
        CHECK_MSG(w.last_kl < goal * w.first_kl, "%s: KL %g -> %g", name, w.first_kl, w.last_kl);
        if (runs[r].v == PST_DPG_KL_ADAPTIVE || runs[r].v == PST_DPG_BASELINE)
            CHECK_MSG(w.proposal_updates >= 1 && w.proposal_updates < 400, "%s: %ld proposal updates", name,
                      w.proposal_updates);
    }
}

/* f-DPG with reverse KL on P = a·exp(r/β) reaches the optimum of KL-regularised RL:
 * max_π E_π[r] − β·KL(π‖a) = β·log Z, attained at π = p. */
/* KL-adaptive with a margin: m = inf never replaces q (off-policy DPG from the prior
 * throughout) and still converges; m = 3 replaces it less often than m = 0. */
static void test_proposal_margin(void) {
    double margins[3] = {0, 3, INFINITY};
    long updates[3];
    for (int r = 0; r < 3; r++) {
        setup s;
        setup_pointwise(&s, 11);
        pst_dpg_options o;
        pst_dpg_options_default(&o);
        o.variant = PST_DPG_KL_ADAPTIVE;
        o.batch = 128;
        o.steps = 400;
        o.lr = 0.05;
        o.quiet = 1;
        o.seed = 7;
        o.proposal_margin = margins[r];
        watch w = {&s.policy, &s.target, NULL, 0, 0, 0, 0, 0, 0};
        CHECK_MSG(pst_dpg_train(&s.dpolicy, &s.target, &s.dprior, &o, on_step, &w, &err) == 0, "%s", err.msg);
        printf("margin %g: exact KL(p|pi) %.4f -> %.4f, proposal updates %ld\n", margins[r], w.first_kl, w.last_kl,
               w.proposal_updates);
        updates[r] = w.proposal_updates;
        CHECK_MSG(w.last_kl < 0.05 * w.first_kl, "margin %g: KL %.4f -> %.4f", margins[r], w.first_kl, w.last_kl);
    }
    CHECK(updates[2] == 0);
    CHECK_MSG(updates[1] < updates[0], "updates %ld (m = 3) vs %ld (m = 0)", updates[1], updates[0]);
}

/* KL-adaptive with the yardstick: the policy is measured on exact samples of p every 10
 * steps — each measurement within 3 standard errors of the enumerated KL(p‖π_θ) — and q
 * is replaced only on those steps, only when the paired gain is significant; it converges.
 * With lr_by_ess each step's learning rate is lr·ESS/n. */
typedef struct {
    watch w;
    int measured, within, updates_off_measure, updates_not_significant, lr_ok, steps;
    double lr;
    int n;
} exact_watch;

static int on_exact_step(void *ctx, const pst_dpg_step *m) {
    exact_watch *x = ctx;
    on_step(&x->w, m);
    x->steps++;
    x->lr_ok += fabs(m->lr - x->lr * m->ess / x->n) <= 1e-12 * x->lr;
    if (m->proposal_updated && !m->has_exact) x->updates_off_measure++;
    if (m->has_exact) {
        x->measured++;
        const pst_estimate *e = &m->exact.kl_target_policy;
        x->within += fabs(e->value - x->w.last_kl) < 3 * e->se;
        if (m->proposal_updated && !(m->proposal_gain.value + 2 * m->proposal_gain.se < 0)) x->updates_not_significant++;
    }
    return 0;
}

static void test_exact_yardstick(void) {
    setup s;
    setup_pointwise(&s, 11);
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    pst_exact_options xo;
    pst_exact_options_default(&xo);
    pst_reference ref;
    CHECK(pst_draw_exact(&s.target, NULL, 2000, &xo, &rng, &ref, &err) == 0);
    pst_dpg_options o;
    pst_dpg_options_default(&o);
    o.variant = PST_DPG_KL_ADAPTIVE;
    o.batch = 128;
    o.steps = 400;
    o.lr = 0.05;
    o.quiet = 1;
    o.seed = 7;
    o.proposal_margin = 2;
    o.reference = &ref;
    o.exact_every = 10;
    o.lr_by_ess = 1;
    exact_watch x;
    memset(&x, 0, sizeof x);
    x.w = (watch){&s.policy, &s.target, NULL, 0, 0, 0, 0, 0, 0};
    x.lr = o.lr, x.n = o.batch;
    CHECK_MSG(pst_dpg_train(&s.dpolicy, &s.target, &s.dprior, &o, on_exact_step, &x, &err) == 0, "%s", err.msg);
    printf("exact yardstick: KL(p|pi) %.4f -> %.4f, %ld proposal updates, %d/%d measurements within 3 se\n",
           x.w.first_kl, x.w.last_kl, x.w.proposal_updates, x.within, x.measured);
    CHECK(x.measured == 40);
    CHECK_MSG(x.within >= 37, "%d of %d exact measurements within 3 se of the enumerated KL", x.within, x.measured);
    CHECK(x.updates_off_measure == 0 && x.updates_not_significant == 0);
    CHECK(x.w.proposal_updates >= 1);
    CHECK(x.lr_ok == x.steps);
    CHECK_MSG(x.w.last_kl < 0.1 * x.w.first_kl, "KL %.4f -> %.4f", x.w.first_kl, x.w.last_kl);
    /* a reference for one context does not fit a run over two */
    int c0[1] = {1}, c1[1] = {2};
    pst_seq cs[2] = {{c0, 1}, {c1, 1}};
    o.contexts = cs, o.n_contexts = 2;
    CHECK(pst_dpg_train(&s.dpolicy, &s.target, &s.dprior, &o, NULL, NULL, &err) < 0 && strstr(err.msg, "context"));
    pst_reference_free(&ref);
}

/* --lr-min: cosine decay to lr_min over the run, so the last step (lr ≈ 2.5e-4·lr at
 * step 100 of 100) barely moves the policy, while at a constant lr it moves it visibly. */
static double last_step_change(double lr_min) {
    double delta = 0;
    pst_toy after[2];
    for (int r = 0; r < 2; r++) {
        setup s;
        setup_pointwise(&s, 21);
        pst_dpg_options o;
        pst_dpg_options_default(&o);
        o.variant = PST_DPG_ON_POLICY;
        o.batch = 64;
        o.steps = 100;
        o.lr = 0.05;
        o.lr_min = lr_min;
        o.quiet = 1;
        o.seed = 5;
        watch w = {&s.policy, &s.target, NULL, 0, 0, 0, 0, 0, 0};
        /* the same run stopped one step early: the schedule is over --steps, so stop by callback */
        stop_at = r == 0 ? 99 : 0;
        CHECK_MSG(pst_dpg_train(&s.dpolicy, &s.target, &s.dprior, &o, r == 0 ? stop_cb : on_step, &w, &err) == 0,
                  "%s", err.msg);
        after[r] = s.policy;
    }
    const double *x = &after[0].logits[0][0], *y = &after[1].logits[0][0];
    for (size_t i = 0; i < sizeof after[0].logits / sizeof(double); i++) delta = fmax(delta, fabs(x[i] - y[i]));
    return delta;
}

static void test_lr_schedule(void) {
    double constant = last_step_change(-1), cosine = last_step_change(0);
    printf("last step's largest logit change: constant lr %.3g, cosine to 0 %.3g\n", constant, cosine);
    CHECK_MSG(constant > 1e-3 && cosine < 1e-3 * constant, "constant %g, cosine %g", constant, cosine);
}

/* exact E_π[φ] for φ = contains ev.token, by listing every sequence */
static double exact_moment(const pst_toy *pi, setup *s) {
    toy_space sp;
    toy_space_init(&sp, &s->prior, NULL);
    double *lpi = malloc(sizeof(double) * sp.n), *phi = malloc(sizeof(double) * sp.n), m = 0;
    toy_space_logprobs(&sp, pi, NULL, lpi);
    toy_contains_fn(&s->ev, NULL, sp.xs, sp.n, phi, &err);
    for (int i = 0; i < sp.n; i++) m += exp(lpi[i]) * phi[i];
    free(lpi), free(phi);
    toy_space_free(&sp);
    return m;
}

/* A distributional target p ∝ a·exp(λφ) with λ in closed form for a binary φ
 * (logit μ̄ − logit E_a[φ]): every DPG variant ends with E_π[φ] at μ̄ (no systematic
 * undershoot) and the exact KL(p‖π) near 0. */
static void test_distributional(void) {
    struct {
        pst_dpg_variant v;
        double margin;
        const char *name;
    } runs[] = {{PST_DPG_BASELINE, INFINITY, "baseline, q = a"}, {PST_DPG_BASELINE, 0, "baseline"},
                {PST_DPG_KL_ADAPTIVE, INFINITY, "off-policy, q = a"}, {PST_DPG_ON_POLICY, 0, "on-policy"}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        setup s;
        setup_pointwise(&s, 31);
        double base = exact_moment(&s.prior, &s), mu = 0.6;
        s.target.kind = PST_TARGET_DISTRIBUTIONAL;
        s.target.moments[0] = mu;
        s.target.lambda[0] = log(mu / (1 - mu)) - log(base / (1 - base));
        pst_dpg_options o;
        pst_dpg_options_default(&o);
        o.variant = runs[r].v;
        o.proposal_margin = runs[r].margin;
        o.batch = 128;
        o.steps = 400;
        o.lr = 0.05;
        o.lr_min = 0.005;
        o.quiet = 1;
        o.seed = 40 + r;
        watch w = {&s.policy, &s.target, NULL, 0, 0, 0, 0, 0, 0};
        CHECK_MSG(pst_dpg_train(&s.dpolicy, &s.target, &s.dprior, &o, on_step, &w, &err) == 0, "%s", err.msg);
        double m = exact_moment(&s.policy, &s);
        printf("distributional, %-18s E_a[phi] %.4f -> E_pi[phi] %.4f (target %.2f), exact KL(p|pi) %.4f -> %.4f\n",
               runs[r].name, base, m, mu, w.first_kl, w.last_kl);
        CHECK_MSG(fabs(m - mu) < 0.02, "%s: E_pi[phi] %.4f, target %.2f", runs[r].name, m, mu);
        CHECK_MSG(w.last_kl < 0.2 * w.first_kl, "%s: KL %.4f -> %.4f", runs[r].name, w.first_kl, w.last_kl);
    }
}

static void test_rkl_is_kl_regularised_rl(void) {
    setup s;
    setup_pointwise(&s, 12);
    pst_target t = {.kind = PST_TARGET_KLRL, .n_features = 1, .evidence = toy_reward_fn, .prior = &s.dprior,
                    .beta = 0.5};
    pst_dpg_options o;
    pst_dpg_options_default(&o);
    o.variant = PST_DPG_F;
    o.f = PST_F_RKL;
    o.batch = 128;
    o.steps = 500;
    o.lr = 0.05;
    o.quiet = 1;
    watch w = {&s.policy, &t, NULL, 0, 0, 0, 0, 0, 0};
    CHECK(pst_dpg_train(&s.dpolicy, &t, NULL, &o, on_step, &w, &err) == 0);
    toy_space sp;
    toy_space_init(&sp, &s.prior, NULL);
    double *r = malloc(sizeof(double) * sp.n), *lpi = malloc(sizeof(double) * sp.n),
           *lP = malloc(sizeof(double) * sp.n);
    toy_reward_fn(NULL, NULL, sp.xs, sp.n, r, &err);
    toy_space_logprobs(&sp, &s.policy, NULL, lpi);
    double J = 0, J0 = 0;
    for (int i = 0; i < sp.n; i++) {
        double pi = exp(lpi[i]);
        J += pi * (r[i] - 0.5 * (lpi[i] - sp.log_a[i]));
        J0 += exp(sp.log_a[i]) * r[i];
        lP[i] = sp.log_a[i] + r[i] / 0.5;
    }
    double best = 0.5 * pst_logsumexp(lP, (size_t)sp.n), rkl;
    exact_kl_target_policy(&s.policy, &t, NULL, 0, &rkl);
    printf("rkl on a·exp(r/beta): J(prior) %.4f -> J(pi) %.4f, optimum beta·log Z %.4f, KL(pi|p) %.5f\n", J0, J,
           best, rkl);
    CHECK(J <= best + 1e-12);
    CHECK_MSG(best - J < 0.05 * (best - J0), "RL objective %g not near its optimum %g (start %g)", J, best, J0);
    CHECK_NEAR(best - J, 0.5 * rkl, 1e-9); /* the identity J(π) = β log Z − β KL(π‖p) */
    CHECK(rkl < 0.02);
    free(r), free(lpi), free(lP);
    toy_space_free(&sp);
}

/* CDPG: two contexts, one Z_c each; the averaged exact KL goes toward 0. */
static void test_conditional(void) {
    setup s;
    setup_conditional(&s, toy_contains_fn);
    pst_target t = s.target;
    int c0[1] = {1}, c1[2] = {3, 1};
    pst_seq ctxs[2] = {{c0, 1}, {c1, 2}};
    pst_dpg_options o;
    pst_dpg_options_default(&o);
    o.variant = PST_DPG_BASELINE;
    o.batch = 128;
    o.steps = 400;
    o.lr = 0.05;
    o.quiet = 1;
    o.contexts = ctxs;
    o.n_contexts = 2;
    watch w = {&s.policy, &t, ctxs, 2, 0, 0, 0, 0, 0};
    double before[2];
    for (int g = 0; g < 2; g++) before[g] = exact_kl_target_policy(&s.policy, &t, &ctxs[g], 1, NULL);
    CHECK_MSG(pst_dpg_train(&s.dpolicy, &t, &s.dprior, &o, on_step, &w, &err) == 0, "%s", err.msg);
    printf("cdpg         exact mean KL(p_c|pi_c) %.4f -> %.4f\n", w.first_kl, w.last_kl);
    CHECK(w.first_kl > 0.2 && w.last_kl < 0.1 * w.first_kl);
    for (int g = 0; g < 2; g++) { /* every context's own KL, not only the mean */
        double after = exact_kl_target_policy(&s.policy, &t, &ctxs[g], 1, NULL);
        printf("cdpg         context %d: exact KL(p_c|pi_c) %.4f -> %.6f\n", g, before[g], after);
        CHECK(before[g] > 0.1 && after < 0.1 * before[g]);
    }
}

/* ---- one Z shared by all contexts (the ablation of CDPG) ---------------------------- */

/* A policy that cannot see its context: the toy's ops with every context dropped. Its
 * continuations of a 1-token context under a max_len-4 prior are the sequences of a
 * max_len-3 toy. */
static pst_distribution blind_inner;
static int blind_sample(void *self, const pst_seq *c, int n, pst_rng *rng, pst_sample *out, pst_error *e) {
    return pst_dist_sample(&blind_inner, NULL, n, rng, out, e);
}
static int blind_score(void *self, const pst_seq *c, const pst_sample *xs, int n, double *lp, pst_error *e) {
    return pst_dist_score(&blind_inner, NULL, xs, n, lp, e);
}
static int blind_accumulate(void *self, const pst_seq *c, const pst_sample *xs, const double *coef, int n,
                            double *lp, pst_error *e) {
    return pst_dist_accumulate(&blind_inner, NULL, xs, coef, n, lp, e);
}
static void blind_zero_grad(void *self) { pst_dist_zero_grad(&blind_inner); }
static int blind_step(void *self, double lr, pst_error *e) { return pst_dist_step(&blind_inner, lr, e); }
static const pst_distribution_ops blind_ops = {"blind toy", blind_sample, blind_score, blind_accumulate,
                                               blind_zero_grad, blind_step, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};

/* b(x, c): for c = [1], x contains token 2 (common); for c = [3], x starts with 2 3 (rare). */
static int context_evidence(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    for (int i = 0; i < n; i++) {
        const int *t = xs[i].tokens;
        int m = xs[i].n_tokens;
        out[i] = 0;
        if (c[i].tokens[0] == 1)
            for (int j = 0; j < m; j++) out[i] = out[i] || t[j] == 2;
        else
            out[i] = m >= 2 && t[0] == 2 && t[1] == 3;
    }
    return 0;
}

/* p_c over the blind policy's sequence space (same order as toy_space_init(blind)), and Z_c. */
static double posterior_of_context(const pst_target *t, const pst_seq *c, const toy_space *blind, double *p) {
    pst_seq *cs = malloc(sizeof *cs * blind->n);
    double *la = malloc(sizeof(double) * blind->n), *lP = malloc(sizeof(double) * blind->n);
    for (int i = 0; i < blind->n; i++) cs[i] = *c;
    pst_target_score(t, cs, blind->xs, blind->n, NULL, la, NULL, lP, &err);
    double log_z = exact_normalise(lP, blind->n, p);
    free(cs), free(la), free(lP);
    return exp(log_z);
}

/* Trains the blind policy on the two contexts with CDPG (shared_z 0) or one shared Z. */
static void train_blind(pst_toy *policy, pst_target *t, const pst_seq *ctxs, int shared_z) {
    pst_toy_distribution(policy, &blind_inner);
    pst_distribution d = {&blind_ops, policy, 0};
    pst_dpg_options o;
    pst_dpg_options_default(&o);
    o.variant = PST_DPG_ON_POLICY;
    o.batch = 256;
    o.steps = 600;
    o.lr = 0.03;
    o.lr_min = 0.003;
    o.quiet = 1;
    o.seed = 21;
    o.contexts = ctxs;
    o.n_contexts = 2;
    o.shared_z = shared_z;
    CHECK_MSG(pst_dpg_train(&d, t, t->prior, &o, NULL, NULL, &err) == 0, "%s", err.msg);
}

/* With a policy that cannot tell its two contexts apart, CDPG's fixed point is the even
 * mixture ½(p_0 + p_1), which minimises Σ_c KL(p_c‖π); with one Z shared by the contexts
 * the weights P_c/Z make it ∝ P_0 + P_1 = Z_0 p_0 + Z_1 p_1: the context with the larger
 * Z_c takes over. Both computed by enumeration; each run must land on its own. */
static void test_shared_z_ablation(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 17);
    pst_toy prior, policy0;
    pst_toy_init(&prior, 4, 4, 0.5, &rng, &err);
    pst_toy_init(&policy0, 4, 3, 0.5, &rng, &err);
    pst_distribution dprior;
    pst_toy_distribution(&prior, &dprior);
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = context_evidence, .prior = &dprior};
    int c0[1] = {1}, c1[1] = {3};
    pst_seq ctxs[2] = {{c0, 1}, {c1, 1}};
    toy_space sp;
    toy_space_init(&sp, &policy0, NULL);
    int N = sp.n;
    double *p0 = malloc(sizeof(double) * N), *p1 = malloc(sizeof(double) * N), *even = malloc(sizeof(double) * N),
           *weighted = malloc(sizeof(double) * N), *lpi = malloc(sizeof(double) * N);
    double z0 = posterior_of_context(&t, &ctxs[0], &sp, p0), z1 = posterior_of_context(&t, &ctxs[1], &sp, p1);
    for (int i = 0; i < N; i++)
        even[i] = 0.5 * (p0[i] + p1[i]), weighted[i] = (z0 * p0[i] + z1 * p1[i]) / (z0 + z1);
    for (int i = 0; i < N; i++) lpi[i] = log(weighted[i]);
    double gap = exact_kl(even, lpi, N); /* how far apart the two fixed points are */
    CHECK_MSG(z0 > 5 * z1 && gap > 0.1, "Z_0 %g, Z_1 %g, KL(even||weighted) %g", z0, z1, gap);

    double kl[2][2]; /* kl[run][fixed point]: run 0 = CDPG, 1 = shared Z; point 0 = even, 1 = weighted */
    for (int shared = 0; shared < 2; shared++) {
        pst_toy policy = policy0;
        train_blind(&policy, &t, ctxs, shared);
        toy_space_logprobs(&sp, &policy, NULL, lpi);
        kl[shared][0] = exact_kl(even, lpi, N);
        kl[shared][1] = exact_kl(weighted, lpi, N);
    }
    printf("shared Z     Z_0 %.4f Z_1 %.4f, KL(even||weighted) %.4f; CDPG: KL to even %.4f, to weighted %.4f; "
           "shared Z: to even %.4f, to weighted %.4f\n", z0, z1, gap, kl[0][0], kl[0][1], kl[1][0], kl[1][1]);
    CHECK(kl[0][0] < 0.1 * gap && kl[0][1] > 0.5 * gap); /* CDPG at ½(p_0 + p_1) */
    CHECK(kl[1][1] < 0.1 * gap && kl[1][0] > 0.5 * gap); /* shared Z at ∝ P_0 + P_1 */
    free(p0), free(p1), free(even), free(weighted), free(lpi);
    toy_space_free(&sp);
}

static int remove_tree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

/* A run interrupted at step 10 and resumed ends bit for bit where the uninterrupted
 * run ends; metrics are appended. */
static void test_resume(void) {
    char dir_a[256], dir_b[256], metrics[300];
    snprintf(dir_a, sizeof dir_a, "/tmp/pst_dpg_test_a_%d", (int)getpid());
    snprintf(dir_b, sizeof dir_b, "/tmp/pst_dpg_test_b_%d", (int)getpid());
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir_b);
    setup a, b;
    setup_pointwise(&a, 14);
    setup_pointwise(&b, 14);
    pst_dpg_options o;
    pst_dpg_options_default(&o);
    o.variant = PST_DPG_BASELINE;
    o.batch = 32;
    o.lr = 0.05;
    o.quiet = 1;
    o.steps = 20;
    o.out_dir = dir_a;
    o.checkpoint_every = 5;
    pst_mkdir_p(dir_a, &err);
    pst_mkdir_p(dir_b, &err);
    CHECK(pst_dpg_train(&a.dpolicy, &a.target, &a.dprior, &o, NULL, NULL, &err) == 0);
    o.out_dir = dir_b;
    o.metrics_path = metrics;
    o.steps = 10;
    CHECK(pst_dpg_train(&b.dpolicy, &b.target, &b.dprior, &o, NULL, NULL, &err) == 0);
    { /* a run killed after its checkpoint at 10 has written lines past it: resume drops them */
        FILE *fm = fopen(metrics, "a");
        if (fm) fputs("{\"step\": 11, \"loss\": 1}\n{\"step\": 12, \"loss\": 1}\n{\"step\": 13, \"lo", fm), fclose(fm);
    }
    setup_pointwise(&b, 99); /* scramble: everything must come from the checkpoint */
    b.target.prior = &b.dprior;
    setup fresh;
    setup_pointwise(&fresh, 14);
    b.prior = fresh.prior; /* the prior (initial proposal) is an input, as on the command line */
    o.steps = 20;
    o.resume = 1;
    CHECK_MSG(pst_dpg_train(&b.dpolicy, &b.target, &b.dprior, &o, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(memcmp(a.policy.logits, b.policy.logits, sizeof a.policy.logits) == 0);
    char *text;
    size_t len;
    CHECK(pst_read_file(metrics, &text, &len, &err) == 0);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    CHECK_MSG(lines == 20, "%d metrics lines after resume, want 20", lines);
    CHECK(strstr(text, "\"step\": 11, \"loss\": 1}") == NULL);
    CHECK(strstr(text, "\"step\": 20,") != NULL && strstr(text, "\"kl_p_pi\"") != NULL);
    free(text);
    /* only the latest checkpoint is kept */
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt-20/state.json", dir_b);
    CHECK(pst_file_exists(path));
    snprintf(path, sizeof path, "%s/ckpt-10", dir_b);
    CHECK(!pst_file_exists(path));
    /* the resumed state is the uninterrupted one, bit for bit (the baseline and the log Ẑ
     * sums are written with every digit) */
    char *sa, *sb;
    size_t la, lb;
    snprintf(path, sizeof path, "%s/ckpt-20/state.json", dir_a);
    CHECK(pst_read_file(path, &sa, &la, &err) == 0);
    snprintf(path, sizeof path, "%s/ckpt-20/state.json", dir_b);
    CHECK(pst_read_file(path, &sb, &lb, &err) == 0);
    CHECK_MSG(la == lb && memcmp(sa, sb, la) == 0, "resumed state %s\nuninterrupted %s", sb, sa);
    free(sa), free(sb);
    remove_tree(dir_a);
    remove_tree(dir_b);
}

/* evidence that turns NaN at its 6th call */
typedef struct {
    int calls;
} nan_ctx;
static int nan_later_fn(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    nan_ctx *nc = ctx;
    toy_contains tc = {2};
    toy_contains_fn(&tc, c, xs, n, out, e);
    if (++nc->calls >= 6) out[0] = NAN;
    return 0;
}
/* b = 0 on the first two calls (no sample of P > 0 yet), then "contains 2" */
static int late_fn(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    nan_ctx *nc = ctx;
    toy_contains tc = {2};
    toy_contains_fn(&tc, c, xs, n, out, e);
    if (nc->calls++ < 2)
        for (int i = 0; i < n; i++) out[i] = 0;
    return 0;
}
static int never_fn(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    for (int i = 0; i < n; i++) out[i] = 0;
    return 0;
}

static void test_bad_input(void) {
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "/tmp/pst_dpg_test_nan_%d", (int)getpid());
    setup s;
    setup_pointwise(&s, 15);
    nan_ctx nc = {0};
    s.target.evidence = nan_later_fn;
    s.target.evidence_ctx = &nc;
    pst_dpg_options o;
    pst_dpg_options_default(&o);
    o.batch = 16;
    o.steps = 50;
    o.quiet = 1;
    o.out_dir = dir;
    o.checkpoint_every = 2;
    CHECK(pst_dpg_train(&s.dpolicy, &s.target, &s.dprior, &o, NULL, NULL, &err) < 0);
    CHECK_MSG(strstr(err.msg, "NaN") && strstr(err.msg, "step 6"), "%s", err.msg);
    snprintf(path, sizeof path, "%s/ckpt-4/policy/toy.bin", dir);
    CHECK(pst_file_exists(path)); /* the last good checkpoint is kept */
    char latest[64] = "";
    snprintf(path, sizeof path, "%s/latest", dir);
    CHECK(readlink(path, latest, sizeof latest - 1) > 0 && strcmp(latest, "ckpt-4") == 0);
    remove_tree(dir);

    /* batches without a sample of P > 0 at the start are not fatal: no step until Z > 0 */
    for (int v = 0; v < 4; v++) {
        setup l;
        setup_pointwise(&l, 17);
        nan_ctx lc = {0};
        l.target.evidence = late_fn;
        l.target.evidence_ctx = &lc;
        pst_dpg_options lo;
        pst_dpg_options_default(&lo);
        lo.variant = (pst_dpg_variant)v;
        lo.batch = 16;
        lo.steps = 6;
        lo.quiet = 1;
        lo.lr = 0.05;
        pst_toy before = l.policy;
        CHECK_MSG(pst_dpg_train(&l.dpolicy, &l.target, &l.dprior, &lo, NULL, NULL, &err) == 0, "variant %d: %s", v,
                  err.msg);
        CHECK(l.policy.steps == 4); /* two steps skipped */
        CHECK(memcmp(before.logits, l.policy.logits, sizeof before.logits) != 0);
    }

    setup z;
    setup_pointwise(&z, 16);
    z.target.evidence = never_fn;
    o.out_dir = NULL;
    o.checkpoint_every = 0;
    CHECK(pst_dpg_train(&z.dpolicy, &z.target, &z.dprior, &o, NULL, NULL, &err) < 0);
    CHECK_MSG(strstr(err.msg, "Z estimate is 0") != NULL, "%s", err.msg);

    o.batch = 1;
    CHECK(pst_dpg_train(&z.dpolicy, &z.target, &z.dprior, &o, NULL, NULL, &err) < 0 && !strcmp(err.field, "batch") &&
          strstr(err.msg, "batch = 1"));
    o.batch = 8;
    o.resume = 1;
    o.out_dir = "/nonexistent/run";
    CHECK(pst_dpg_train(&z.dpolicy, &z.target, &z.dprior, &o, NULL, NULL, &err) < 0 && !strcmp(err.field, "resume") &&
          strstr(err.msg, "/nonexistent/run"));
    pst_dpg_variant v;
    CHECK(pst_dpg_variant_parse("kl-adaptive", &v, &err) == 0 && v == PST_DPG_KL_ADAPTIVE);
    CHECK(pst_dpg_variant_parse("ppo", &v, &err) < 0 && strstr(err.msg, "ppo"));
}

/* ---- contexts whose Z_c is 0: reported and skipped ---------------------------------- */

/* b(x, c) = 0 for a context starting with token 3 (Z_c = 0), else x contains token 2. */
static int ctx_contains_fn(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    if (toy_contains_fn(ctx, c, xs, n, out, e) < 0) return -1;
    for (int i = 0; i < n; i++)
        if (c && c[i].n > 0 && c[i].tokens[0] == 3) out[i] = 0;
    return 0;
}

typedef struct {
    int steps, zero_z_ok, finite_kl, G;
    double seen[3], hits[3];
} zero_z_watch;

static int on_zero_z_step(void *ctx, const pst_dpg_step *m) {
    zero_z_watch *w = ctx;
    w->steps++;
    w->zero_z_ok += m->n_contexts == 3 && m->zero_z_contexts == 1;
    w->finite_kl += isfinite(m->kl_target_policy.value);
    for (int g = 0; g < 3 && m->context_seen; g++) w->seen[g] = m->context_seen[g], w->hits[g] = m->context_hits[g];
    return 0;
}

/* Three contexts, the second of which no continuation satisfies: CDPG (one Ẑ_c each, or one
 * shared Ẑ) runs to the end, every step counts that context in zero_z_contexts, its hits stay
 * 0 while the others' grow, the KL(p‖π) estimate stays defined (averaged over the contexts
 * with support), and the other contexts' exact KL(p_c‖π_c) still goes toward 0. The counts
 * survive a resume. */
static void test_zero_z_contexts(void) {
    for (int shared = 0; shared < 2; shared++) {
        char dir[256];
        snprintf(dir, sizeof dir, "/tmp/pst_dpg_test_zz_%d_%d", (int)getpid(), shared);
        setup s;
        setup_conditional(&s, ctx_contains_fn);
        pst_target t = s.target;
        int c0[1] = {1}, c1[2] = {3, 1}, c2[1] = {2};
        pst_seq ctxs[3] = {{c0, 1}, {c1, 2}, {c2, 1}};
        pst_dpg_options o;
        pst_dpg_options_default(&o);
        o.variant = PST_DPG_BASELINE;
        o.batch = 96;
        o.steps = 150;
        o.lr = 0.05;
        o.quiet = 1;
        o.contexts = ctxs;
        o.n_contexts = 3;
        o.shared_z = shared;
        o.out_dir = dir;
        pst_mkdir_p(dir, &err);
        double before[2] = {exact_kl_target_policy(&s.policy, &t, &ctxs[0], 1, NULL),
                            exact_kl_target_policy(&s.policy, &t, &ctxs[2], 1, NULL)};
        zero_z_watch w = {0};
        o.steps = 100;
        CHECK_MSG(pst_dpg_train(&s.dpolicy, &t, &s.dprior, &o, on_zero_z_step, &w, &err) == 0, "%s", err.msg);
        o.steps = 150, o.resume = 1;
        CHECK_MSG(pst_dpg_train(&s.dpolicy, &t, &s.dprior, &o, on_zero_z_step, &w, &err) == 0, "resume: %s", err.msg);
        double after[2] = {exact_kl_target_policy(&s.policy, &t, &ctxs[0], 1, NULL),
                           exact_kl_target_policy(&s.policy, &t, &ctxs[2], 1, NULL)};
        printf("zero Z_c (shared %d): %d/%d steps count 1 context; hits %g %g %g of %g %g %g; exact KL %.3f -> %.4f, "
               "%.3f -> %.4f\n",
               shared, w.zero_z_ok, w.steps, w.hits[0], w.hits[1], w.hits[2], w.seen[0], w.seen[1], w.seen[2],
               before[0], after[0], before[1], after[1]);
        CHECK(w.steps == 150 && w.zero_z_ok == 150 && w.finite_kl == 150);
        CHECK(w.seen[0] == 150 * 32 && w.seen[1] == 150 * 32 && w.seen[2] == 150 * 32); /* across the resume */
        CHECK(w.hits[1] == 0 && w.hits[0] > 100 && w.hits[2] > 100);
        if (!shared) /* with one shared Ẑ each context's fixed point is weighted otherwise: only CDPG goes to p_c */
            for (int g = 0; g < 2; g++) CHECK_MSG(after[g] < 0.2 * before[g], "KL %g -> %g", before[g], after[g]);
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        CHECK(system(cmd) == 0);
    }
}

/* ---- the policy's entropy and length in the RL variants ------------------------------ */

typedef struct {
    int steps, with_stats;
    double sum_h;
} entropy_watch;

static int on_entropy_step(void *ctx, const pst_dpg_step *m) {
    entropy_watch *w = ctx;
    w->steps++;
    w->with_stats += m->has_policy_stats;
    w->sum_h += m->entropy * m->mean_length;
    return 0;
}

/* entropy (per token) × mean_length = −mean log π(x) over the batch, an unbiased estimate
 * of the sequence entropy H(π): over steps of a policy that does not move (lr 1e-12) it
 * matches H(π) by enumeration, for each RL variant and on-policy DPG; off-policy DPG
 * (q ≠ π) does not report it. */
static void test_entropy_metric(void) {
    pst_dpg_variant vs[4] = {PST_RL_REINFORCE, PST_RL_RLOO, PST_RL_GRPO, PST_DPG_KL_ADAPTIVE};
    for (int v = 0; v < 4; v++) {
        setup s;
        setup_pointwise(&s, 11);
        toy_space sp;
        toy_space_init(&sp, &s.prior, NULL);
        double h = 0;
        for (int i = 0; i < sp.n; i++) h -= exp(sp.log_a[i]) * sp.log_a[i];
        toy_space_free(&sp);
        pst_dpg_options o;
        pst_dpg_options_default(&o);
        o.variant = vs[v];
        o.batch = 64;
        o.steps = 40;
        o.lr = 1e-12;
        o.quiet = 1;
        entropy_watch w = {0};
        CHECK_MSG(pst_dpg_train(&s.dpolicy, &s.target, &s.dprior, &o, on_entropy_step, &w, &err) == 0, "%s", err.msg);
        printf("%-12s entropy metric: mean over %d steps %.4f, exact H(pi) %.4f\n", pst_dpg_variant_name(vs[v]),
               w.steps, w.with_stats ? w.sum_h / w.steps : NAN, h);
        if (vs[v] == PST_DPG_KL_ADAPTIVE) {
            CHECK(w.with_stats == 0);
            continue;
        }
        CHECK(w.steps == 40 && w.with_stats == 40);
        CHECK_NEAR(w.sum_h / w.steps, h, 0.1);
    }
}

int main(void) {
    test_zero_z_contexts();
    test_entropy_metric();
    test_variants();
    test_proposal_margin();
    test_exact_yardstick();
    test_lr_schedule();
    test_distributional();
    test_rkl_is_kl_regularised_rl();
    test_conditional();
    test_shared_z_ablation();
    test_resume();
    test_bad_input();
    return check_report();
}
