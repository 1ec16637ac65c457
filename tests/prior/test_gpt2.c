/* GPT-2 numerical core against PyTorch fixtures (scripts/make_prior_fixtures.py):
 * logits, log-probs and weighted cross-entropy to 1e-5; every gradient tensor to 1e-4
 * in relative norm, for the weighted CE and for an arbitrary dlogprobs; clipping
 * and two AdamW steps to 1e-6. Then double-precision finite differences on a
 * tiny config, the learning-rate schedule in closed form, and bad inputs. */
#include "check.h"
#include "fixture.h"
#include "posterior/prior.h"
#include "prior/gpt2_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE "tests/fixtures/prior/gpt2_tiny.safetensors"

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void check_grads(const pst_gpt2 *m, const float *ref, const char *what) {
    size_t s[PST_GPT2_NUM_TENSORS], off = 0;
    pst_gpt2_param_sizes(&m->config, s);
    for (int i = 0; i < PST_GPT2_NUM_TENSORS; i++) {
        double e = rel_err(m->grad_memory + off, ref + off, s[i]);
        CHECK_MSG(e <= 1e-4, "%s gradient of %s: relative error %.3g", what, tensor_names[i], e);
        off += s[i];
    }
}

static void test_against_pytorch(void) {
    fixture f;
    if (fixture_open(&f, FIXTURE)) {
        CHECK_MSG(0, "cannot read %s", FIXTURE);
        return;
    }
    pst_gpt2_config cfg = {(int)fixture_meta(&f, "n_layer"), (int)fixture_meta(&f, "n_head"),
                           (int)fixture_meta(&f, "n_embd"), (int)fixture_meta(&f, "n_positions"),
                           (int)fixture_meta(&f, "vocab_size"),
                           (float)fixture_meta(&f, "layer_norm_epsilon")};
    int B = (int)fixture_meta(&f, "B"), T = (int)fixture_meta(&f, "T"), V = cfg.vocab_size;
    size_t BT = (size_t)B * T;
    pst_gpt2 m;
    pst_error err;
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    size_t N = m.num_params;
    memcpy(m.param_memory, fixture_get(&f, "params", "F32", N), N * sizeof(float));
    const int *tokens = fixture_get(&f, "tokens", "I32", BT);
    const int *targets = fixture_get(&f, "targets", "I32", BT);
    const float *weights = fixture_get(&f, "weights", "F32", BT);

    /* forward: logits and log-probs */
    float *logits = malloc(BT * V * sizeof(float));
    CHECK(pst_gpt2_forward(&m, tokens, targets, B, T, logits, &err) == 0);
    double e = max_abs_diff(logits, fixture_get(&f, "logits", "F32", BT * V), BT * V);
    CHECK_MSG(e <= 1e-5, "logits max |diff| %.3g", e);
    e = max_abs_diff(m.logprobs, fixture_get(&f, "logprobs", "F32", BT), BT);
    CHECK_MSG(e <= 1e-5, "logprobs max |diff| %.3g", e);

    /* weighted cross-entropy and its gradients */
    float *dlogprobs = malloc(BT * sizeof(float));
    double loss = 0;
    CHECK(pst_gpt2_cross_entropy(&m, tokens, targets, weights, B, T, dlogprobs, &loss, &err) == 0);
    const double *loss_ref = fixture_get(&f, "loss", "F64", 1);
    CHECK_NEAR(loss, loss_ref[0], 1e-5);
    pst_gpt2_zero_grad(&m);
    CHECK(pst_gpt2_backward(&m, dlogprobs, &err) == 0);
    check_grads(&m, fixture_get(&f, "grads", "F32", N), "weighted CE");
    /* a second backward without a forward is refused */
    CHECK(pst_gpt2_backward(&m, dlogprobs, &err) == -1);

    /* accumulation: two micro-batches = twice the gradient */
    float *g1 = malloc(N * sizeof(float));
    memcpy(g1, m.grad_memory, N * sizeof(float));
    CHECK(pst_gpt2_cross_entropy(&m, tokens, targets, weights, B, T, dlogprobs, &loss, &err) == 0);
    CHECK(pst_gpt2_backward(&m, dlogprobs, &err) == 0);
    for (size_t i = 0; i < N; i++) g1[i] *= 2;
    e = rel_err(m.grad_memory, g1, N);
    CHECK_MSG(e <= 1e-6, "accumulated gradient relative error %.3g", e);

    /* an arbitrary dlogprobs: gradient of Σ c·logprobs */
    CHECK(pst_gpt2_forward(&m, tokens, targets, B, T, NULL, &err) == 0);
    pst_gpt2_zero_grad(&m);
    CHECK(pst_gpt2_backward(&m, fixture_get(&f, "dlogprobs_custom", "F32", BT), &err) == 0);
    check_grads(&m, fixture_get(&f, "grads_custom", "F32", N), "custom dlogprobs");

    /* clipping by global norm, then AdamW twice (decay on 2-D weights only) */
    CHECK(pst_gpt2_cross_entropy(&m, tokens, targets, weights, B, T, dlogprobs, &loss, &err) == 0);
    pst_gpt2_zero_grad(&m);
    CHECK(pst_gpt2_backward(&m, dlogprobs, &err) == 0);
    float norm = pst_grad_norm(m.grad_memory, N), scale = pst_clip_scale(norm, (float)fixture_meta(&f, "max_norm"));
    CHECK(scale < 1); /* the fixture's gradient is clipped */
    for (size_t i = 0; i < N; i++) m.grad_memory[i] *= scale;
    const double *norm_ref = fixture_get(&f, "grad_norm", "F64", 1);
    CHECK_MSG(fabs(norm - norm_ref[0]) <= 1e-5 * norm_ref[0], "grad norm %.9g vs %.9g", norm,
              norm_ref[0]);
    const float *clipped_ref = fixture_get(&f, "grads_clipped", "F32", N);
    e = rel_err(m.grad_memory, clipped_ref, N);
    CHECK_MSG(e <= 1e-4, "clipped gradient relative error %.3g", e);

    /* AdamW is checked on the exact reference gradients, so only the update differs */
    pst_adamw opt;
    CHECK(pst_adamw_create(&opt, N, (float)fixture_meta(&f, "beta1"),
                           (float)fixture_meta(&f, "beta2"), (float)fixture_meta(&f, "eps"),
                           (float)fixture_meta(&f, "weight_decay"), &err) == 0);
    unsigned char *mask = pst_gpt2_decay_mask(&m, &err);
    CHECK(mask != NULL);
    float lr = (float)fixture_meta(&f, "lr");
    pst_adamw_update(&opt, m.param_memory, clipped_ref, 1.0f, mask, N, lr);
    e = max_abs_diff(m.param_memory, fixture_get(&f, "adamw_step1", "F32", N), N);
    CHECK_MSG(e <= 1e-6, "AdamW step 1 max |diff| %.3g", e);
    pst_adamw_update(&opt, m.param_memory, clipped_ref, 1.0f, mask, N, lr);
    e = max_abs_diff(m.param_memory, fixture_get(&f, "adamw_step2", "F32", N), N);
    CHECK_MSG(e <= 1e-6, "AdamW step 2 max |diff| %.3g", e);
    CHECK(opt.step == 2);

    free(mask);
    pst_adamw_free(&opt);
    free(g1);
    free(dlogprobs);
    free(logits);
    pst_gpt2_free(&m);
    fixture_close(&f);
}

