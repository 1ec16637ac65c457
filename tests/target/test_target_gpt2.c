/* The GPT-2 prior as a pst_distribution, on a tiny random GPT whose continuations
 * (vocab 4, at most 3 new tokens, token 3 = eot stops) can all be listed:
 * scored log-probs sum to 1 over every continuation, samples follow them (also at a
 * temperature, where log q is the warped log-prob), contexts are prompts, and the
 * accumulated gradient is ∇ Σ c_i log π(x_i). */
#include "check.h"
#include "posterior/target.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static pst_error err;

enum { V = 4, NEW = 3, EOT = 3 };

/* all continuations of at most NEW tokens that stop at EOT or at NEW tokens */
static int enumerate(int seqs[][NEW], int *lens) {
    int n = 0;
    for (int len = 1; len <= NEW; len++) {
        int combos = 1;
        for (int i = 0; i < len; i++) combos *= V;
        for (int c = 0; c < combos; c++) {
            int x[NEW] = {0}, r = c, ok = 1;
            for (int i = 0; i < len; i++) x[i] = r % V, r /= V;
            for (int i = 0; i < len - 1; i++) ok &= x[i] != EOT;
            if (len < NEW) ok &= x[len - 1] == EOT;
            if (!ok) continue;
            memcpy(seqs[n], x, sizeof x);
            lens[n++] = len;
        }
    }
    return n;
}

static int find(int seqs[][NEW], const int *lens, int n, const pst_sample *s) {
    for (int i = 0; i < n; i++)
        if (lens[i] == s->n_tokens && memcmp(seqs[i], s->tokens, sizeof(int) * s->n_tokens) == 0) return i;
    return -1;
}

static double chi_z(const long *counts, const double *p, int n, long total) {
    double chi = 0;
    int df = -1;
    for (int i = 0; i < n; i++) {
        double e = p[i] * total;
        chi += (counts[i] - e) * (counts[i] - e) / e;
        df++;
    }
    double h = 2.0 / (9.0 * df);
    return (cbrt(chi / df) - (1 - h)) / sqrt(h);
}

