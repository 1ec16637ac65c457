/* Preference losses (include/posterior/preference.h): values by hand, gradients against central
 * differences; and on the enumerable toy with exact Bradley–Terry preferences from a known r
 * (every ordered pair of sequences drawn from the prior a, weighted by its probability):
 * a tabular reward model fitted by the BT loss recovers r up to a constant, and DPO's policy
 * converges to a·exp(r/β)/Z — the posterior of KL-regularised RL — with exact KL → 0. */
#include "check.h"
#include "posterior/preference.h"
#include "target/toy_exact.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static pst_error err;

static void test_losses(void) {
    double d;
    CHECK_NEAR(pst_bradley_terry_loss(0.3, 0.3, 0, &d), log(2), 1e-12);
    CHECK_NEAR(d, -0.5, 1e-12);
    CHECK_NEAR(pst_bradley_terry_loss(0.3, 0.3, 1, &d), log(2), 1e-12);
    CHECK_NEAR(d, 0, 1e-12); /* a tie is at its minimum when the rewards are equal */
    CHECK_NEAR(pst_dpo_loss(PST_DPO_SIGMOID, 0.1, 0, -3, -3, -5, -5, &d), log(2), 1e-12);
    CHECK_NEAR(d, -0.05, 1e-12);
    CHECK_NEAR(pst_dpo_loss(PST_DPO_IPO, 0.5, 0, -3, -3, -5, -5, &d), 1.0, 1e-12); /* (0 − 1/(2β))² */
    CHECK_NEAR(pst_dpo_loss(PST_DPO_HINGE, 0.5, 0, -3, -3, -5, -5, &d), 1.0, 1e-12);
    CHECK_NEAR(pst_dpo_loss(PST_DPO_SIGMOID, 0.1, 0, 500, 0, -500, 0, &d), 0, 1e-12); /* no overflow */
    CHECK(isfinite(pst_dpo_loss(PST_DPO_SIGMOID, 0.1, 0, -500, 0, 500, 0, &d)) && isfinite(d));
    /* every loss against a central difference in the margin, through log π(y_w) and log π(y_l) */
    const double h = 1e-6, margins[] = {-2.0, -0.3, 0.0, 0.7, 3.0};
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < 2; s++)
            for (size_t j = 0; j < sizeof margins / sizeof margins[0]; j++) {
                double eps = s ? 0.1 : 0, beta = 0.5, lw = -4 + margins[j], g;
                if (k == PST_DPO_HINGE && fabs(beta * margins[j] - 1) < 1e-3) continue; /* the kink */
                pst_dpo_loss((pst_dpo_loss_kind)k, beta, eps, lw, -4.2, -4, -3.9, &g);
                double fw = (pst_dpo_loss((pst_dpo_loss_kind)k, beta, eps, lw + h, -4.2, -4, -3.9, NULL) -
                             pst_dpo_loss((pst_dpo_loss_kind)k, beta, eps, lw - h, -4.2, -4, -3.9, NULL)) / (2 * h);
                double fl = (pst_dpo_loss((pst_dpo_loss_kind)k, beta, eps, lw, -4.2, -4 + h, -3.9, NULL) -
                             pst_dpo_loss((pst_dpo_loss_kind)k, beta, eps, lw, -4.2, -4 - h, -3.9, NULL)) / (2 * h);
                CHECK_NEAR(g, fw, 1e-6);
                CHECK_NEAR(-g, fl, 1e-6);
            }
    for (int t = 0; t < 2; t++)
        for (size_t j = 0; j < sizeof margins / sizeof margins[0]; j++) {
            pst_bradley_terry_loss(margins[j], 0, t, &d);
            double fd = (pst_bradley_terry_loss(margins[j] + h, 0, t, NULL) -
                         pst_bradley_terry_loss(margins[j] - h, 0, t, NULL)) / (2 * h);
            CHECK_NEAR(d, fd, 1e-6);
        }
    pst_dpo_loss_kind kind;
    CHECK(pst_dpo_loss_parse("ipo", &kind, &err) == 0 && kind == PST_DPO_IPO);
    CHECK(pst_dpo_loss_parse("kto", &kind, &err) < 0 && strstr(err.msg, "expected sigmoid, ipo or hinge"));
}

/* a known reward on the toy's sequences: r = 0.8·(number of token-1s) − 0.5·length + 0.3·[ends early] */
static double reward_of(const pst_sample *x) {
    double r = -0.5 * x->n_tokens;
    for (int t = 0; t < x->n_tokens; t++) r += 0.8 * (x->tokens[t] == 1);
    return r + 0.3 * (x->tokens[x->n_tokens - 1] == 0);
}

