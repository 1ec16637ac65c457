/* Pretraining-with-human-feedback objectives on hand-computable batches.
 * Expected numbers were worked out by hand (and checked with Python's math module):
 * a batch of 5 positions, logprobs ln(.5), ln(.25), ln(.1), ln(.8), ln(.3), scores
 * 0, 0.9, NaN, 0.3, 0.5, targets valid except the last (−1), threshold 0.2 → N = 4. */
#include "../check.h"
#include "posterior/pretrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const float LP[5] = {-0.69314718f, -1.38629436f, -2.30258509f, -0.22314355f, -1.2039728f};
static float SC[5] = {0.0f, 0.9f, NAN, 0.3f, 0.5f};
static const int TG[5] = {1, 2, 3, 4, -1};

static pst_phf_params params(void) {
    pst_phf_params p = {0.2, 2.0, 0.5, 0.5, 1.0, 20.0, 0.0};
    return p;
}

static void test_names(void) {
    pst_error err = {0};
    pst_objective o;
    CHECK(pst_objective_parse("awr", &o, &err) == 0 && o == PST_OBJECTIVE_AWR);
    CHECK(pst_objective_parse("conditional", &o, &err) == 0 && o == PST_OBJECTIVE_CONDITIONAL);
    CHECK(pst_objective_parse("ppo", &o, &err) == -1);
    CHECK(strstr(err.msg, "unknown objective 'ppo'") != NULL);
    CHECK(pst_phf_task_get("pep8", &err) != NULL);
    CHECK(pst_phf_task_get("spam", &err) == NULL && strstr(err.msg, "unknown task 'spam'"));
    CHECK(strcmp(pst_phf_task_get("toxicity", &err)->segmenter, "sentence") == 0);
}

static void test_mle_and_ul(void) {
    pst_error err = {0};
    pst_phf_params p = params();
    float d[5];
    pst_objective_result r;
    CHECK(pst_objective_loss(PST_OBJECTIVE_MLE, &p, 5, LP, SC, TG, NULL, 1.0f, d, NULL, &r, &err) == 0);
    CHECK_NEAR(r.loss, 1.1512925465, 1e-6);
    CHECK(r.n == 4);
    for (int i = 0; i < 4; i++) CHECK_NEAR(d[i], -0.25, 1e-7);
    CHECK(d[4] == 0.0f);
    CHECK_NEAR(r.misaligned_fraction, 2.0 / 3.0, 1e-12); /* 0.9 and 0.3 of three scored */
    /* gradient accumulation scale */
    CHECK(pst_objective_loss(PST_OBJECTIVE_MLE, &p, 5, LP, SC, TG, NULL, 0.5f, d, NULL, &r, &err) == 0);
    CHECK_NEAR(d[0], -0.125, 1e-7);
    /* unlikelihood α = 2: positions 1 and 3 are misaligned */
    CHECK(pst_objective_loss(PST_OBJECTIVE_UNLIKELIHOOD, &p, 5, LP, SC, TG, NULL, 1.0f, d, NULL, &r,
                             &err) == 0);
    CHECK_NEAR(r.loss, 1.6974930608, 1e-6);
    CHECK_NEAR(d[0], -0.25, 1e-7);
    CHECK_NEAR(d[1], 0.16666667, 1e-6); /* α·π/(1 − π)/N = 2·.25/.75/4 */
    CHECK_NEAR(d[2], -0.25, 1e-7);      /* unscored (NaN): likelihood */
    CHECK_NEAR(d[3], 2.0, 1e-5);        /* 2·.8/.2/4 */
    CHECK_NEAR(r.lm_loss, 1.1512925465, 1e-6);
    /* π → 1 on a misaligned token stays finite */
    float lp1[1] = {0.0f}, s1[1] = {1.0f};
    int t1[1] = {0};
    CHECK(pst_objective_loss(PST_OBJECTIVE_UNLIKELIHOOD, &p, 1, lp1, s1, t1, NULL, 1.0f, d, NULL, &r,
                             &err) == 0);
    CHECK(isfinite(r.loss) && isfinite(d[0]) && d[0] > 0);
}