int main(void) {
    omp_set_num_threads(1); /* tiny matrices: threads only add overhead on a shared machine */
    pst_rng rng;
    pst_rng_seed(&rng, 7);
    pst_gpt2_config cfg = {.n_layer = 1, .n_head = 2, .n_embd = 16, .n_positions = 8, .vocab_size = V,
                           .layer_norm_epsilon = 1e-5f};
    pst_gpt2 m;
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    for (size_t i = 0; i < m.num_params; i++) m.param_memory[i] *= 20; /* a peaked, non-uniform model */
    pst_gpt2_policy_options o;
    pst_gpt2_policy_options_default(&o);
    o.sampling.max_new_tokens = NEW;
    o.sampling.eot_token = EOT;
    o.micro_batch = 5;
    pst_distribution d;
    CHECK(pst_gpt2_distribution_from(&m, &o, &d, &err) == 0);

    int seqs[256][NEW], lens[256];
    int N = enumerate(seqs, lens);
    CHECK(N == 1 + 3 + 9 * 4);
    pst_sample *all = calloc((size_t)N, sizeof *all);
    for (int i = 0; i < N; i++) all[i].tokens = seqs[i], all[i].n_tokens = lens[i];
    double *lp = malloc(sizeof(double) * N), *p = malloc(sizeof(double) * N);
    int prompt[2] = {1, 2};
    pst_seq ctx = {prompt, 2};
    pst_seq *ctxs = malloc(sizeof *ctxs * 20000);
    for (int pass = 0; pass < 3; pass++) {
        /* pass 0: unconditional; 1: with a prompt; 2: unconditional at temperature 0.6 */
        pst_seq *c = NULL;
        if (pass == 1) {
            for (int i = 0; i < N; i++) ctxs[i] = ctx;
            c = ctxs;
        }
        CHECK(pst_dist_score(&d, c, all, N, lp, &err) == 0);
        double total = 0;
        for (int i = 0; i < N; i++) total += exp(lp[i]);
        CHECK_NEAR(total, 1.0, 1e-4);
        int n = 20000;
        if (pass == 1)
            for (int i = 0; i < n; i++) ctxs[i] = ctx;
        float temp = pass == 2 ? 0.6f : 1.0f;
        pst_gpt2_policy_options ot = o;
        ot.sampling.temperature = temp;
        pst_distribution dt;
        pst_gpt2_distribution_from(&m, &ot, &dt, &err);
        pst_sample *xs = calloc((size_t)n, sizeof *xs);
        CHECK(pst_dist_sample(&dt, c, n, &rng, xs, &err) == 0);
        double *ls = malloc(sizeof(double) * n);
        CHECK(pst_dist_score(&d, c, xs, n, ls, &err) == 0);
        long *counts = calloc((size_t)N, sizeof(long));
        int bad = 0;
        /* exact warped distribution: q(x) ∝ Π_t softmax(z_t/T): per-token renormalised;
         * here from the log q the sampler reports, checked to sum to 1 over the space */
        double *lq_of = malloc(sizeof(double) * N);
        for (int i = 0; i < N; i++) lq_of[i] = NAN;
        for (int i = 0; i < n; i++) {
            int j = find(seqs, lens, N, &xs[i]);
            if (j < 0) { bad++; continue; }
            counts[j]++;
            if (fabs(xs[i].logprob_model - ls[i]) > 1e-3) bad++;
            if (isnan(lq_of[j])) lq_of[j] = xs[i].logprob_proposal;
            else if (fabs(lq_of[j] - xs[i].logprob_proposal) > 1e-4) bad++;
        }
        CHECK_MSG(bad == 0, "pass %d: %d samples inconsistent with scores", pass, bad);
        double qsum = 0;
        int seen = 0;
        for (int i = 0; i < N; i++)
            if (!isnan(lq_of[i])) qsum += exp(lq_of[i]), seen++;
        CHECK(qsum <= 1.0 + 1e-4 && qsum > 0.98); /* unseen sequences are rare */
        for (int i = 0; i < N; i++) p[i] = isnan(lq_of[i]) ? 1e-12 : exp(lq_of[i]);
        if (pass < 2)
            for (int i = 0; i < N; i++) CHECK(isnan(lq_of[i]) || fabs(lq_of[i] - lp[i]) < 1e-3);
        double z = chi_z(counts, p, N, n);
        CHECK_MSG(z < 4.0, "pass %d: chi-square z %g", pass, z);
        if (pass == 2) {
            /* temperature really warps: log q differs from log a */
            double maxdiff = 0;
            for (int i = 0; i < N; i++)
                if (!isnan(lq_of[i])) maxdiff = fmax(maxdiff, fabs(lq_of[i] - lp[i]));
            CHECK(maxdiff > 0.1);
        }
        pst_sample_free(xs, n);
        free(xs), free(ls), free(counts), free(lq_of);
        pst_distribution_free(&dt);
    }

    /* accumulate: ∇ Σ c_i log π(x_i) against central differences on a few parameters */
    double coef[4] = {0.5, -1.0, 2.0, 0.25}, lpa[4];
    pst_sample four[4] = {all[0], all[3], all[N - 1], all[N / 2]};
    pst_dist_zero_grad(&d);
    CHECK(pst_dist_accumulate(&d, NULL, four, coef, 4, lpa, &err) == 0);
    double ls4[4];
    pst_dist_score(&d, NULL, four, 4, ls4, &err);
    for (int i = 0; i < 4; i++) CHECK_NEAR(lpa[i], ls4[i], 1e-4);
    /* the adapter's model: reach it through a clone's parameters is not possible, so
     * check the directional derivative: a small SGD-like step along the gradient raises the objective */
    double before = 0, after = 0;
    for (int i = 0; i < 4; i++) before += coef[i] * ls4[i];
    CHECK(pst_dist_step(&d, 1e-3, &err) == 0);
    pst_dist_score(&d, NULL, four, 4, ls4, &err);
    for (int i = 0; i < 4; i++) after += coef[i] * ls4[i];
    CHECK_MSG(after > before, "objective %g -> %g after a step", before, after);

    /* samples with c_i = 0 add nothing: without logprob wanted they are skipped, and the
     * step equals the one of the full forward / backward (logprob wanted: all samples) and
     * the one of the non-zero samples alone */
    {
        double cz[4] = {0.0, 0.7, 0.0, -0.4}, lz[4], base[4], after_s[3][4];
        pst_sample two[2] = {four[1], four[3]};
        double c2[2] = {0.7, -0.4};
        for (int v = 0; v < 3; v++) {
            pst_distribution c;
            CHECK(pst_dist_clone(&d, &c, &err) == 0);
            if (v == 0) pst_dist_score(&c, NULL, four, 4, base, &err);
            pst_dist_zero_grad(&c);
            int rc = v == 0   ? pst_dist_accumulate(&c, NULL, four, cz, 4, NULL, &err)
                     : v == 1 ? pst_dist_accumulate(&c, NULL, four, cz, 4, lz, &err)
                              : pst_dist_accumulate(&c, NULL, two, c2, 2, NULL, &err);
            CHECK(rc == 0 && pst_dist_step(&c, 1e-3, &err) == 0);
            pst_dist_score(&c, NULL, four, 4, after_s[v], &err);
            pst_distribution_free(&c);
        }
        double moved = 0;
        for (int i = 0; i < 4; i++) {
            moved = fmax(moved, fabs(after_s[0][i] - base[i]));
            CHECK_NEAR(after_s[0][i], after_s[1][i], 1e-5 + 1e-3 * fabs(after_s[1][i] - base[i]));
            CHECK_NEAR(after_s[0][i], after_s[2][i], 1e-5 + 1e-3 * fabs(after_s[2][i] - base[i]));
        }
        CHECK_MSG(moved > 1e-3, "the step moved log-probs by only %g", moved);
        /* logprob wanted: the samples with c_i = 0 are scored by a forward pass alone, the
         * others by the gradient's own; both give log π in the caller's order */
        for (int i = 0; i < 4; i++) CHECK_NEAR(lz[i], base[i], 1e-4);
        /* all coefficients 0: still a valid (zero) gradient, and the step runs */
        pst_distribution c;
        double c0[4] = {0, 0, 0, 0}, l0[4];
        CHECK(pst_dist_clone(&d, &c, &err) == 0);
        pst_dist_zero_grad(&c);
        CHECK(pst_dist_accumulate(&c, NULL, four, c0, 4, NULL, &err) == 0);
        CHECK(pst_dist_accumulate(&c, NULL, four, c0, 4, l0, &err) == 0);
        for (int i = 0; i < 4; i++) CHECK_NEAR(l0[i], base[i], 1e-4);
        CHECK(pst_dist_step(&c, 1e-3, &err) == 0);
        pst_distribution_free(&c);
    }

    /* clone is frozen: training the original leaves it unchanged */
    pst_distribution frozen;
    CHECK(pst_dist_clone(&d, &frozen, &err) == 0);
    double a1[4], a2[4];
    pst_dist_score(&frozen, NULL, four, 4, a1, &err);
    pst_dist_zero_grad(&d);
    pst_dist_accumulate(&d, NULL, four, coef, 4, NULL, &err);
    pst_dist_step(&d, 1e-2, &err);
    pst_dist_score(&frozen, NULL, four, 4, a2, &err);
    for (int i = 0; i < 4; i++) CHECK(a1[i] == a2[i]);

    /* save / load round trip (with optimizer state) */
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/pst_gpt2_dist_%d", (int)rng.s[0] & 0xffff);
    CHECK(pst_dist_save(&d, dir, &err) == 0);
    CHECK(pst_dist_load(&frozen, dir, &err) == 0);
    pst_dist_score(&frozen, NULL, four, 4, a1, &err);
    pst_dist_score(&d, NULL, four, 4, a2, &err);
    for (int i = 0; i < 4; i++) CHECK(a1[i] == a2[i]);
    pst_distribution loaded;
    CHECK(pst_gpt2_distribution_load(dir, &o, &loaded, &err) == 0);
    pst_distribution_free(&loaded);
    CHECK(pst_gpt2_distribution_load("/nonexistent/model", &o, &loaded, &err) < 0);
    CHECK(strstr(err.msg, "/nonexistent/model") != NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);

    /* a prompt longer than the model's context is an error, not a crash */
    int longp[9] = {0};
    pst_seq lc = {longp, 9};
    pst_sample one;
    CHECK(pst_dist_sample(&d, &lc, 1, &rng, &one, &err) < 0);

    pst_distribution_free(&frozen);
    pst_distribution_free(&d);
    pst_gpt2_free(&m);
    free(all), free(lp), free(p), free(ctxs);
    return check_report();
}
