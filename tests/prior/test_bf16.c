/* bf16 sampling (pst_sample_options.bf16_weights): rounding to nearest even on known bit
 * patterns; both kernel variants against a double-precision product with the rounded
 * weights; the sampler's log-probs equal pst_gpt2_score under the rounded model
 * (pst_gpt2_round_bf16) and differ from the fp32 model's; first-token frequencies match
 * the rounded model's softmax (chi-square). */
#include "check.h"
#include "posterior/prior.h"
#include "prior/bf16_kernels.h"

#include <stdlib.h>
#include <string.h>

static const pst_gpt2_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 48, .n_positions = 40,
                                    .vocab_size = 61, .layer_norm_epsilon = 1e-5f};

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void test_round(void) {
    struct { uint32_t in; uint16_t out; } cases[] = {
        {0x3f800000u, 0x3f80}, /* 1 */
        {0x3f808000u, 0x3f80}, /* 1 + 2^-8: a tie, to the even 0x3f80 */
        {0x3f818000u, 0x3f82}, /* a tie, to the even 0x3f82 */
        {0x3f808001u, 0x3f81}, /* just above the tie: up */
        {0x3f807fffu, 0x3f80}, /* just below: down */
        {0xbf808001u, 0xbf81}, /* negative: by magnitude */
        {0x7f7fffffu, 0x7f80}, /* the largest float rounds to inf */
        {0x7f800000u, 0x7f80}, /* inf */
        {0xff800000u, 0xff80}, /* -inf */
        {0x00000001u, 0x0000}, /* the smallest subnormal: to 0 */
        {0x80000000u, 0x8000}, /* -0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = pst_bf16_round(from_bits(cases[i].in));
        CHECK_MSG(got == cases[i].out, "round(0x%08x) = 0x%04x, want 0x%04x", cases[i].in, got, cases[i].out);
    }
    float nan = from_bits(0x7fc00001u), snan = from_bits(0x7f800001u);
    CHECK(isnan(pst_bf16_to_f32(pst_bf16_round(nan))));
    CHECK(isnan(pst_bf16_to_f32(pst_bf16_round(snan)))); /* not rounded into inf */
    CHECK(bits(pst_bf16_to_f32(0x3f81)) == 0x3f810000u);
}

static float frand(pst_rng *r) { return (float)(2.0 * pst_rng_uniform(r) - 1.0); }

/* Every variant (plain; AVX2 and AVX-512 where the CPU has them) against Σ in double with
 * the rounded weights, relative to Σ|terms|. */
static void test_kernels(void) {
    int shapes[][3] = {{1, 48, 144}, {3, 37, 50}, {8, 128, 300}, {9, 16, 16}, {17, 192, 48}, {1, 5, 3},
                      {12, 300, 40}, /* 9-17 rows: the output layer widened (C <= 1024) */
                      /* thin products big enough for all threads (AVX2: K split), odd sizes */
                      {4, 768, 2304}, {2, 1001, 701}, {7, 130, 3001}};
    pst_rng rng;
    pst_rng_seed(&rng, 5);
    for (int level = 0; level <= 2; level++) {
        pst_bf16_kernels_force(level);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int N = shapes[si][0], IC = shapes[si][1], OC = shapes[si][2];
            float *A = malloc((size_t)N * IC * sizeof(float)), *W = malloc((size_t)IC * OC * sizeof(float));
            float *b = malloc(OC * sizeof(float)), *out = malloc((size_t)N * OC * sizeof(float));
            float *outnt = malloc((size_t)N * OC * sizeof(float)), *Wt = malloc((size_t)OC * IC * sizeof(float));
            uint16_t *W16 = malloc((size_t)IC * OC * 2), *Wt16 = malloc((size_t)OC * IC * 2);
            for (size_t i = 0; i < (size_t)N * IC; i++) A[i] = frand(&rng);
            for (size_t i = 0; i < (size_t)IC * OC; i++) W[i] = frand(&rng);
            for (int j = 0; j < OC; j++) b[j] = frand(&rng);
            for (int k = 0; k < IC; k++)
                for (int j = 0; j < OC; j++) Wt[(size_t)j * IC + k] = W[(size_t)k * OC + j];
            pst_bf16_round_array(W16, W, (size_t)IC * OC);
            pst_bf16_round_array(Wt16, Wt, (size_t)IC * OC);
            for (int accumulate = 0; accumulate <= 1; accumulate++) {
                for (size_t i = 0; i < (size_t)N * OC; i++) out[i] = accumulate ? 0.5f : -7.0f;
                pst_linear_forward_bf16(out, A, W16, b, N, IC, OC, accumulate);
                pst_matmul_nt_bf16(outnt, A, Wt16, N, IC, OC);
                int bad = 0, bad_nt = 0;
                for (int i = 0; i < N; i++)
                    for (int j = 0; j < OC; j++) {
                        double s = 0, mag = 0;
                        for (int k = 0; k < IC; k++) {
                            double t = (double)A[(size_t)i * IC + k] * pst_bf16_to_f32(W16[(size_t)k * OC + j]);
                            s += t, mag += fabs(t);
                        }
                        double tol = 1e-6 * (mag + 1);
                        bad += !(fabs(out[(size_t)i * OC + j] - (s + b[j] + (accumulate ? 0.5 : 0))) <= tol);
                        bad_nt += !(fabs(outnt[(size_t)i * OC + j] - s) <= tol);
                    }
                CHECK_MSG(bad == 0, "variant %d, %dx%dx%d, accumulate %d: %d wrong", level, N, IC, OC, accumulate, bad);
                CHECK_MSG(bad_nt == 0, "variant %d, nt %dx%dx%d: %d wrong", level, N, IC, OC, bad_nt);
            }
            free(A), free(W), free(b), free(out), free(outnt), free(Wt), free(W16), free(Wt16);
        }
    }
    pst_bf16_kernels_force(-1);
}