/* ---- finite differences in double precision ---------------------------
 * The loss Σ c·logprobs is evaluated by a double-precision re-implementation of the
 * forward (below, from the same parameters) so that central differences are exact to
 * ~1e-9; the C backward (fp32) must match them to 1e-5 relative (errors seen: ~1e-7). */

typedef struct {
    pst_gpt2_config c;
    const double *p; /* parameters in the C layout */
} dmodel;

static void d_layernorm(double *o, const double *x, const double *w, const double *b, int C,
                        double eps) {
    double mu = 0, v = 0;
    for (int i = 0; i < C; i++) mu += x[i];
    mu /= C;
    for (int i = 0; i < C; i++) v += (x[i] - mu) * (x[i] - mu);
    double rs = 1.0 / sqrt(v / C + eps);
    for (int i = 0; i < C; i++) o[i] = (x[i] - mu) * rs * w[i] + b[i];
}

/* o[OC] = x[IC]·W[IC, OC] + b */
static void d_linear(double *o, const double *x, const double *W, const double *b, int IC,
                     int OC) {
    for (int j = 0; j < OC; j++) o[j] = b[j];
    for (int i = 0; i < IC; i++)
        for (int j = 0; j < OC; j++) o[j] += x[i] * W[(size_t)i * OC + j];
}

