/* KL-regularised RL on the enumerable toy (chapter 2 of the thesis), through the trainer
 * (pst_dpg_train with the RL variants), with exact entropies and divergences by enumeration:
 *   - REINFORCE on the reward alone collapses π onto argmax r (exact entropy → 0);
 *   - REINFORCE, RLOO and GRPO on R = r − β·(log π − log a) drive the exact KL(π‖p) toward 0
 *     for p ∝ a·exp(r/β): the same optimum as f-DPG with the reverse KL;
 *   - bad options name their field. */
#include "check.h"
#include "posterior/dpg.h"
#include "target/toy_exact.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static pst_error err;

typedef struct {
    pst_toy prior, policy;
    pst_distribution dprior, dpolicy;
    pst_target target; /* KL-RL: P = a·exp(r/β) */
} setup;

static void setup_klrl(setup *s, uint64_t seed, double beta) {
    pst_rng rng;
    pst_rng_seed(&rng, seed);
    pst_toy_init(&s->prior, 4, 4, 1.0, &rng, &err);
    s->policy = s->prior; /* π_θ starts at the prior */
    pst_toy_distribution(&s->prior, &s->dprior);
    pst_toy_distribution(&s->policy, &s->dpolicy);
    pst_target t = {.kind = PST_TARGET_KLRL, .n_features = 1, .evidence = toy_reward_fn, .prior = &s->dprior,
                    .beta = beta};
    s->target = t;
}

/* exact H(π), KL(π‖p), π(argmax r) over every sequence */
typedef struct {
    double entropy, kl_policy_target, argmax_mass;
} exact_view;

static exact_view measure(setup *s) {
    toy_space sp;
    toy_space_init(&sp, &s->prior, NULL);
    double *r = malloc(sizeof(double) * sp.n), *lpi = malloc(sizeof(double) * sp.n),
           *lP = malloc(sizeof(double) * sp.n), *p = malloc(sizeof(double) * sp.n);
    toy_reward_fn(NULL, NULL, sp.xs, sp.n, r, &err);
    toy_space_logprobs(&sp, &s->policy, NULL, lpi);
    int best = 0;
    for (int i = 0; i < sp.n; i++) {
        lP[i] = sp.log_a[i] + r[i] / s->target.beta;
        if (r[i] > r[best]) best = i;
    }
    exact_normalise(lP, sp.n, p);
    exact_view v = {0, 0, exp(lpi[best])};
    for (int i = 0; i < sp.n; i++) {
        double pi = exp(lpi[i]);
        if (pi > 0) v.entropy -= pi * lpi[i], v.kl_policy_target += pi * (lpi[i] - log(p[i]));
    }
    free(r), free(lpi), free(lP), free(p);
    toy_space_free(&sp);
    return v;
}

static void options(pst_dpg_options *o, pst_dpg_variant v, double kl_coef, long steps) {
    pst_dpg_options_default(o);
    o->variant = v;
    o->reward = PST_REWARD_LOG_EVIDENCE; /* r/β for a KL-RL target */
    o->kl_coef = kl_coef;
    o->batch = 128;
    o->group_size = 4;
    o->steps = steps;
    o->lr = 0.05;
    o->quiet = 1;
}

static void test_reward_alone_collapses(void) {
    setup s;
    setup_klrl(&s, 21, 1.0);
    exact_view before = measure(&s);
    pst_dpg_options o;
    options(&o, PST_RL_REINFORCE, 0.0, 400);
    CHECK(pst_dpg_train(&s.dpolicy, &s.target, NULL, &o, NULL, NULL, &err) == 0);
    exact_view after = measure(&s);
    printf("reinforce, no KL: entropy %.3f -> %.4f, pi(argmax r) %.3f -> %.4f, KL(pi|p) %.3f -> %.3f\n",
           before.entropy, after.entropy, before.argmax_mass, after.argmax_mass, before.kl_policy_target,
           after.kl_policy_target);
    CHECK_MSG(after.entropy < 0.05, "entropy %g: REINFORCE without KL should collapse", after.entropy);
    CHECK(after.argmax_mass > 0.98);
    CHECK(after.kl_policy_target > before.kl_policy_target); /* and leaves the posterior behind */
}

static void test_kl_control_reaches_p(void) {
    const struct {
        pst_dpg_variant v;
        const char *name;
        double bar;
    } runs[] = {{PST_RL_REINFORCE, "reinforce", 0.005}, {PST_RL_RLOO, "rloo", 0.005}, {PST_RL_GRPO, "grpo", 0.005}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        setup s;
        setup_klrl(&s, 12, 0.5);
        exact_view before = measure(&s);
        pst_dpg_options o;
        options(&o, runs[k].v, 1.0, 500); /* R = r/β − (log π − log a) = log P − log π */
        CHECK(pst_dpg_train(&s.dpolicy, &s.target, NULL, &o, NULL, NULL, &err) == 0);
        exact_view after = measure(&s);
        printf("%s with KL: KL(pi|p) %.4f -> %.4f, entropy %.3f -> %.3f\n", runs[k].name, before.kl_policy_target,
               after.kl_policy_target, before.entropy, after.entropy);
        CHECK_MSG(after.kl_policy_target < runs[k].bar, "%s: exact KL(pi|p) %g (bar %g)", runs[k].name,
                  after.kl_policy_target, runs[k].bar);
        CHECK(after.kl_policy_target < 0.2 * before.kl_policy_target);
    }
}

static void test_bad_options(void) {
    setup s;
    setup_klrl(&s, 3, 1.0);
    pst_dpg_options o;
    options(&o, PST_RL_RLOO, 1.0, 2);
    o.group_size = 3; /* 128 is not a multiple of 3 */
    CHECK(pst_dpg_train(&s.dpolicy, &s.target, NULL, &o, NULL, NULL, &err) < 0 && !strcmp(err.field, "group_size"));
    o.group_size = 1;
    CHECK(pst_dpg_train(&s.dpolicy, &s.target, NULL, &o, NULL, NULL, &err) < 0 && strstr(err.msg, "at least 2"));
    options(&o, PST_RL_REINFORCE, -1.0, 2);
    CHECK(pst_dpg_train(&s.dpolicy, &s.target, NULL, &o, NULL, NULL, &err) < 0 && !strcmp(err.field, "kl_coef"));
    pst_rl_reward rw;
    CHECK(pst_rl_reward_parse("log-target", &rw, &err) == 0 && rw == PST_REWARD_LOG_TARGET);
    CHECK(pst_rl_reward_parse("score", &rw, &err) < 0 && !strcmp(err.field, "reward"));
    pst_dpg_variant v;
    CHECK(pst_dpg_variant_parse("grpo", &v, &err) == 0 && v == PST_RL_GRPO);
    CHECK(!strcmp(pst_dpg_variant_name(PST_RL_RLOO), "rloo"));
}

int main(void) {
    test_reward_alone_collapses();
    test_kl_control_reaches_p();
    test_bad_options();
    return check_report();
}