static void make_model(pst_gpt2 *m, int rounded) {
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 42);
    CHECK(pst_gpt2_create(m, &cfg, &err) == 0);
    pst_gpt2_init_random(m, &rng);
    /* logits of std ~ 1: spread-out distributions, on which rounding shows */
    for (size_t i = 0; i < (size_t)cfg.vocab_size * cfg.n_embd; i++) m->params.wte[i] *= 12.0f;
    for (size_t i = 0; i < (size_t)cfg.n_positions * cfg.n_embd; i++) m->params.wpe[i] *= 30.0f;
    if (rounded) pst_gpt2_round_bf16(m);
}

/* Samples of q_bf16: each log-prob is pst_gpt2_score's under the rounded model (1e-4),
 * and the fp32 model gives measurably different ones (q_bf16 ≠ π). */
static void test_logprobs(pst_gpt2 *m, pst_gpt2 *rounded) {
    const int n = 40, V = cfg.vocab_size;
    int **pr = malloc(n * sizeof *pr), *lens = malloc(n * sizeof(int));
    pst_rng prng;
    pst_rng_seed(&prng, 7);
    for (int i = 0; i < n; i++) {
        lens[i] = 1 + (int)pst_rng_below(&prng, 6);
        pr[i] = malloc(lens[i] * sizeof(int));
        for (int t = 0; t < lens[i]; t++) pr[i][t] = (int)pst_rng_below(&prng, V);
    }
    pst_sample_options o;
    pst_sample_options_default(&o);
    o.max_new_tokens = 20, o.eot_token = -1, o.bf16_weights = 1;
    pst_sample *s = calloc(n, sizeof *s);
    pst_rng rng;
    pst_rng_seed(&rng, 8);
    pst_error err;
    int rc = pst_gpt2_sample(m, (const int *const *)pr, lens, n, &o, &rng, s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    int **seq = malloc(n * sizeof *seq), *slen = malloc(n * sizeof(int));
    double *lq = malloc(n * sizeof(double)), *lpi = malloc(n * sizeof(double));
    for (int i = 0; i < n; i++) {
        slen[i] = lens[i] + s[i].n_tokens;
        seq[i] = malloc(slen[i] * sizeof(int));
        memcpy(seq[i], pr[i], lens[i] * sizeof(int));
        memcpy(seq[i] + lens[i], s[i].tokens, s[i].n_tokens * sizeof(int));
    }
    CHECK(pst_gpt2_score(rounded, (const int *const *)seq, slen, lens, n, lq, NULL, &err) == 0);
    CHECK(pst_gpt2_score(m, (const int *const *)seq, slen, lens, n, lpi, NULL, &err) == 0);
    double worst = 0, diff_pi = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(s[i].logprob_model - lq[i]);
        worst = d > worst ? d : worst;
        CHECK(fabs(s[i].logprob_proposal - s[i].logprob_model) < 1e-9); /* T = 1, nothing cut */
        diff_pi = fabs(lpi[i] - lq[i]) > diff_pi ? fabs(lpi[i] - lq[i]) : diff_pi;
    }
    CHECK_MSG(worst < 1e-4, "bf16 log-probs differ from the rounded model's score by %.3g", worst);
    CHECK_MSG(diff_pi > 1e-3, "the rounded model scores like the fp32 one (%.3g): is the test sensitive?", diff_pi);
    printf("bf16 sampler vs rounded model: max |diff| %.2g; rounded vs fp32 model: max |diff| %.2g\n", worst,
           diff_pi);
    for (int i = 0; i < n; i++) free(pr[i]), free(seq[i]);
    pst_sample_free(s, n);
    free(s), free(pr), free(lens), free(seq), free(slen), free(lq), free(lpi);
}