/* Σ_{b,t} c[b,t]·log p(targets[b,t] | tokens[b, ≤t]) */
static double d_objective(const dmodel *dm, const int *tokens, const int *targets,
                          const double *c, int B, int T) {
    int L = dm->c.n_layer, C = dm->c.n_embd, NH = dm->c.n_head, V = dm->c.vocab_size;
    int hs = C / NH, maxT = dm->c.n_positions;
    size_t s[PST_GPT2_NUM_TENSORS], off[PST_GPT2_NUM_TENSORS + 1] = {0};
    pst_gpt2_param_sizes(&dm->c, s);
    for (int i = 0; i < PST_GPT2_NUM_TENSORS; i++) off[i + 1] = off[i] + s[i];
    const double *P = dm->p;
#define W_(i) (P + off[i])
    double *x = calloc((size_t)T * C, sizeof(double)), *h = calloc((size_t)T * 4 * C, sizeof(double));
    double *qkv = calloc((size_t)T * 3 * C, sizeof(double)), *y = calloc((size_t)T * C, sizeof(double));
    double *a = calloc(4 * C, sizeof(double)), *att = calloc(T, sizeof(double));
    double total = 0;
    (void)maxT;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++)
            for (int i = 0; i < C; i++)
                x[t * C + i] = W_(0)[(size_t)tokens[b * T + t] * C + i] + W_(1)[t * C + i];
        for (int l = 0; l < L; l++) {
            for (int t = 0; t < T; t++) {
                d_layernorm(a, x + t * C, W_(2) + l * C, W_(3) + l * C, C, dm->c.layer_norm_epsilon);
                d_linear(qkv + t * 3 * C, a, W_(4) + (size_t)l * C * 3 * C, W_(5) + l * 3 * C, C, 3 * C);
            }
            for (int hh = 0; hh < NH; hh++)
                for (int t = 0; t < T; t++) {
                    double mx = -INFINITY, sum = 0;
                    for (int u = 0; u <= t; u++) {
                        double d = 0;
                        for (int i = 0; i < hs; i++)
                            d += qkv[t * 3 * C + hh * hs + i] * qkv[u * 3 * C + C + hh * hs + i];
                        att[u] = d / sqrt((double)hs);
                        mx = fmax(mx, att[u]);
                    }
                    for (int u = 0; u <= t; u++) sum += (att[u] = exp(att[u] - mx));
                    for (int i = 0; i < hs; i++) {
                        double acc = 0;
                        for (int u = 0; u <= t; u++) acc += att[u] / sum * qkv[u * 3 * C + 2 * C + hh * hs + i];
                        y[t * C + hh * hs + i] = acc;
                    }
                }
            for (int t = 0; t < T; t++) {
                d_linear(a, y + t * C, W_(6) + (size_t)l * C * C, W_(7) + l * C, C, C);
                for (int i = 0; i < C; i++) x[t * C + i] += a[i];
                d_layernorm(a, x + t * C, W_(8) + l * C, W_(9) + l * C, C, dm->c.layer_norm_epsilon);
                d_linear(h, a, W_(10) + (size_t)l * C * 4 * C, W_(11) + l * 4 * C, C, 4 * C);
                for (int i = 0; i < 4 * C; i++) {
                    double z = h[i];
                    h[i] = 0.5 * z * (1 + tanh(sqrt(2 / M_PI) * (z + 0.044715 * z * z * z)));
                }
                d_linear(a, h, W_(12) + (size_t)l * 4 * C * C, W_(13) + l * C, 4 * C, C);
                for (int i = 0; i < C; i++) x[t * C + i] += a[i];
            }
        }
        for (int t = 0; t < T; t++) {
            d_layernorm(a, x + t * C, W_(14), W_(15), C, dm->c.layer_norm_epsilon);
            double *lg = malloc(V * sizeof(double));
            for (int v = 0; v < V; v++) {
                double d = 0;
                for (int i = 0; i < C; i++) d += a[i] * W_(0)[(size_t)v * C + i];
                lg[v] = d;
            }
            double lse = pst_logsumexp(lg, V);
            total += c[b * T + t] * (lg[targets[b * T + t]] - lse);
            free(lg);
        }
    }
#undef W_
    free(x), free(h), free(qkv), free(y), free(a), free(att);
    return total;
}