static void test_reward_model_recovers_r(void) {
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    pst_toy prior;
    CHECK(pst_toy_init(&prior, 3, 3, 1.0, &rng, &err) == 0);
    toy_space s;
    toy_space_init(&s, &prior, NULL);
    double *r = calloc((size_t)s.n, sizeof *r), *rh = calloc((size_t)s.n, sizeof *rh),
           *g = calloc((size_t)s.n, sizeof *g);
    for (int i = 0; i < s.n; i++) r[i] = reward_of(&s.xs[i]);
    /* population BT loss over pairs (i, j) ~ a × a, i preferred with probability σ(r_i − r_j) */
    for (int it = 0; it < 4000; it++) {
        memset(g, 0, sizeof(double) * s.n);
        for (int i = 0; i < s.n; i++)
            for (int j = 0; j < s.n; j++) {
                if (i == j) continue;
                double w = exp(s.log_a[i] + s.log_a[j]) / (1 + exp(r[j] - r[i])), d;
                pst_bradley_terry_loss(rh[i], rh[j], 0, &d);
                g[i] += w * d, g[j] -= w * d;
            }
        for (int i = 0; i < s.n; i++) rh[i] -= 20.0 * g[i];
    }
    double off = rh[0] - r[0], worst = 0;
    for (int i = 0; i < s.n; i++) worst = fmax(worst, fabs(rh[i] - r[i] - off));
    CHECK_MSG(worst < 1e-3, "the reward model is off r by up to %g beyond a constant", worst);
    free(r), free(rh), free(g);
    toy_space_free(&s);
}

/* DPO on the toy by exact population gradients; returns KL(π‖π*) after `steps` Adam steps */
static double dpo_toy(double beta, int steps, double *kl_start) {
    pst_rng rng;
    pst_rng_seed(&rng, 5);
    pst_toy prior;
    CHECK(pst_toy_init(&prior, 3, 3, 1.0, &rng, &err) == 0);
    pst_toy *policy = malloc(sizeof *policy);
    *policy = prior;
    pst_distribution d;
    pst_toy_distribution(policy, &d);
    toy_space s;
    toy_space_init(&s, &prior, NULL);
    double *lstar = malloc(sizeof(double) * s.n), *pstar = malloc(sizeof(double) * s.n),
           *lpi = malloc(sizeof(double) * s.n), *coef = malloc(sizeof(double) * s.n);
    for (int i = 0; i < s.n; i++) lstar[i] = s.log_a[i] + reward_of(&s.xs[i]) / beta;
    exact_normalise(lstar, s.n, pstar);
    double kl = 0;
    for (int it = 0; it <= steps; it++) {
        toy_space_logprobs(&s, policy, NULL, lpi);
        kl = 0; /* KL(π‖π*) */
        for (int i = 0; i < s.n; i++) kl += exp(lpi[i]) * (lpi[i] - log(pstar[i]));
        if (it == 0) *kl_start = kl;
        if (it == steps) break;
        memset(coef, 0, sizeof(double) * s.n);
        for (int i = 0; i < s.n; i++)
            for (int j = 0; j < s.n; j++) {
                if (i == j) continue;
                double r_i = reward_of(&s.xs[i]), r_j = reward_of(&s.xs[j]), g;
                double w = exp(s.log_a[i] + s.log_a[j]) / (1 + exp(r_j - r_i)); /* i ≻ j */
                pst_dpo_loss(PST_DPO_SIGMOID, beta, 0, lpi[i], s.log_a[i], lpi[j], s.log_a[j], &g);
                coef[i] -= w * g, coef[j] += w * g; /* ascent on −L: c = −∂L/∂log π */
            }
        pst_dist_zero_grad(&d);
        CHECK(pst_dist_accumulate(&d, NULL, s.xs, coef, s.n, NULL, &err) == 0);
        CHECK(pst_dist_step(&d, 0.05, &err) == 0);
    }
    free(lstar), free(pstar), free(lpi), free(coef), free(policy);
    toy_space_free(&s);
    return kl;
}

static void test_dpo_reaches_the_klrl_posterior(void) {
    for (int b = 0; b < 2; b++) {
        double beta = b ? 0.25 : 1.0, start, kl = dpo_toy(beta, 1500, &start);
        CHECK_MSG(start > 0.05, "β %g: the prior is already at the optimum (KL %g)", beta, start);
        CHECK_MSG(kl < 1e-4, "β %g: exact KL(π‖a·exp(r/β)/Z) %g after DPO (from %g)", beta, kl, start);
    }
}

int main(void) {
    test_losses();
    test_reward_model_recovers_r();
    test_dpo_reaches_the_klrl_posterior();
    return check_report();
}
