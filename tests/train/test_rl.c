/* The RL estimators (include/posterior/rl.h) against closed forms: on a softmax policy over
 * K outcomes every expectation is a finite sum, so "unbiased" is checked exactly (all K^k
 * batches enumerated with their probabilities), not by Monte Carlo; GAE, the clipped PPO
 * losses and the adaptive KL coefficient against hand-computed examples and finite
 * differences. */
#include "posterior/dpg.h"
#include "posterior/rl.h"

#include <math.h>
#include <string.h>

#include "check.h"

enum { K = 4, GROUP = 3 };
static const double reward_of[K] = {1.0, -0.5, 2.0, 0.25};
static const double log_prior_of[K] = {-1.2, -1.0, -2.5, -1.6};

static void softmax(const double *theta, double *pi) {
    double m = theta[0], s = 0;
    for (int x = 1; x < K; x++) m = fmax(m, theta[x]);
    for (int x = 0; x < K; x++) s += pi[x] = exp(theta[x] - m);
    for (int x = 0; x < K; x++) pi[x] /= s;
}

/* J(θ) = E_π[r] − β·KL(π‖a) */
static double objective(const double *theta, double beta) {
    double pi[K], j = 0;
    softmax(theta, pi);
    for (int x = 0; x < K; x++) j += pi[x] * (reward_of[x] - beta * (log(pi[x]) - log_prior_of[x]));
    return j;
}

static void true_gradient(const double *theta, double beta, double *g) {
    for (int d = 0; d < K; d++) {
        double tp[K], tm[K], h = 1e-5;
        memcpy(tp, theta, sizeof tp), memcpy(tm, theta, sizeof tm);
        tp[d] += h, tm[d] -= h;
        g[d] = (objective(tp, beta) - objective(tm, beta)) / (2 * h);
    }
}

enum { REINFORCE, RLOO, GRPO_CENTERED };

/* E[ĝ] over every batch of GROUP samples: ĝ = (1/k) Σ_i A_i·∇log π(x_i), ∇_θ log π(x) = e_x − π */
static void expected_estimate(const double *theta, double beta, int method, double baseline, double *eg) {
    double pi[K], lp[K];
    softmax(theta, pi);
    for (int x = 0; x < K; x++) lp[x] = log(pi[x]);
    memset(eg, 0, sizeof(double) * K);
    pst_error err;
    for (int code = 0; code < K * K * K; code++) {
        int xs[GROUP] = {code % K, code / K % K, code / (K * K)};
        double prob = 1, r[GROUP], lpi[GROUP], la[GROUP], R[GROUP], A[GROUP];
        for (int i = 0; i < GROUP; i++) {
            prob *= pi[xs[i]];
            r[i] = reward_of[xs[i]], lpi[i] = lp[xs[i]], la[i] = log_prior_of[xs[i]];
        }
        pst_rl_kl_shaped_reward(r, lpi, la, beta, GROUP, R);
        if (method == REINFORCE) pst_rl_reinforce_advantages(R, GROUP, baseline, A);
        else if (method == RLOO) CHECK(pst_rl_rloo_advantages(R, GROUP, GROUP, A, &err) == 0);
        else CHECK(pst_rl_grpo_advantages(R, GROUP, GROUP, 0, 0, A, &err) == 0);
        for (int i = 0; i < GROUP; i++)
            for (int d = 0; d < K; d++) eg[d] += prob * A[i] * ((d == xs[i]) - pi[d]) / GROUP;
    }
}