static void test_finite_differences(void) {
    pst_gpt2_config cfg = {2, 2, 8, 8, 11, 1e-5f};
    int B = 2, T = 5;
    pst_gpt2 m;
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 7);
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    size_t N = m.num_params;
    for (size_t i = 0; i < N; i++) m.param_memory[i] += 0.1f * (float)pst_rng_normal(&rng);
    int tokens[10], targets[10];
    float cf[10];
    double cd[10];
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int)pst_rng_below(&rng, cfg.vocab_size);
        targets[i] = (int)pst_rng_below(&rng, cfg.vocab_size);
        cf[i] = (float)pst_rng_normal(&rng);
        cd[i] = cf[i];
    }
    /* the double model agrees with the C forward */
    double *pd = malloc(N * sizeof(double));
    for (size_t i = 0; i < N; i++) pd[i] = m.param_memory[i];
    dmodel dm = {cfg, pd};
    CHECK(pst_gpt2_forward(&m, tokens, targets, B, T, NULL, &err) == 0);
    double obj_c = 0;
    for (int i = 0; i < B * T; i++) obj_c += cd[i] * m.logprobs[i];
    CHECK_NEAR(obj_c, d_objective(&dm, tokens, targets, cd, B, T), 1e-4);

    pst_gpt2_zero_grad(&m);
    CHECK(pst_gpt2_backward(&m, cf, &err) == 0);
    size_t s[PST_GPT2_NUM_TENSORS], off = 0;
    pst_gpt2_param_sizes(&cfg, s);
    for (int ti = 0; ti < PST_GPT2_NUM_TENSORS; ti++) {
        double num2 = 0, den2 = 0;
        for (int k = 0; k < 6; k++) {
            size_t i = off + (size_t)pst_rng_below(&rng, s[ti]);
            /* for wte and wpe, probe rows that are used */
            if (ti == 0 && k < 4) i = (size_t)tokens[k] * cfg.n_embd + pst_rng_below(&rng, cfg.n_embd);
            if (ti == 1 && k < 4) i = off + (size_t)k * cfg.n_embd + pst_rng_below(&rng, cfg.n_embd);
            double h = 1e-5, keep = pd[i];
            pd[i] = keep + h;
            double fp = d_objective(&dm, tokens, targets, cd, B, T);
            pd[i] = keep - h;
            double fm = d_objective(&dm, tokens, targets, cd, B, T);
            pd[i] = keep;
            double fd = (fp - fm) / (2 * h), g = m.grad_memory[i];
            num2 += (g - fd) * (g - fd);
            den2 += fd * fd;
        }
        double rel = den2 > 0 ? sqrt(num2 / den2) : sqrt(num2);
        CHECK_MSG(rel <= 1e-5, "finite differences of %s: relative error %.3g",
                  tensor_names[ti], rel);
        off += s[ti];
    }
    free(pd);
    pst_gpt2_free(&m);
}

static void test_schedule_and_clip(void) {
    /* warmup 10, total 110: linear ramp, cosine to lr_min */
    CHECK_NEAR(pst_lr_schedule(0, 10, 110, 1e-3f, 1e-4f), 1e-4, 1e-9);
    CHECK_NEAR(pst_lr_schedule(9, 10, 110, 1e-3f, 1e-4f), 1e-3, 1e-9);
    CHECK_NEAR(pst_lr_schedule(10, 10, 110, 1e-3f, 1e-4f), 1e-3, 1e-9);
    CHECK_NEAR(pst_lr_schedule(60, 10, 110, 1e-3f, 1e-4f), 5.5e-4, 1e-9);
    CHECK_NEAR(pst_lr_schedule(35, 10, 110, 1e-3f, 1e-4f),
               1e-4 + 0.5 * (1 + cos(M_PI * 0.25)) * 9e-4, 1e-9);
    CHECK_NEAR(pst_lr_schedule(110, 10, 110, 1e-3f, 1e-4f), 1e-4, 1e-9);
    CHECK_NEAR(pst_lr_schedule(5, 0, 10, 1.0f, 0.0f), 0.5, 1e-6);
    /* clip: ‖(3, 4)‖ = 5 → scaled to norm 1; a small norm is left alone */
    float g[2] = {3, 4};
    CHECK_NEAR(pst_grad_norm(g, 2), 5.0, 1e-6);
    CHECK_NEAR(pst_clip_scale(5.0f, 1.0f) * g[0], 0.6, 1e-6);
    CHECK_NEAR(pst_clip_scale(5.0f, 1.0f) * g[1], 0.8, 1e-6);
    CHECK(pst_clip_scale(1.0f, 2.0f) == 1.0f);  /* below max_norm: left alone */
    CHECK(pst_clip_scale(50.0f, 0.0f) == 1.0f); /* max_norm 0: no clipping */
    CHECK(pst_clip_scale(NAN, 1.0f) == 1.0f);   /* as torch: NaN < 1 is false */
}

/* AdamW on an odd length (vector body + scalar tail) against the formula in double:
 * θ ← θ(1 − lr·wd·mask) − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps). */
