/* DPG throughput (samples/s) of the trainer in src/train/dpg.c on a random GPT-2,
 * the peer of bench/dpg_torch_bench.py (the same algorithm in PyTorch):
 *
 *   bench_dpg [--config tiny|small] [--batch B] [--new-tokens N] [--steps S]
 *
 * One on-policy DPG step toward P(x) = a(x)·b(x), b(x) = [x contains a token id < 500]:
 *   1. B samples of N tokens from π_θ (KV cache, temperature 1, no stop at eot);
 *   2. log a(x): the frozen prior scores the samples (one forward);
 *   3. weights c_i = P/(π·n·Ẑ) with Ẑ the running mean of P/π;
 *   4. forward + backward of −Σ c_i log π_θ(x_i) on the policy, AdamW step
 *      (lr 1e-5, betas 0.9/0.999, no weight decay, gradient clipped at norm 1).
 * One untimed warm-up step; samples/s = B·S / time of S steps. Prints one JSON line, with
 * step_s: the mean seconds per step of each phase (sample, score_prior, forward_backward,
 * adamw; the rest of a step is the trainer's own bookkeeping). */
#include "cli/omp_defaults.h"
#include "posterior/dpg.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct {
    double t_first, t_last;
} timing;

/* Per-phase seconds of the timed steps: the policy's and the prior's distribution calls
 * are wrapped (the trainer sees the same functions, one indirection more). */
enum { PH_SAMPLE, PH_SCORE, PH_ACCUMULATE, PH_STEP, PH_N };
static const char *const phase_name[PH_N] = {"sample", "score_prior", "forward_backward", "adamw"};
static double phase_s[PH_N];
static int timing_on;
static pst_distribution orig_policy, orig_prior;
static pst_distribution_ops timed_policy_ops, timed_prior_ops; /* the originals with timed calls */

static void phase_add(int ph, double t0) {
    if (timing_on) phase_s[ph] += pst_now() - t0;
}
static int t_sample(void *self, const pst_seq *c, int n, pst_rng *rng, pst_sample *out, pst_error *e) {
    double t0 = pst_now();
    int rc = orig_policy.ops->sample(self, c, n, rng, out, e);
    phase_add(PH_SAMPLE, t0);
    return rc;
}
static int t_score(void *self, const pst_seq *c, const pst_sample *xs, int n, double *lp, pst_error *e) {
    double t0 = pst_now();
    int rc = orig_prior.ops->score(self, c, xs, n, lp, e);
    phase_add(PH_SCORE, t0);
    return rc;
}
static int t_accumulate(void *self, const pst_seq *c, const pst_sample *xs, const double *coef, int n,
                        double *lp, pst_error *e) {
    double t0 = pst_now();
    int rc = orig_policy.ops->accumulate(self, c, xs, coef, n, lp, e);
    phase_add(PH_ACCUMULATE, t0);
    return rc;
}
static int t_step(void *self, double lr, pst_error *e) {
    double t0 = pst_now();
    int rc = orig_policy.ops->step(self, lr, e);
    phase_add(PH_STEP, t0);
    return rc;
}

static int on_step(void *ctx, const pst_dpg_step *s) {
    timing *t = ctx;
    if (s->step == 1) t->t_first = pst_now();
    timing_on = 1; /* from step 2 on: the timed steps */
    t->t_last = pst_now();
    return 0;
}