static void test_unbiased(void) {
    const double theta[K] = {0.3, -0.2, 0.1, 0.5};
    for (int b = 0; b < 2; b++) {
        double beta = b ? 0.7 : 0.0, g[K], eg[K];
        true_gradient(theta, beta, g);
        double norm = 0;
        for (int d = 0; d < K; d++) norm += fabs(g[d]);
        CHECK_MSG(norm > 0.1, "the test's gradient is too small to mean anything (%g)", norm);
        /* REINFORCE: any baseline that does not look at the batch leaves it unbiased */
        for (int k = 0; k < 2; k++) {
            expected_estimate(theta, beta, REINFORCE, k ? 1.3 : 0.0, eg);
            for (int d = 0; d < K; d++) CHECK_NEAR(eg[d], g[d], 1e-8);
        }
        /* RLOO: the leave-one-out mean does not depend on x_i: unbiased */
        expected_estimate(theta, beta, RLOO, 0, eg);
        for (int d = 0; d < K; d++) CHECK_NEAR(eg[d], g[d], 1e-8);
        /* GRPO's group mean includes R_i: the expectation is (k − 1)/k of the gradient,
         * which the check tells apart from the gradient itself */
        expected_estimate(theta, beta, GRPO_CENTERED, 0, eg);
        double off = 0;
        for (int d = 0; d < K; d++) {
            CHECK_NEAR(eg[d], g[d] * (GROUP - 1) / GROUP, 1e-8);
            off += fabs(eg[d] - g[d]);
        }
        CHECK_MSG(off > 1e-2, "a biased estimate should be told apart (%g)", off);
    }
}

static void test_group_statistics(void) {
    double R[6] = {1, 2, 3, 10, 10, 10}, A[6];
    pst_error err;
    CHECK(pst_rl_rloo_advantages(R, 6, 3, A, &err) == 0);
    CHECK_NEAR(A[0], 1 - 2.5, 1e-12);
    CHECK_NEAR(A[2], 3 - 1.5, 1e-12);
    CHECK_NEAR(A[4], 0, 1e-12);
    CHECK(pst_rl_grpo_advantages(R, 6, 3, 1, 1e-4, A, &err) == 0);
    double sd = sqrt(2.0 / 3.0);
    CHECK_NEAR(A[0], -1 / (sd + 1e-4), 1e-12);
    CHECK_NEAR(A[2], 1 / (sd + 1e-4), 1e-12);
    CHECK_NEAR(A[3], 0, 1e-12); /* a group of equal rewards carries no signal */
    /* bad input names what is wrong */
    CHECK(pst_rl_rloo_advantages(R, 6, 1, A, &err) < 0 && strstr(err.msg, "group size 1"));
    CHECK(pst_rl_grpo_advantages(R, 5, 2, 1, 0, A, &err) < 0 && strstr(err.msg, "not a multiple"));
}

static void test_k3(void) {
    const double theta[K] = {0.3, -0.2, 0.1, 0.5};
    double pi[K], kl = 0, ek3 = 0;
    softmax(theta, pi);
    for (int x = 0; x < K; x++) {
        double d;
        double k3 = pst_rl_kl_k3(log(pi[x]), log_prior_of[x], &d);
        CHECK(k3 >= 0);
        /* ∂k3/∂log π against a central difference */
        double h = 1e-6, fd = (pst_rl_kl_k3(log(pi[x]) + h, log_prior_of[x], NULL) -
                               pst_rl_kl_k3(log(pi[x]) - h, log_prior_of[x], NULL)) / (2 * h);
        CHECK_NEAR(d, fd, 1e-6);
        ek3 += pi[x] * k3;
        kl += pi[x] * (log(pi[x]) - log_prior_of[x]);
    }
    /* unbiased for KL(π‖a) when a is normalised: renormalise the test's prior over K */
    double za = 0;
    for (int x = 0; x < K; x++) za += exp(log_prior_of[x]);
    ek3 = 0, kl = 0;
    for (int x = 0; x < K; x++) {
        double la = log_prior_of[x] - log(za);
        ek3 += pi[x] * pst_rl_kl_k3(log(pi[x]), la, NULL);
        kl += pi[x] * (log(pi[x]) - la);
    }
    CHECK_NEAR(ek3, kl, 1e-12);
}