static void test_adamw_formula(void) {
    enum { n = 37 };
    float p[n], g[n];
    double pd[n], md[n] = {0}, vd[n] = {0};
    unsigned char mask[n];
    pst_rng rng;
    pst_rng_seed(&rng, 11);
    for (int i = 0; i < n; i++) {
        p[i] = (float)pst_rng_normal(&rng);
        pd[i] = p[i];
        mask[i] = i % 3 != 0;
    }
    pst_adamw opt;
    pst_error err;
    CHECK(pst_adamw_create(&opt, n, 0.8f, 0.9f, 1e-3f, 0.5f, &err) == 0);
    float lr = 0.05f;
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < n; i++) g[i] = (float)pst_rng_normal(&rng);
        pst_adamw_update(&opt, p, g, 1.0f, mask, n, lr);
        for (int i = 0; i < n; i++) {
            if (mask[i]) pd[i] *= 1 - (double)lr * 0.5f;
            md[i] = 0.8f * md[i] + (1 - 0.8f) * (double)g[i];
            vd[i] = 0.9f * vd[i] + (1 - 0.9f) * (double)g[i] * g[i];
            double denom = sqrt(vd[i]) / sqrt(1 - pow(0.9f, t)) + 1e-3f;
            pd[i] -= lr / (1 - pow(0.8f, t)) * md[i] / denom;
        }
    }
    double e = 0;
    for (int i = 0; i < n; i++) e = fmax(e, fabs(p[i] - pd[i]));
    CHECK_MSG(e <= 1e-6, "AdamW vs formula: max |diff| %.3g", e);
    pst_adamw_free(&opt);

    /* grad_scale (the clipping factor inside the update) gives the floats of an update
     * on grads scaled first, bit for bit, in the vector body and the scalar tail */
    pst_adamw o1, o2;
    CHECK(pst_adamw_create(&o1, n, 0.8f, 0.9f, 1e-3f, 0.5f, &err) == 0);
    CHECK(pst_adamw_create(&o2, n, 0.8f, 0.9f, 1e-3f, 0.5f, &err) == 0);
    float p1[n], p2[n], gs[n], scale = 0.3719f;
    memcpy(p1, p, sizeof p), memcpy(p2, p, sizeof p);
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < n; i++) g[i] = (float)pst_rng_normal(&rng), gs[i] = g[i] * scale;
        pst_adamw_update(&o1, p1, g, scale, mask, n, lr);
        pst_adamw_update(&o2, p2, gs, 1.0f, mask, n, lr);
    }
    CHECK(memcmp(p1, p2, sizeof p1) == 0 && memcmp(o1.m, o2.m, sizeof p1) == 0 && memcmp(o1.v, o2.v, sizeof p1) == 0);
    pst_adamw_free(&o1), pst_adamw_free(&o2);
}

/* The vectorisable exp and tanh against libm in double. */
static void test_fast_math(void) {
    double worst_exp = 0, worst_tanh = 0;
    for (float x = -87.0f; x < 88.0f; x += 0.0173f)
        worst_exp = fmax(worst_exp, fabs(pst_exp_fast(x) - exp((double)x)) / exp((double)x));
    for (float u = -30.0f; u < 30.0f; u += 0.0011f)
        worst_tanh = fmax(worst_tanh, fabs(pst_tanh_fast(u) - tanh((double)u)));
    CHECK_MSG(worst_exp <= 2.5e-7, "exp: max relative error %.3g", worst_exp);
    CHECK_MSG(worst_tanh <= 3e-7, "tanh: max absolute error %.3g", worst_tanh);
    CHECK(pst_exp_fast(-1000.0f) >= 0 && pst_exp_fast(-1000.0f) < 1e-37f);
    CHECK(pst_exp_fast(0.0f) == 1.0f);
    CHECK(isnan(pst_exp_fast(NAN)));
}