static void test_rwr_awr(void) {
    pst_error err = {0};
    pst_phf_params p = params();
    float d[5], dv[5];
    pst_objective_result r;
    CHECK(pst_objective_loss(PST_OBJECTIVE_RWR, &p, 5, LP, SC, TG, NULL, 1.0f, d, NULL, &r, &err) == 0);
    CHECK_NEAR(r.loss, 0.8368372419, 1e-6);
    const double want[4] = {-0.25, -0.0413247221, -0.25, -0.1372029090};
    for (int i = 0; i < 4; i++) CHECK_NEAR(d[i], want[i], 1e-7);
    /* clipping: s = −2, β = .5 → exp(4) = 54.6 → 20 */
    CHECK_NEAR(pst_phf_weight(4.0 * 0.5, 0.5, 20.0), 20.0, 1e-12);
    CHECK_NEAR(pst_phf_weight(-1.0, 0.5, 20.0), exp(-2.0), 1e-12);
    float s2[1] = {-2.0f}, lp2[1] = {-1.0f};
    int t2[1] = {0};
    CHECK(pst_objective_loss(PST_OBJECTIVE_RWR, &p, 1, lp2, s2, t2, NULL, 1.0f, d, NULL, &r, &err) == 0);
    CHECK_NEAR(d[0], -20.0, 1e-5);
    /* AWR α = .5, β = 1, V = (.1, −.5, .3, −.2, 9): advantages −.1, −.4, (none), −.1 */
    const float V[5] = {0.1f, -0.5f, 0.3f, -0.2f, 9.0f};
    CHECK(pst_objective_loss(PST_OBJECTIVE_AWR, &p, 5, LP, SC, TG, V, 1.0f, d, dv, &r, &err) == 0);
    CHECK_NEAR(r.loss, 0.5301175166, 1e-6);
    CHECK_NEAR(r.value_loss, 0.045, 1e-7); /* (.1² + .4² + .1²)/4 */
    const double wd[4] = {-0.1131046773, -0.0837900058, -0.125, -0.1131046773};
    for (int i = 0; i < 4; i++) CHECK_NEAR(d[i], wd[i], 1e-7);
    const double wv[5] = {0.025, 0.1, 0.0, 0.025, 0.0}; /* (1 − α)·2(V − R)/N */
    for (int i = 0; i < 5; i++) CHECK_NEAR(dv[i], wv[i], 1e-7);
    CHECK(pst_objective_loss(PST_OBJECTIVE_AWR, &p, 5, LP, SC, TG, NULL, 1.0f, d, dv, &r, &err) == -1);
    CHECK(pst_objective_loss(PST_OBJECTIVE_RWR, &p, 5, LP, NULL, TG, NULL, 1.0f, d, NULL, &r, &err) == -1);
    CHECK(strstr(err.msg, "needs token scores") != NULL);
}

/* A scored shard, vocab 10, eot 9: d0 = [1 2 | 3 4] scores (0, .5); d1 = [5 6] (.1);
 * d2 = [7 | 8 1] (.9, .7). Mean document scores .25, .1, .8. */
static int make_shard(const char *path, const char *scorer, pst_error *err) {
    pst_shard_builder b;
    if (pst_shard_builder_init(&b, 10, 9, 0, scorer, err)) return -1;
    uint32_t d0[4] = {1, 2, 3, 4}, d1[2] = {5, 6}, d2[3] = {7, 8, 1};
    size_t e0[2] = {2, 4}, e1[1] = {2}, e2[2] = {1, 3};
    float s0[2] = {0.0f, 0.5f}, s1[1] = {0.1f}, s2[2] = {0.9f, 0.7f};
    int scored = scorer && scorer[0];
    int rc = pst_shard_builder_add(&b, d0, 4, e0, scored ? s0 : NULL, 2, 0, err) ||
             pst_shard_builder_add(&b, d1, 2, e1, scored ? s1 : NULL, 1, 1, err) ||
             pst_shard_builder_add(&b, d2, 3, e2, scored ? s2 : NULL, 2, 2, err) ||
             pst_shard_builder_write(&b, path, PST_SPLIT_TRAIN, 1, 0.0, err);
    pst_shard_builder_free(&b);
    return rc ? -1 : 0;
}