static void test_gae(void) {
    float r[3] = {1, 0, 2}, v[3] = {0.5f, 0.2f, 1.0f}, adv[3], ret[3];
    /* γ = 1, λ = 0.95, by hand: δ = (0.7, 0.8, 1.0); A2 = 1, A1 = 0.8 + 0.95, A0 = 0.7 + 0.95·1.75 */
    pst_ppo_gae(r, v, 3, 1.0, 0.95, adv, ret);
    CHECK_NEAR(adv[2], 1.0, 1e-6);
    CHECK_NEAR(adv[1], 1.75, 1e-6);
    CHECK_NEAR(adv[0], 2.3625, 1e-6);
    CHECK_NEAR(ret[0], 2.8625, 1e-6);
    CHECK_NEAR(ret[2], 2.0, 1e-6);
    /* γ = 0.9, λ = 0.5: δ = (0.68, 0.7, 1.0); A1 = 0.7 + 0.45, A0 = 0.68 + 0.45·1.15 */
    pst_ppo_gae(r, v, 3, 0.9, 0.5, adv, ret);
    CHECK_NEAR(adv[1], 1.15, 1e-6);
    CHECK_NEAR(adv[0], 1.1975, 1e-6);
    /* per-token rewards: −β·(log π − log a), the score added at the last token */
    float lp[3] = {-1, -2, -0.5f}, la[3] = {-1.5f, -1, -0.5f}, tr[3];
    pst_ppo_token_rewards(lp, la, 3, 0.2, 3.0, tr);
    CHECK_NEAR(tr[0], -0.1, 1e-6);
    CHECK_NEAR(tr[1], 0.2, 1e-6);
    CHECK_NEAR(tr[2], 3.0, 1e-6);
    float w[4] = {1, 2, 3, 6};
    pst_ppo_whiten(w, 4);
    double m = 0, s = 0;
    for (int i = 0; i < 4; i++) m += w[i] / 4;
    for (int i = 0; i < 4; i++) s += (w[i] - m) * (w[i] - m) / 4;
    CHECK_NEAR(m, 0, 1e-6);
    CHECK_NEAR(s, 1, 1e-5);
}