static void test_bad_inputs(void) {
    pst_error err;
    pst_gpt2 m;
    pst_gpt2_config bad = {2, 3, 8, 8, 11, 1e-5f};
    CHECK(pst_gpt2_create(&m, &bad, &err) == -1);
    CHECK(strstr(err.msg, "divisible") != NULL);
    pst_gpt2_config zero = {0, 1, 8, 8, 11, 1e-5f};
    CHECK(pst_gpt2_config_check(&zero, &err) == -1);
    pst_gpt2_config cfg = {1, 2, 8, 4, 11, 1e-5f};
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    int tok[5] = {1, 2, 3, 4, 5}, tgt[5] = {1, 2, 3, 4, 5};
    CHECK(pst_gpt2_forward(&m, tok, tgt, 1, 5, NULL, &err) == -1); /* T > n_positions */
    CHECK(strstr(err.msg, "n_positions") != NULL);
    tok[1] = 11;
    CHECK(pst_gpt2_forward(&m, tok, tgt, 1, 4, NULL, &err) == -1);
    CHECK(strstr(err.msg, "token id 11") != NULL);
    tok[1] = 2;
    tgt[0] = -5;
    CHECK(pst_gpt2_forward(&m, tok, tgt, 1, 4, NULL, &err) == -1);
    tgt[0] = 1;
    float w[4] = {0, 0, 0, 0}, dl[4];
    double loss;
    CHECK(pst_gpt2_cross_entropy(&m, tok, tgt, w, 1, 4, dl, &loss, &err) == -1);
    w[2] = -1;
    CHECK(pst_gpt2_cross_entropy(&m, tok, tgt, w, 1, 4, dl, &loss, &err) == -1);
    CHECK(pst_gpt2_backward(&m, dl, &err) == -1); /* no forward with targets yet */
    /* zeroed model: uniform predictions, loss = log V */
    CHECK(pst_gpt2_cross_entropy(&m, tok, tgt, NULL, 1, 4, dl, &loss, &err) == 0);
    CHECK_NEAR(loss, log(11.0), 1e-6);
    CHECK_NEAR(dl[0], -0.25, 1e-7);
    /* a target of -1 means no target: log-prob 0, no gradient */
    tgt[3] = -1;
    w[0] = w[1] = w[2] = 1, w[3] = 0;
    CHECK(pst_gpt2_cross_entropy(&m, tok, tgt, w, 1, 4, dl, &loss, &err) == 0);
    CHECK(m.logprobs[3] == 0.0f);
    w[3] = 1;
    CHECK(pst_gpt2_cross_entropy(&m, tok, tgt, w, 1, 4, dl, &loss, &err) == -1);
    pst_gpt2_free(&m);
    pst_adamw opt;
    CHECK(pst_adamw_create(&opt, 4, 1.0f, 0.9f, 1e-8f, 0, &err) == -1);
}

/* Growing and shrinking B, T reuses / reallocates activations with the same results. */
static void test_shapes(void) {
    pst_gpt2_config cfg = {2, 2, 16, 12, 23, 1e-5f};
    pst_gpt2 m;
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 3);
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    int tok[3 * 12], tgt[3 * 12];
    for (int i = 0; i < 36; i++) tok[i] = (int)pst_rng_below(&rng, 23), tgt[i] = (int)pst_rng_below(&rng, 23);
    float lp_small[5];
    CHECK(pst_gpt2_forward(&m, tok, tgt, 1, 5, NULL, &err) == 0);
    memcpy(lp_small, m.logprobs, sizeof lp_small);
    CHECK(pst_gpt2_forward(&m, tok, tgt, 3, 12, NULL, &err) == 0);
    /* causality: the first 5 positions of row 0 do not see the later tokens */
    for (int t = 0; t < 5; t++) CHECK_NEAR(m.logprobs[t], lp_small[t], 1e-5);
    CHECK(pst_gpt2_forward(&m, tok, tgt, 1, 5, NULL, &err) == 0);
    for (int t = 0; t < 5; t++) CHECK(m.logprobs[t] == lp_small[t]);

    /* backward after a shape change (B up, T down) equals a fresh model's, and two
     * identical runs give identical bits (determinism) */
    pst_gpt2 fresh;
    CHECK(pst_gpt2_create(&fresh, &cfg, &err) == 0);
    memcpy(fresh.param_memory, m.param_memory, m.num_params * sizeof(float));
    float dl[4 * 7];
    for (int i = 0; i < 28; i++) dl[i] = (float)pst_rng_normal(&rng);
    float *g_first = malloc(m.num_params * sizeof(float));
    for (int rep = 0; rep < 2; rep++) {
        CHECK(pst_gpt2_forward(&m, tok, tgt, 4, 7, NULL, &err) == 0);
        pst_gpt2_zero_grad(&m);
        CHECK(pst_gpt2_backward(&m, dl, &err) == 0);
        if (rep == 0) memcpy(g_first, m.grad_memory, m.num_params * sizeof(float));
    }
    CHECK(memcmp(g_first, m.grad_memory, m.num_params * sizeof(float)) == 0);
    CHECK(pst_gpt2_forward(&fresh, tok, tgt, 4, 7, NULL, &err) == 0);
    CHECK(pst_gpt2_backward(&fresh, dl, &err) == 0);
    double e = rel_err(m.grad_memory, fresh.grad_memory, m.num_params);
    CHECK_MSG(e <= 1e-6, "gradient after reshaping vs fresh model: relative error %.3g", e);
    free(g_first);
    pst_gpt2_free(&fresh);
    pst_gpt2_free(&m);
}

/* The profile (op_seconds): zero after create; after a forward and a backward every
 * operation has run, and the parts add up to no more than the calls' wall time (nothing
 * counted twice). */