static void test_shard_scores(const char *dir) {
    pst_error err = {0};
    char path[512], upath[512], fpath[512];
    snprintf(path, sizeof path, "%s/s.bin", dir);
    snprintf(upath, sizeof upath, "%s/u.bin", dir);
    snprintf(fpath, sizeof fpath, "%s/f.bin", dir);
    CHECK(make_shard(path, "toxicity", &err) == 0);
    CHECK(make_shard(upath, "", &err) == 0);
    pst_shard s, u;
    CHECK(pst_shard_open(&s, path, &err) == 0);
    CHECK(pst_shard_open(&u, upath, &err) == 0);
    CHECK(pst_phf_check_scored(&s, &err) == 0);
    CHECK(pst_phf_check_scored(&u, &err) == -1 && strstr(err.msg, "no segment scores"));
    double lo, hi, t;
    CHECK(pst_phf_score_range(&s, &lo, &hi, &err) == 0);
    CHECK_NEAR(lo, 0.0, 1e-7);
    CHECK_NEAR(hi, 0.9, 1e-7);
    CHECK(pst_phf_check_threshold(&s, 0.3, &err) == 0);
    CHECK(pst_phf_check_threshold(&s, 1.5, &err) == -1 && strstr(err.msg, "outside the score range"));
    CHECK(pst_phf_check_threshold(&s, -0.1, &err) == -1);
    /* sorted scores 0 .1 .5 .7 .9 */
    CHECK(pst_phf_score_percentile(&s, 50, &t, &err) == 0);
    CHECK_NEAR(t, 0.5, 1e-7);
    CHECK(pst_phf_score_percentile(&s, 25, &t, &err) == 0);
    CHECK_NEAR(t, 0.1, 1e-7);
    CHECK(pst_phf_score_percentile(&s, 90, &t, &err) == 0);
    CHECK_NEAR(t, 0.82, 1e-6);
    CHECK(pst_phf_score_percentile(&s, 101, &t, &err) == -1);
    /* misaligned mean: scores > .3 (and > .2) are .5 .9 .7 -> .7; > 0 adds .1 -> .55 */
    double mm;
    CHECK(pst_phf_misaligned_mean(&s, 0.3, &mm, &err) == 0);
    CHECK_NEAR(mm, 0.7, 1e-6);
    CHECK(pst_phf_misaligned_mean(&s, 0.2, &mm, &err) == 0);
    CHECK_NEAR(mm, 0.7, 1e-6);
    CHECK(pst_phf_misaligned_mean(&s, 0.0, &mm, &err) == 0);
    CHECK_NEAR(mm, 0.55, 1e-6);
    CHECK(pst_phf_misaligned_mean(&s, 0.9, &mm, &err) == -1 && strstr(err.msg, "no segment with score"));
    CHECK_NEAR(pst_phf_document_score(&s, 0), 0.25, 1e-7);
    CHECK_NEAR(pst_phf_document_score(&s, 2), 0.8, 1e-7);
    /* filtering at .3 keeps d0 and d1 */
    uint64_t kd = 0, kt = 0;
    CHECK(pst_phf_filter_shard(&s, 0.3, fpath, &kd, &kt, &err) == 0);
    CHECK(kd == 2 && kt == 6);
    pst_shard f;
    int opened = pst_shard_open(&f, fpath, &err) == 0;
    CHECK(opened);
    if (opened) {
        uint32_t want[6] = {1, 2, 3, 4, 5, 6};
        CHECK(f.n_documents == 2 && f.n_segments == 3 && f.n_tokens == 6);
        for (int i = 0; i < 6 && f.n_tokens == 6; i++) CHECK(pst_shard_token(&f, i) == want[i]);
        CHECK(f.document_source[1] == 1);
        CHECK_NEAR(f.segment_scores[1], 0.5, 1e-7);
        pst_shard_close(&f);
    }
    /* .2: keeps d1 only (mean .1); 0.05 keeps none */
    CHECK(pst_phf_filter_shard(&s, 0.2, fpath, &kd, &kt, &err) == 0 && kd == 1 && kt == 2);
    CHECK(pst_phf_filter_shard(&s, 0.05, fpath, &kd, &kt, &err) == -1 && strstr(err.msg, "keeps no document"));
    CHECK(pst_phf_filter_shard(&u, 1.0, fpath, &kd, &kt, &err) == -1);
    pst_shard_close(&s);
    pst_shard_close(&u);
    /* a conditional source on an unscored shard */
    pst_token_source src;
    CHECK(pst_phf_source(&src, upath, 1, 4, 1, 10, 11, 0.3, 0.0, &err) == -1);
    CHECK(pst_phf_source(&src, path, 1, 4, 1, 10, 11, 0.3, 1.5, &err) == -1 && strstr(err.msg, "drop fraction"));
}