/* Upper 0.1% point of chi-square with k degrees of freedom (Wilson–Hilferty). */
static double chi2_crit(int k) {
    double z = 3.090232, a = 2.0 / (9.0 * k);
    return k * pow(1 - a + z * sqrt(a), 3);
}

/* 20,000 first tokens drawn with bf16 weights against the rounded model's softmax. */
static void test_frequencies(pst_gpt2 *m, pst_gpt2 *rounded) {
    const int V = cfg.vocab_size, N = 20000;
    int prompt[3] = {3, 17, 5};
    float *logits = malloc(3 * V * sizeof(float));
    pst_error err;
    CHECK(pst_gpt2_forward(rounded, prompt, NULL, 1, 3, logits, &err) == 0);
    const float *z = logits + 2 * V;
    double q[61], mx = -INFINITY, tot = 0;
    for (int j = 0; j < V; j++) mx = z[j] > mx ? z[j] : mx;
    for (int j = 0; j < V; j++) tot += q[j] = exp(z[j] - mx);
    for (int j = 0; j < V; j++) q[j] /= tot;
    const int **prompts = malloc(N * sizeof *prompts);
    int *lens = malloc(N * sizeof(int));
    for (int i = 0; i < N; i++) prompts[i] = prompt, lens[i] = 3;
    pst_sample *s = malloc(N * sizeof *s);
    pst_sample_options o;
    pst_sample_options_default(&o);
    o.max_new_tokens = 1, o.bf16_weights = 1;
    pst_rng rng;
    pst_rng_seed(&rng, 11);
    CHECK(pst_gpt2_sample(m, prompts, lens, N, &o, &rng, s, &err) == 0);
    long count[61] = {0};
    int lp_bad = 0;
    for (int i = 0; i < N; i++) {
        count[s[i].tokens[0]]++;
        lp_bad += !(fabs(s[i].logprob_proposal - log(q[s[i].tokens[0]])) < 1e-4);
    }
    CHECK_MSG(lp_bad == 0, "%d first tokens whose log q differs from the rounded model's", lp_bad);
    double chi = 0, pool_o = 0, pool_e = 0;
    int df = -1;
    for (int j = 0; j < V; j++) {
        double e = q[j] * N;
        if (e < 5) {
            pool_o += count[j], pool_e += e;
            continue;
        }
        chi += (count[j] - e) * (count[j] - e) / e;
        df++;
    }
    if (pool_e > 0) chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e, df++;
    CHECK_MSG(df >= 2 && chi < chi2_crit(df), "chi2 %.2f with %d df (critical %.2f)", chi, df, chi2_crit(df));
    pst_sample_free(s, N);
    free(s), free(prompts), free(lens), free(logits);
}

int main(void) {
    test_round();
    test_kernels();
    pst_gpt2 m, rounded;
    make_model(&m, 0);
    make_model(&rounded, 1);
    test_logprobs(&m, &rounded);
    test_frequencies(&m, &rounded);
    pst_gpt2_free(&m);
    pst_gpt2_free(&rounded);
    return check_report();
}