static void test_op_profile(void) {
    pst_gpt2_config cfg = {2, 2, 32, 64, 97, 1e-5f};
    pst_gpt2 m;
    pst_error err;
    pst_rng rng;
    pst_rng_seed(&rng, 5);
    CHECK(pst_gpt2_create(&m, &cfg, &err) == 0);
    pst_gpt2_init_random(&m, &rng);
    for (int op = 0; op < PST_GPT2_OPS; op++) CHECK(m.op_seconds[op] == 0);
    enum { B = 2, T = 48 };
    int tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (int)pst_rng_below(&rng, 97), tgt[i] = (int)pst_rng_below(&rng, 97);
    float dl[B * T];
    double loss, t0 = pst_now();
    CHECK(pst_gpt2_cross_entropy(&m, tok, tgt, NULL, B, T, dl, &loss, &err) == 0);
    CHECK(pst_gpt2_backward(&m, dl, &err) == 0);
    double wall = pst_now() - t0, sum = 0;
    for (int op = 0; op < PST_GPT2_OPS; op++) {
        CHECK_MSG(m.op_seconds[op] > 0, "%s: %g s", pst_gpt2_op_name(op), m.op_seconds[op]);
        sum += m.op_seconds[op];
    }
    CHECK_MSG(sum <= wall, "the operations' seconds %g exceed the wall time %g", sum, wall);
    CHECK(strcmp(pst_gpt2_op_name(PST_GPT2_OP_MATMUL), "matmul") == 0);
    CHECK(strcmp(pst_gpt2_op_name(PST_GPT2_OPS), "?") == 0);
    pst_gpt2_free(&m);
}

/* ---- eval mode for tests/prior/test_gpt2_torch.py ------------------------
 * test_gpt2 --eval IN OUT: IN is a safetensors file (config in __metadata__; params,
 * tokens, targets, weights, dlogprobs_custom); OUT receives logits, logprobs, loss,
 * grads (weighted CE) and grads_custom (from dlogprobs_custom) as safetensors. */