/* Control-token placement on one document [1 2 | 3 | 4 5] scores (0, .6, .2), t = .3:
 * stream 10 1 2 11 3 10 4 5 9 10 1 2 11 3 ... (10 aligned, 11 misaligned, 9 eot). */
static void test_control_tokens(const char *dir) {
    pst_error err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/c.bin", dir);
    pst_shard_builder b;
    uint32_t d[5] = {1, 2, 3, 4, 5};
    size_t e[3] = {2, 3, 5};
    float sc[3] = {0.0f, 0.6f, 0.2f};
    CHECK(pst_shard_builder_init(&b, 10, 9, 0, "toxicity", &err) == 0);
    CHECK(pst_shard_builder_add(&b, d, 5, e, sc, 3, 0, &err) == 0);
    CHECK(pst_shard_builder_write(&b, path, PST_SPLIT_TRAIN, 1, 0.0, &err) == 0);
    pst_shard_builder_free(&b);
    pst_token_source src;
    int made = pst_phf_source(&src, path, 2, 4, 7, 10, 11, 0.3, 0.0, &err) == 0;
    CHECK_MSG(made, "%s", err.msg);
    if (!made) return;
    CHECK(src.max_id == 11);
    int tok[10];
    const int want1[10] = {10, 1, 2, 11, 3, /* row 1 */ 3, 10, 4, 5, 9};
    const int want2[10] = {9, 10, 1, 2, 11, /* row 1 */ 11, 3, 10, 4, 5};
    const float ws[10] = {0, 0, 0, .6f, .6f, .6f, .2f, .2f, .2f, NAN};
    CHECK(src.next(src.self, tok, &err) == 0);
    for (int i = 0; i < 10; i++) CHECK_MSG(tok[i] == want1[i], "batch 1 [%d] = %d, want %d", i, tok[i], want1[i]);
    const float *s = pst_phf_source_scores(&src);
    for (int i = 0; i < 10; i++)
        CHECK_MSG(isnan(ws[i]) ? isnan(s[i]) : fabsf(s[i] - ws[i]) < 1e-6, "score [%d] = %g", i, s[i]);
    CHECK(src.next(src.self, tok, &err) == 0);
    for (int i = 0; i < 10; i++) CHECK_MSG(tok[i] == want2[i], "batch 2 [%d] = %d, want %d", i, tok[i], want2[i]);
    pst_token_source_free(&src);

    /* drop fraction .5 on 400 one-token segments: about half lose their control token, and
     * the stream without control tokens is the plain stream */
    snprintf(path, sizeof path, "%s/c2.bin", dir);
    uint32_t d2[400];
    size_t e2[400];
    float s2[400];
    for (int i = 0; i < 400; i++) d2[i] = (uint32_t)(i % 8), e2[i] = (size_t)i + 1, s2[i] = (float)(i % 2);
    CHECK(pst_shard_builder_init(&b, 10, 9, 0, "toxicity", &err) == 0);
    CHECK(pst_shard_builder_add(&b, d2, 400, e2, s2, 400, 0, &err) == 0);
    CHECK(pst_shard_builder_write(&b, path, PST_SPLIT_TRAIN, 1, 0.0, &err) == 0);
    pst_shard_builder_free(&b);
    made = pst_phf_source(&src, path, 1, 700, 3, 10, 11, 0.5, 0.5, &err) == 0;
    CHECK_MSG(made, "%s", err.msg);
    if (!made) return;
    int big[701];
    CHECK(src.next(src.self, big, &err) == 0);
    int n_ctrl = 0, k = 0, ok = 1, ctrl_ok = 1;
    for (int i = 0; i < 701 && k < 400; i++) {
        if (big[i] == 10 || big[i] == 11) {
            n_ctrl++;
            /* the control token matches the next segment's score: odd segments (s = 1) misaligned */
            ctrl_ok &= big[i] == (k % 2 ? 11 : 10);
            continue;
        }
        ok &= big[i] == (int)(k % 8);
        k++;
    }
    CHECK(ok && ctrl_ok);
    CHECK_MSG(k == 400 && n_ctrl > 160 && n_ctrl < 240, "%d control tokens kept of 400", n_ctrl);
    pst_token_source_free(&src);
}