static int small_ids(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out, pst_error *e) {
    (void)ctx, (void)c, (void)e; /* a pst_evidence_fn that needs no context and cannot fail */
    for (int i = 0; i < n; i++) {
        out[i] = 0;
        for (int t = 0; t < xs[i].n_tokens; t++)
            if (xs[i].tokens[t] < 500) out[i] = 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    pst_cli_omp_defaults(argv); /* as the CLI runs */
    const char *config = "tiny";
    int batch = 16, new_tokens = 32, steps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_dpg [--config tiny|small] [--batch B] [--new-tokens N] [--steps S]\n");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_dpg: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *a = argv[i], *v = argv[++i];
        int x = atoi(v);
        if (strcmp(a, "--config") == 0) config = v;
        else if (x < 1) {
            fprintf(stderr, "bench_dpg: %s expects a positive integer, got '%s'\n", a, v);
            return 2;
        } else if (strcmp(a, "--batch") == 0) batch = x;
        else if (strcmp(a, "--new-tokens") == 0) new_tokens = x;
        else if (strcmp(a, "--steps") == 0) steps = x;
        else {
            fprintf(stderr, "bench_dpg: unknown option %s\n", a);
            return 2;
        }
    }
    pst_gpt2_config cfg = {4, 4, 128, 256, 50257, 1e-5f};
    if (strcmp(config, "small") == 0) cfg = (pst_gpt2_config){12, 12, 768, 1024, 50257, 1e-5f};
    else if (strcmp(config, "tiny") != 0) {
        fprintf(stderr, "bench_dpg: --config tiny or small, got '%s'\n", config);
        return 2;
    }
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 1234);
    pst_gpt2 m;
    if (pst_gpt2_create(&m, &cfg, &err) < 0) {
        fprintf(stderr, "bench_dpg: %s\n", err.msg);
        return 1;
    }
    pst_gpt2_init_random(&m, &rng);
    pst_gpt2_policy_options o;
    pst_gpt2_policy_options_default(&o);
    o.sampling.max_new_tokens = new_tokens;
    o.sampling.stop_at_eot = 0;
    o.sampling.eot_token = 50256;
    o.micro_batch = batch;
    pst_distribution prior, policy;
    if (pst_gpt2_distribution_from(&m, &o, &prior, &err) < 0 || pst_gpt2_distribution_from(&m, &o, &policy, &err) < 0) {
        fprintf(stderr, "bench_dpg: %s\n", err.msg);
        return 1;
    }
    orig_policy = policy, orig_prior = prior;
    timed_policy_ops = *policy.ops, timed_prior_ops = *prior.ops;
    timed_policy_ops.sample = t_sample, timed_policy_ops.accumulate = t_accumulate, timed_policy_ops.step = t_step;
    timed_prior_ops.score = t_score;
    policy.ops = &timed_policy_ops, prior.ops = &timed_prior_ops;
    pst_target t = {.kind = PST_TARGET_POINTWISE, .n_features = 1, .evidence = small_ids, .prior = &prior};
    pst_dpg_options d;
    pst_dpg_options_default(&d);
    d.variant = PST_DPG_ON_POLICY;
    d.batch = batch;
    d.steps = steps + 1;
    d.lr = 1e-5;
    d.quiet = 1;
    timing tm = {0, 0};
    if (pst_dpg_train(&policy, &t, &prior, &d, on_step, &tm, &err) < 0) {
        fprintf(stderr, "bench_dpg: %s\n", err.msg);
        return 1;
    }
    double seconds = tm.t_last - tm.t_first;
    char phases[256];
    int at = 0;
    for (int i = 0; i < PH_N; i++)
        at += snprintf(phases + at, sizeof phases - at, "%s\"%s\": %.4f", i ? ", " : "", phase_name[i],
                       phase_s[i] / steps);
    policy.ops = orig_policy.ops, prior.ops = orig_prior.ops;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"ours\", \"bench\": \"dpg\", \"config\": \"%s\", \"batch\": %d, \"new_tokens\": %d, "
           "\"steps\": %d, \"threads\": %d, \"params\": %zu, \"samples_per_s\": %.3f, \"seconds\": %.3f, "
           "\"peak_rss_mb\": %.1f, \"step_s\": {%s}}\n",
           config, batch, new_tokens, steps, omp_get_max_threads(), m.num_params, batch * steps / seconds, seconds,
           ru.ru_maxrss / 1024.0, phases);
    pst_distribution_free(&prior);
    pst_distribution_free(&policy);
    pst_gpt2_free(&m);
    return 0;
}