static int write_outputs(const char *path, const char *names[], const void *data[],
                         const size_t counts[], const char *dtypes[], int n) {
    char header[4096];
    size_t off = 0, hl = 0;
    hl += snprintf(header + hl, sizeof header - hl, "{");
    for (int i = 0; i < n; i++) {
        size_t bytes = counts[i] * (strcmp(dtypes[i], "F64") ? 4 : 8);
        hl += snprintf(header + hl, sizeof header - hl,
                       "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}",
                       i ? "," : "", names[i], dtypes[i], counts[i], off, off + bytes);
        off += bytes;
    }
    hl += snprintf(header + hl, sizeof header - hl, "}");
    while (hl % 8) header[hl++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t len = hl;
    fwrite(&len, 8, 1, f);
    fwrite(header, 1, hl, f);
    for (int i = 0; i < n; i++)
        fwrite(data[i], strcmp(dtypes[i], "F64") ? 4 : 8, counts[i], f);
    return fclose(f);
}

static int eval_mode(const char *in, const char *out) {
    fixture f;
    pst_error err;
    if (fixture_open(&f, in)) return 2;
    pst_gpt2_config cfg = {(int)fixture_meta(&f, "n_layer"), (int)fixture_meta(&f, "n_head"),
                           (int)fixture_meta(&f, "n_embd"), (int)fixture_meta(&f, "n_positions"),
                           (int)fixture_meta(&f, "vocab_size"),
                           (float)fixture_meta(&f, "layer_norm_epsilon")};
    int B = (int)fixture_meta(&f, "B"), T = (int)fixture_meta(&f, "T");
    size_t BT = (size_t)B * T;
    pst_gpt2 m;
    if (pst_gpt2_create(&m, &cfg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    size_t N = m.num_params;
    memcpy(m.param_memory, fixture_get(&f, "params", "F32", N), N * sizeof(float));
    const int *tokens = fixture_get(&f, "tokens", "I32", BT);
    const int *targets = fixture_get(&f, "targets", "I32", BT);
    float *logits = malloc(BT * cfg.vocab_size * sizeof(float)), *lp = malloc(BT * sizeof(float));
    float *dl = malloc(BT * sizeof(float)), *grads = malloc(N * sizeof(float));
    double loss;
    if (pst_gpt2_forward(&m, tokens, targets, B, T, logits, &err) ||
        (memcpy(lp, m.logprobs, BT * sizeof(float)), 0) ||
        pst_gpt2_cross_entropy(&m, tokens, targets, fixture_get(&f, "weights", "F32", BT), B, T,
                               dl, &loss, &err) ||
        (pst_gpt2_zero_grad(&m), pst_gpt2_backward(&m, dl, &err)) ||
        (memcpy(grads, m.grad_memory, N * sizeof(float)),
         pst_gpt2_forward(&m, tokens, targets, B, T, NULL, &err)) ||
        (pst_gpt2_zero_grad(&m),
         pst_gpt2_backward(&m, fixture_get(&f, "dlogprobs_custom", "F32", BT), &err))) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    const char *names[] = {"logits", "logprobs", "loss", "grads", "grads_custom"};
    const void *data[] = {logits, lp, &loss, grads, m.grad_memory};
    size_t counts[] = {BT * cfg.vocab_size, BT, 1, N, N};
    const char *dtypes[] = {"F32", "F32", "F64", "F32", "F32"};
    int rc = write_outputs(out, names, data, counts, dtypes, 5) ? 2 : 0;
    free(logits), free(lp), free(dl), free(grads);
    pst_gpt2_free(&m);
    fixture_close(&f);
    return rc;
}

/* test_gpt2 --train IN OUT: `steps` training steps on the batch of IN (weighted CE,
 * clipping at max_norm, lr = pst_lr_schedule(step, warmup, steps, lr, lr_min), AdamW
 * with the GPT-2 decay mask); OUT receives losses [steps] (F64), grad_norms [steps]
 * and the final params. */
static int train_mode(const char *in, const char *out) {
    fixture f;
    pst_error err;
    if (fixture_open(&f, in)) return 2;
    pst_gpt2_config cfg = {(int)fixture_meta(&f, "n_layer"), (int)fixture_meta(&f, "n_head"),
                           (int)fixture_meta(&f, "n_embd"), (int)fixture_meta(&f, "n_positions"),
                           (int)fixture_meta(&f, "vocab_size"),
                           (float)fixture_meta(&f, "layer_norm_epsilon")};
    int B = (int)fixture_meta(&f, "B"), T = (int)fixture_meta(&f, "T");
    int steps = (int)fixture_meta(&f, "steps"), warmup = (int)fixture_meta(&f, "warmup");
    size_t BT = (size_t)B * T;
    pst_gpt2 m;
    pst_adamw opt;
    if (pst_gpt2_create(&m, &cfg, &err) ||
        pst_adamw_create(&opt, m.num_params, (float)fixture_meta(&f, "beta1"),
                         (float)fixture_meta(&f, "beta2"), (float)fixture_meta(&f, "eps"),
                         (float)fixture_meta(&f, "weight_decay"), &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    size_t N = m.num_params;
    memcpy(m.param_memory, fixture_get(&f, "params", "F32", N), N * sizeof(float));
    const int *tokens = fixture_get(&f, "tokens", "I32", BT);
    const int *targets = fixture_get(&f, "targets", "I32", BT);
    const float *weights = fixture_get(&f, "weights", "F32", BT);
    unsigned char *mask = pst_gpt2_decay_mask(&m, &err);
    float *dl = malloc(BT * sizeof(float));
    double *losses = malloc(steps * sizeof(double)), *norms = malloc(steps * sizeof(double));
    for (int s = 0; s < steps; s++) {
        pst_gpt2_zero_grad(&m);
        if (pst_gpt2_cross_entropy(&m, tokens, targets, weights, B, T, dl, &losses[s], &err) ||
            pst_gpt2_backward(&m, dl, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 2;
        }
        norms[s] = pst_grad_norm(m.grad_memory, N);
        float lr = pst_lr_schedule(s, warmup, steps, (float)fixture_meta(&f, "lr"),
                                   (float)fixture_meta(&f, "lr_min"));
        pst_adamw_update(&opt, m.param_memory, m.grad_memory, pst_clip_scale(norms[s], (float)fixture_meta(&f, "max_norm")),
                         mask, N, lr);
    }
    const char *names[] = {"losses", "grad_norms", "params"};
    const void *data[] = {losses, norms, m.param_memory};
    size_t counts[] = {(size_t)steps, (size_t)steps, N};
    const char *dtypes[] = {"F64", "F64", "F32"};
    int rc = write_outputs(out, names, data, counts, dtypes, 3) ? 2 : 0;
    free(mask), free(dl), free(losses), free(norms);
    pst_adamw_free(&opt);
    pst_gpt2_free(&m);
    fixture_close(&f);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--eval") == 0) return eval_mode(argv[2], argv[3]);
    if (argc == 4 && strcmp(argv[1], "--train") == 0) return train_mode(argv[2], argv[3]);
    test_against_pytorch();
    test_finite_differences();
    test_schedule_and_clip();
    test_adamw_formula();
    test_fast_math();
    test_bad_inputs();
    test_shapes();
    test_op_profile();
    return check_report();
}