/* pst_gpt2_backward_hidden: with L = Σ u·h (h the final hidden states), the gradient
 * matches central finite differences of L. */
static void test_hidden_gradient(void) {
    pst_error err = {0};
    pst_gpt2 m;
    pst_gpt2_config cfg = {1, 2, 8, 8, 11, 1e-5f};
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_rng rng;
    pst_rng_seed(&rng, 5);
    pst_gpt2_init_random(&m, &rng);
    int B = 2, T = 4, C = 8;
    int tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tg[8] = {2, 3, 4, 5, 6, 7, 8, 9};
    float u[64], zero[8] = {0};
    for (int i = 0; i < 64; i++) u[i] = (float)pst_rng_normal(&rng);
    CHECK(pst_gpt2_forward(&m, tok, tg, B, T, NULL, &err) == 0);
    pst_gpt2_zero_grad(&m);
    CHECK(pst_gpt2_backward_hidden(&m, zero, u, &err) == 0);
    size_t idx[4] = {3, m.num_params / 3, m.num_params / 2 + 7, m.num_params - 5};
    for (int k = 0; k < 4; k++) {
        float old = m.param_memory[idx[k]];
        double Lp = 0, Lm = 0, eps = 1e-2;
        for (int sgn = 0; sgn < 2; sgn++) {
            m.param_memory[idx[k]] = old + (float)(sgn ? -eps : eps);
            pst_gpt2_forward(&m, tok, tg, B, T, NULL, &err);
            const float *h = pst_gpt2_hidden(&m);
            double L = 0;
            for (int i = 0; i < B * T * C; i++) L += (double)u[i] * h[i];
            *(sgn ? &Lm : &Lp) = L;
        }
        m.param_memory[idx[k]] = old;
        double fd = (Lp - Lm) / (2 * eps), g = m.grad_memory[idx[k]];
        CHECK_MSG(fabs(fd - g) < 2e-2 * (1 + fabs(fd)), "param %zu: grad %g, finite difference %g", idx[k], g, fd);
    }
    pst_gpt2_free(&m);
}

/* pst_phf_batch's gradients (GPT and value head) against central finite differences of its
 * loss, for unlikelihood, RWR, AWR with α = 0 (value loss only: its gradient runs through the
 * transformer) and AWR with a huge β (weights ≈ 1, so the stopped gradient through w does
 * not matter). */
