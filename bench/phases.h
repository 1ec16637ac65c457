/* Per-phase seconds of a trainer's steps, for the benchmarks (bench_dpg, bench_rl): the
 * policy's and the prior's distribution ops are wrapped in timed copies, so the trainer
 * runs the same functions with one indirection more. Phases:
 *   sample            policy sample (decoding with the KV cache)
 *   score_prior       prior score / token_pass (log a(x), whole or per token)
 *   policy_pass       policy token_pass without backward (PPO: log π_old, values)
 *   forward_backward  policy accumulate / token_pass with backward
 *   adamw             policy step (clip and AdamW)
 * Timing starts with on_step of step 1 (the untimed warm-up); phases_json() prints the means
 * per timed step, and "other": the rest of a step (the trainer's own arithmetic, the
 * evidence, bookkeeping). */
#ifndef POSTERIOR_BENCH_PHASES_H
#define POSTERIOR_BENCH_PHASES_H

#include "posterior/dpg.h"

#include <stdio.h>

enum { PH_SAMPLE, PH_SCORE_PRIOR, PH_POLICY_PASS, PH_FORWARD_BACKWARD, PH_ADAMW, PH_N };
static const char *const phase_name[PH_N] = {"sample", "score_prior", "policy_pass",
                                             "forward_backward", "adamw"};
static double phase_s[PH_N];
static int phase_on;
static pst_distribution_ops phase_policy_ops, phase_prior_ops; /* the timed copies */
static const pst_distribution_ops *phase_policy_orig, *phase_prior_orig;

static void phase_add(int ph, double t0) {
    if (phase_on) phase_s[ph] += pst_now() - t0;
}
#define PHASE_TIMED(ph, call)                                                                      \
    do {                                                                                           \
        double t0_ = pst_now();                                                                    \
        int rc_ = call;                                                                            \
        phase_add(ph, t0_);                                                                        \
        return rc_;                                                                                \
    } while (0)

static int ph_sample(void *self, const pst_seq *c, int n, pst_rng *rng, pst_sample *out, pst_error *e) {
    PHASE_TIMED(PH_SAMPLE, phase_policy_orig->sample(self, c, n, rng, out, e));
}
static int ph_accumulate(void *self, const pst_seq *c, const pst_sample *xs, const double *coef, int n,
                         double *lp, pst_error *e) {
    PHASE_TIMED(PH_FORWARD_BACKWARD, phase_policy_orig->accumulate(self, c, xs, coef, n, lp, e));
}
static int ph_step(void *self, double lr, pst_error *e) {
    PHASE_TIMED(PH_ADAMW, phase_policy_orig->step(self, lr, e));
}
static int ph_policy_tokens(void *self, const pst_seq *c, const pst_sample *xs, int n, int backward,
                            pst_token_fn fn, void *ctx, pst_error *e) {
    PHASE_TIMED(backward ? PH_FORWARD_BACKWARD : PH_POLICY_PASS,
                phase_policy_orig->token_pass(self, c, xs, n, backward, fn, ctx, e));
}
static int ph_prior_score(void *self, const pst_seq *c, const pst_sample *xs, int n, double *lp, pst_error *e) {
    PHASE_TIMED(PH_SCORE_PRIOR, phase_prior_orig->score(self, c, xs, n, lp, e));
}
static int ph_prior_tokens(void *self, const pst_seq *c, const pst_sample *xs, int n, int backward,
                           pst_token_fn fn, void *ctx, pst_error *e) {
    PHASE_TIMED(PH_SCORE_PRIOR, phase_prior_orig->token_pass(self, c, xs, n, backward, fn, ctx, e));
}

/* The trainers' step callback: times steps 2.. (step 1 warms up) and their phases. */
typedef struct {
    double t_first, t_last;
} timing;

static int on_step(void *ctx, const pst_dpg_step *s) {
    timing *t = ctx;
    if (s->step == 1) t->t_first = pst_now();
    phase_on = 1;
    t->t_last = pst_now();
    return 0;
}

/* The benchmarks' evidence b(x) = [x contains a token id < 500] (a pst_evidence_fn that
 * needs no context and cannot fail). */
static int small_ids(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    (void)ctx, (void)c, (void)e;
    for (int i = 0; i < n; i++) {
        out[i] = 0;
        for (int t = 0; t < xs[i].n_tokens; t++)
            if (xs[i].tokens[t] < 500) out[i] = 1;
    }
    return 0;
}

/* Points policy and prior at timed copies of their ops (before the trainer starts). */
static void phases_wrap(pst_distribution *policy, pst_distribution *prior) {
    phase_policy_orig = policy->ops, phase_prior_orig = prior->ops;
    phase_policy_ops = *policy->ops, phase_prior_ops = *prior->ops;
    phase_policy_ops.sample = ph_sample, phase_policy_ops.accumulate = ph_accumulate;
    phase_policy_ops.step = ph_step;
    if (phase_policy_orig->token_pass) phase_policy_ops.token_pass = ph_policy_tokens;
    phase_prior_ops.score = ph_prior_score;
    if (phase_prior_orig->token_pass) phase_prior_ops.token_pass = ph_prior_tokens;
    policy->ops = &phase_policy_ops, prior->ops = &phase_prior_ops;
}

/* "step_s": {...} of `steps` steps that took `seconds` in all, into buf. */
static void phases_json(char *buf, size_t size, int steps, double seconds) {
    size_t at = (size_t)snprintf(buf, size, "\"step_s\": {");
    double sum = 0;
    for (int i = 0; i < PH_N; i++) {
        if (phase_s[i] == 0) continue;
        sum += phase_s[i];
        at += (size_t)snprintf(buf + at, size - at, "\"%s\": %.4f, ", phase_name[i], phase_s[i] / steps);
    }
    snprintf(buf + at, size - at, "\"other\": %.4f}", (seconds - sum) / steps);
}

#endif