static void test_ppo_losses(void) {
    const double eps = 0.2, h = 1e-6;
    /* ρ = 1.5 or 0.5, A = ±1: the clipped term wins (and carries no gradient) exactly when
     * the ratio has moved past the clip in the advantage's direction */
    const struct { double log_ratio, adv; int clipped; } cases[] = {
        {log(1.5), 1.0, 1}, {log(0.5), 1.0, 0}, {log(1.5), -1.0, 0}, {log(0.5), -1.0, 1}, {log(1.1), 2.0, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double lo = -2.0, ln = lo + cases[c].log_ratio, d;
        int clipped;
        double l = pst_ppo_policy_loss(ln, lo, cases[c].adv, eps, &d, &clipped);
        CHECK_MSG(clipped == cases[c].clipped, "case %zu: clipped %d", c, clipped);
        double rho = exp(cases[c].log_ratio), rc = fmin(fmax(rho, 1 - eps), 1 + eps);
        CHECK_NEAR(l, fmax(-cases[c].adv * rho, -cases[c].adv * rc), 1e-12);
        double fd = (pst_ppo_policy_loss(ln + h, lo, cases[c].adv, eps, NULL, NULL) -
                     pst_ppo_policy_loss(ln - h, lo, cases[c].adv, eps, NULL, NULL)) / (2 * h);
        CHECK_NEAR(d, fd, 1e-6);
    }
    /* value loss: inside the clip, past it on the far side, past it on the near side */
    const double vs[][3] = {{1.05, 1.0, 2.0}, {1.5, 1.0, 2.0}, {1.5, 1.0, 0.0}, {0.2, 1.0, 3.0}};
    for (size_t c = 0; c < sizeof vs / sizeof vs[0]; c++) {
        double d;
        int clipped;
        double l = pst_ppo_value_loss(vs[c][0], vs[c][1], vs[c][2], eps, &d, &clipped);
        double vc = vs[c][1] + fmin(fmax(vs[c][0] - vs[c][1], -eps), eps);
        CHECK_NEAR(l, 0.5 * fmax((vs[c][0] - vs[c][2]) * (vs[c][0] - vs[c][2]), (vc - vs[c][2]) * (vc - vs[c][2])),
                   1e-12);
        double fd = (pst_ppo_value_loss(vs[c][0] + h, vs[c][1], vs[c][2], eps, NULL, NULL) -
                     pst_ppo_value_loss(vs[c][0] - h, vs[c][1], vs[c][2], eps, NULL, NULL)) / (2 * h);
        CHECK_NEAR(d, fd, 1e-6);
    }
    int clipped;
    pst_ppo_value_loss(0.2, 1.0, 0.0, eps, NULL, &clipped);
    CHECK(clipped == 1); /* V moved toward R beyond the clip: the clipped (larger) loss counts */
    pst_ppo_value_loss(1.5, 1.0, 0.0, eps, NULL, &clipped);
    CHECK(clipped == 0); /* V moved away from R: the unclipped loss is the larger */
}

static void test_kl_controller(void) {
    /* Ziegler et al.: e = clip(KL/target − 1, ±0.2), β ← β·(1 + e·n/horizon) */
    pst_kl_controller c = {0.2, 6.0, 10000.0};
    pst_kl_controller_update(&c, 9.0, 256); /* e = 0.5 → 0.2 */
    CHECK_NEAR(c.beta, 0.2 * (1 + 0.2 * 256 / 10000.0), 1e-15);
    double b = c.beta;
    pst_kl_controller_update(&c, 6.6, 256); /* e = 0.1 */
    CHECK_NEAR(c.beta, b * (1 + 0.1 * 256 / 10000.0), 1e-15);
    b = c.beta;
    pst_kl_controller_update(&c, 0.0, 512); /* e = −1 → −0.2 */
    CHECK_NEAR(c.beta, b * (1 - 0.2 * 512 / 10000.0), 1e-15);
    pst_kl_controller fixed = {0.2, 0.0, 10000.0};
    pst_kl_controller_update(&fixed, 100.0, 256);
    CHECK(fixed.beta == 0.2);
}

/* rollout statistics on hand-made samples: 3 samples, 8 tokens, bigrams (1,2) (2,3) (1,2) (2,3)
 * (5,6): 3 distinct of 5; −Σ log π / tokens; tokens / samples. */
static void test_rollout_stats(void) {
    int a[] = {1, 2, 3}, b[] = {1, 2, 3}, c[] = {5};
    int d[] = {5, 6};
    pst_sample xs[3] = {{.tokens = a, .n_tokens = 3}, {.tokens = b, .n_tokens = 3}, {.tokens = d, .n_tokens = 2}};
    double lp[3] = {-3.0, -6.0, -5.0}, h, len, d2;
    pst_rl_rollout_stats(xs, lp, 3, &h, &len, &d2);
    CHECK_NEAR(h, 14.0 / 8.0, 1e-12);
    CHECK_NEAR(len, 8.0 / 3.0, 1e-12);
    CHECK_NEAR(d2, 3.0 / 5.0, 1e-12);
    xs[2] = (pst_sample){.tokens = c, .n_tokens = 1}; /* a one-token sample has no bigram */
    pst_rl_rollout_stats(xs, lp, 3, &h, &len, &d2);
    CHECK_NEAR(d2, 2.0 / 4.0, 1e-12);
}

/* The trainers' learning rate: linear warmup, then constant or the cosine decay. */
static void test_lr_warmup(void) {
    pst_dpg_options o;
    pst_dpg_options_default(&o);
    o.lr = 1e-3, o.steps = 10, o.lr_min = -1, o.warmup = 4;
    CHECK_NEAR(pst_dpg_lr(&o, 0), 0.25e-3, 1e-15);
    CHECK_NEAR(pst_dpg_lr(&o, 3), 1e-3, 1e-15);
    CHECK_NEAR(pst_dpg_lr(&o, 9), 1e-3, 1e-15);
    o.lr_min = 1e-4; /* warmup, then 0.5(1 + cos(π (s − 4)/6)) between 1e-3 and 1e-4 */
    CHECK_NEAR(pst_dpg_lr(&o, 1), 0.5e-3, 1e-9);
    CHECK_NEAR(pst_dpg_lr(&o, 4), 1e-3, 1e-9);
    CHECK_NEAR(pst_dpg_lr(&o, 7), 1e-4 + 0.5 * 0.9e-3, 1e-9);
    o.warmup = 0; /* as before warmup existed: the cosine from the first step */
    CHECK_NEAR(pst_dpg_lr(&o, 0), 1e-3, 1e-9);
    CHECK_NEAR(pst_dpg_lr(&o, 5), 1e-4 + 0.5 * 0.9e-3, 1e-9);
}

int main(void) {
    test_unbiased();
    test_group_statistics();
    test_k3();
    test_gae();
    test_ppo_losses();
    test_kl_controller();
    test_rollout_stats();
    test_lr_warmup();
    return check_report();
}