static void test_batch_gradients(void) {
    pst_error err = {0};
    pst_gpt2 m;
    pst_gpt2_config cfg = {1, 2, 8, 8, 11, 1e-5f};
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_rng rng;
    pst_rng_seed(&rng, 9);
    pst_gpt2_init_random(&m, &rng);
    pst_value_head vh;
    CHECK(pst_value_head_create(&vh, 8, &err) == 0);
    for (int j = 0; j < 9; j++) vh.param[j] = (float)(0.3 * pst_rng_normal(&rng));
    int B = 2, T = 4;
    int tok[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tg[8] = {2, 3, 4, 5, 6, 7, 8, -1};
    float sc[8] = {0, 0.9f, 0.9f, NAN, 0.1f, 0.5f, 0.7f, 0};
    struct { pst_objective obj; double awr_alpha, awr_beta; const char *name; } cases[4] = {
        {PST_OBJECTIVE_UNLIKELIHOOD, 0.5, 1, "unlikelihood"},
        {PST_OBJECTIVE_RWR, 0.5, 1, "rwr"},
        {PST_OBJECTIVE_AWR, 0.0, 1, "awr alpha 0"},
        {PST_OBJECTIVE_AWR, 0.5, 1e6, "awr beta 1e6"}};
    for (int c = 0; c < 4; c++) {
        pst_phf_params p = {0.3, 1.5, 0.5, cases[c].awr_alpha, cases[c].awr_beta, 20, 0};
        pst_objective_result r;
        pst_gpt2_zero_grad(&m);
        memset(vh.grad, 0, 9 * sizeof(float));
        int ok = pst_phf_batch(&m, &vh, cases[c].obj, &p, tok, tg, sc, B, T, 1.0f, &r, &err) == 0;
        CHECK_MSG(ok, "%s: %s", cases[c].name, err.msg);
        if (!ok) continue;
        size_t idx[4] = {20, m.num_params / 3, m.num_params / 2 + 3, m.num_params - 3};
        double grads[6];
        for (int k = 0; k < 6; k++) grads[k] = k < 4 ? m.grad_memory[idx[k]] : vh.grad[k == 4 ? 2 : 8];
        for (int k = 0; k < 4 + 2; k++) { /* 4 GPT parameters, then v[2] and b */
            float *x = k < 4 ? &m.param_memory[idx[k]] : &vh.param[k == 4 ? 2 : 8];
            double g = grads[k];
            float old = *x;
            double L[2] = {0, 0}, eps = 3e-3;
            for (int sgn = 0; sgn < 2; sgn++) {
                *x = old + (float)(sgn ? -eps : eps);
                pst_objective_result rr;
                pst_gpt2_zero_grad(&m); /* (gradients of these probes are not used) */
                pst_phf_batch(&m, &vh, cases[c].obj, &p, tok, tg, sc, B, T, 1.0f, &rr, &err);
                L[sgn] = rr.loss;
            }
            *x = old;
            double fd = (L[0] - L[1]) / (2 * eps);
            CHECK_MSG(fabs(fd - g) < 3e-2 * (1e-2 + fabs(fd)) + 2e-4, "%s: parameter %d: grad %g, finite difference %g",
                      cases[c].name, k, g, fd);
        }
        if (cases[c].obj == PST_OBJECTIVE_AWR) CHECK(r.value_loss > 0);
    }
    pst_value_head_free(&vh);
    pst_gpt2_free(&m);
}

static void test_value_head_file(const char *dir) {
    pst_error err = {0};
    pst_value_head a, b;
    CHECK(pst_value_head_create(&a, 5, &err) == 0);
    CHECK(pst_value_head_create(&b, 5, &err) == 0);
    for (int i = 0; i < 6; i++) a.param[i] = 0.5f * (float)i - 1, a.opt.m[i] = 0.1f * (float)i, a.opt.v[i] = 0.01f * (float)(i + 1);
    a.opt.step = 42;
    CHECK(pst_value_head_save(&a, dir, &err) == 0);
    CHECK(pst_value_head_load(&b, dir, 0, &err) == 0); /* parameters only: moments stay 0 */
    CHECK(memcmp(a.param, b.param, 6 * sizeof(float)) == 0);
    CHECK(b.opt.step == 0 && b.opt.m[3] == 0 && b.opt.v[3] == 0);
    CHECK(pst_value_head_load(&b, dir, 1, &err) == 0); /* resume: the optimizer state too */
    CHECK(memcmp(a.opt.m, b.opt.m, 6 * sizeof(float)) == 0 && memcmp(a.opt.v, b.opt.v, 6 * sizeof(float)) == 0);
    CHECK(b.opt.step == 42);
    pst_value_head c;
    CHECK(pst_value_head_create(&c, 4, &err) == 0);
    CHECK(pst_value_head_load(&c, dir, 0, &err) == -1 && strstr(err.msg, "not a value head of width 4"));
    pst_value_head_free(&a), pst_value_head_free(&b), pst_value_head_free(&c);
}

int main(int argc, char **argv) {
    (void)argc;
    /* tiny models: OpenMP threads only add waiting on a busy machine (20 s instead of 0.5 s) */
    if (!getenv("OMP_NUM_THREADS")) {
        setenv("OMP_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv);
    }
    char dir[] = "/tmp/pst_objectives.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_names();
    test_mle_and_ul();
    test_rwr_awr();
    test_shard_scores(dir);
    test_control_tokens(dir);
    test_hidden_gradient();
    test_batch_gradients();
    test_value_head_file(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    return check_report();
}
