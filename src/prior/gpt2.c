/* GPT-2 forward and backward on the CPU, fp32.
 *
 * Each layer's forward and its backward sit side by side. Matrix products go
 * through pst_sgemm over all B·T rows at once; everything else is OpenMP with
 * static schedules and no float atomics, so a run is deterministic for a given
 * thread count (the reductions over rows below are even independent of it).
 *
 * Shapes: B batch, T time, C channels, NH heads, hs = C/NH, L layers, V vocab,
 * BT = B·T rows. Linear weights are [in, out] (Hugging Face Conv1D): y = x·W + b.
 */
#include "prior/exp_kernels.h"
#include "prior/gpt2_internal.h"
#include "posterior/prior.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* stmt, its wall time added to m->op_seconds[op] (the profile in posterior/prior.h) */
#define TIMED(op, stmt)                                                                                            \
    do {                                                                                                           \
        double t0_ = pst_now();                                                                                    \
        stmt;                                                                                                      \
        m->op_seconds[op] += pst_now() - t0_;                                                                      \
    } while (0)

const char *pst_gpt2_op_name(int op) {
    static const char *const names[PST_GPT2_OPS] = {"matmul", "output", "attention", "layernorm", "gelu", "other"};
    return op >= 0 && op < PST_GPT2_OPS ? names[op] : "?";
}

/* ---- activations ------------------------------------------------------ */

/* Everything backward needs, sized for B·T <= cap_bt rows and B·T·T <= cap_btt
 * attention entries per head and layer. */
struct pst_gpt2_acts {
    size_t cap_bt, cap_btt;
    float *encoded;   /* [BT, C]       wte[token] + wpe[t] */
    float *ln1;       /* [L, BT, C]    ln_1 output */
    float *ln1_mean;  /* [L, BT] */
    float *ln1_rstd;  /* [L, BT] */
    float *qkv;       /* [L, BT, 3C] */
    float *att;       /* [L, B, NH, T, T] softmax probabilities, 0 above the diagonal */
    float *atty;      /* [L, BT, C]    attention output before c_proj */
    float *res2;      /* [L, BT, C]    residual after attention */
    float *ln2;       /* [L, BT, C] */
    float *ln2_mean;  /* [L, BT] */
    float *ln2_rstd;  /* [L, BT] */
    float *fch;       /* [L, BT, 4C]   c_fc output (pre-GELU) */
    float *fch_gelu;  /* [L, BT, 4C] */
    float *res3;      /* [L, BT, C]    residual after the MLP (block output) */
    float *lnf;       /* [BT, C] */
    float *lnf_mean;  /* [BT] */
    float *lnf_rstd;  /* [BT] */
    float *logits;    /* [BT, V]       overwritten by dlogits in backward */
    float *lse_max;   /* [BT]          max_j logits[r, j] */
    float *lse_inv;   /* [BT]          1/Σ_j exp(logits[r, j] − max): softmax = exp(l − max)·inv */
    int *targets;     /* [BT]          copy of the targets of the last forward (-1: none) */
    int *tokens;      /* [BT] */
    int logits_valid; /* 1 after a forward with targets, 0 once backward consumed logits */
    int hidden_valid; /* 1 after any forward, 0 once backward consumed the activations */
    /* backward scratch, allocated on the first backward */
    float *dres;      /* [BT, C] */
    float *dbuf;      /* [BT, C] */
    float *datty;     /* [BT, C] */
    float *dqkv;      /* [BT, 3C] */
    float *dfch;      /* [BT, 4C] */
    float *datt;      /* [B, NH, T, T] */
};

static void acts_free(pst_gpt2_acts *a) {
    if (!a) return;
    float **f[] = {&a->encoded, &a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->att,
                   &a->atty, &a->res2, &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch,
                   &a->fch_gelu, &a->res3, &a->lnf, &a->lnf_mean, &a->lnf_rstd, &a->logits,
                   &a->lse_max, &a->lse_inv,
                   &a->dres, &a->dbuf, &a->datty, &a->dqkv, &a->dfch, &a->datt};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(*f[i]);
    free(a->targets);
    free(a->tokens);
    free(a);
}

/* n floats from alloc (pst_aligned_alloc, or pst_large_alloc for the parameters) */
static float *alloc_floats_from(void *(*alloc)(size_t, pst_error *), size_t n, pst_error *err) {
    if (n > SIZE_MAX / sizeof(float)) {
        pst_fail(err, "buffer of %zu floats overflows", n);
        return NULL;
    }
    return alloc(n * sizeof(float), err);
}

static float *alloc_floats(size_t n, pst_error *err) { return alloc_floats_from(pst_aligned_alloc, n, err); }

/* The parameters and their gradients: in 2 MB pages where the kernel allows
 * (pst_large_alloc). Decoding streams every weight once a token; with 4 KB pages each of
 * a thread's row streams misses the TLB every 4 KB (GPT-2 small's 48 body products and
 * output layer, 2 threads, alternating copies: median 19.8-20.3 -> 20.2-20.6 GB/s). */
static float *alloc_param_floats(size_t n, pst_error *err) { return alloc_floats_from(pst_large_alloc, n, err); }

static pst_gpt2_acts *acts_create(const pst_gpt2_config *c, size_t BT, size_t BTT,
                                  pst_error *err) {
    pst_gpt2_acts *a = pst_calloc(1, sizeof *a, err);
    if (!a) return NULL;
    a->cap_bt = BT;
    a->cap_btt = BTT;
    size_t C = c->n_embd, L = c->n_layer, NH = c->n_head, V = c->vocab_size;
    struct { float **p; size_t n; } f[] = {
        {&a->encoded, BT * C},     {&a->ln1, L * BT * C},      {&a->ln1_mean, L * BT},
        {&a->ln1_rstd, L * BT},    {&a->qkv, L * BT * 3 * C},  {&a->att, L * NH * BTT},
        {&a->atty, L * BT * C},    {&a->res2, L * BT * C},     {&a->ln2, L * BT * C},
        {&a->ln2_mean, L * BT},    {&a->ln2_rstd, L * BT},     {&a->fch, L * BT * 4 * C},
        {&a->fch_gelu, L * BT * 4 * C}, {&a->res3, L * BT * C}, {&a->lnf, BT * C},
        {&a->lnf_mean, BT},        {&a->lnf_rstd, BT},         {&a->logits, BT * V},
        {&a->lse_max, BT},         {&a->lse_inv, BT},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        *f[i].p = alloc_floats(f[i].n, err);
        if (!*f[i].p) {
            acts_free(a);
            return pst_fail_context(err, "GPT-2 activations for %zu positions", BT), NULL;
        }
    }
    a->targets = pst_calloc(BT, sizeof(int), err);
    a->tokens = pst_calloc(BT, sizeof(int), err);
    if (!a->targets || !a->tokens) {
        acts_free(a);
        return NULL;
    }
    return a;
}

static int acts_alloc_backward(pst_gpt2_acts *a, const pst_gpt2_config *c, pst_error *err) {
    if (a->dres) return 0;
    size_t BT = a->cap_bt, C = c->n_embd;
    struct { float **p; size_t n; } f[] = {
        {&a->dres, BT * C}, {&a->dbuf, BT * C}, {&a->datty, BT * C},
        {&a->dqkv, BT * 3 * C}, {&a->dfch, BT * 4 * C},
        {&a->datt, (size_t)c->n_head * a->cap_btt},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        *f[i].p = alloc_floats(f[i].n, err);
        if (!*f[i].p) return pst_fail_context(err, "GPT-2 backward buffers");
    }
    return 0;
}

/* ---- config, parameters ---------------------------------------------- */

int pst_gpt2_config_check(const pst_gpt2_config *c, pst_error *err) {
    if (c->n_layer < 1) return pst_fail(err, "n_layer must be >= 1, got %d", c->n_layer);
    if (c->n_head < 1) return pst_fail(err, "n_head must be >= 1, got %d", c->n_head);
    if (c->n_embd < 1) return pst_fail(err, "n_embd must be >= 1, got %d", c->n_embd);
    if (c->n_positions < 1)
        return pst_fail(err, "n_positions must be >= 1, got %d", c->n_positions);
    if (c->vocab_size < 1) return pst_fail(err, "vocab_size must be >= 1, got %d", c->vocab_size);
    if (c->n_embd % c->n_head != 0)
        return pst_fail(err, "n_embd (%d) must be divisible by n_head (%d)", c->n_embd,
                        c->n_head);
    if (!(c->layer_norm_epsilon > 0) || !isfinite(c->layer_norm_epsilon))
        return pst_fail(err, "layer_norm_epsilon must be a positive number, got %g",
                        (double)c->layer_norm_epsilon);
    const char *name[4] = {"n_layer", "n_embd", "n_positions", "vocab_size"};
    const int got[4] = {c->n_layer, c->n_embd, c->n_positions, c->vocab_size},
              max[4] = {PST_GPT2_MAX_N_LAYER, PST_GPT2_MAX_N_EMBD, PST_GPT2_MAX_N_POSITIONS, PST_GPT2_MAX_VOCAB};
    for (int i = 0; i < 4; i++)
        if (got[i] > max[i])
            return pst_fail(err, "%s %d is more than the largest supported, %d", name[i], got[i], max[i]);
    return 0;
}

int pst_gpt2_config_diff(const pst_gpt2_config *a, const pst_gpt2_config *b, char *buf, size_t cap) {
    const char *names[5] = {"n_layer", "n_head", "n_embd", "n_positions", "vocab_size"};
    int va[5] = {a->n_layer, a->n_head, a->n_embd, a->n_positions, a->vocab_size};
    int vb[5] = {b->n_layer, b->n_head, b->n_embd, b->n_positions, b->vocab_size};
    for (int i = 0; i < 5; i++)
        if (va[i] != vb[i]) return snprintf(buf, cap, "%s %d, not %d", names[i], va[i], vb[i]), 1;
    if (a->layer_norm_epsilon != b->layer_norm_epsilon)
        return snprintf(buf, cap, "layer_norm_epsilon %g, not %g", a->layer_norm_epsilon, b->layer_norm_epsilon), 1;
    return 0;
}

void pst_gpt2_param_sizes(const pst_gpt2_config *c, size_t s[PST_GPT2_NUM_TENSORS]) {
    size_t C = c->n_embd, L = c->n_layer;
    s[0] = (size_t)c->vocab_size * C; /* wte */
    s[1] = (size_t)c->n_positions * C; /* wpe */
    s[2] = L * C;                      /* ln1w */
    s[3] = L * C;                      /* ln1b */
    s[4] = L * C * 3 * C;              /* qkvw */
    s[5] = L * 3 * C;                  /* qkvb */
    s[6] = L * C * C;                  /* attprojw */
    s[7] = L * C;                      /* attprojb */
    s[8] = L * C;                      /* ln2w */
    s[9] = L * C;                      /* ln2b */
    s[10] = L * C * 4 * C;             /* fcw */
    s[11] = L * 4 * C;                 /* fcb */
    s[12] = L * 4 * C * C;             /* fcprojw */
    s[13] = L * C;                     /* fcprojb */
    s[14] = C;                         /* lnfw */
    s[15] = C;                         /* lnfb */
}

/* Points the 16 views of p into one buffer laid out in the order above. */
static void point_params(const pst_gpt2_config *c, pst_gpt2_params *p, float *mem) {
    size_t s[PST_GPT2_NUM_TENSORS];
    pst_gpt2_param_sizes(c, s);
    float **v[PST_GPT2_NUM_TENSORS] = {&p->wte, &p->wpe, &p->ln1w, &p->ln1b, &p->qkvw,
                                       &p->qkvb, &p->attprojw, &p->attprojb, &p->ln2w,
                                       &p->ln2b, &p->fcw, &p->fcb, &p->fcprojw, &p->fcprojb,
                                       &p->lnfw, &p->lnfb};
    for (int i = 0; i < PST_GPT2_NUM_TENSORS; i++) {
        *v[i] = mem;
        mem += s[i];
    }
}

int pst_gpt2_create(pst_gpt2 *m, const pst_gpt2_config *cfg, pst_error *err) {
    memset(m, 0, sizeof *m);
    if (pst_gpt2_config_check(cfg, err)) return -1;
    m->config = *cfg;
    size_t s[PST_GPT2_NUM_TENSORS];
    pst_gpt2_param_sizes(cfg, s);
    for (int i = 0; i < PST_GPT2_NUM_TENSORS; i++) m->num_params += s[i];
    m->param_memory = alloc_param_floats(m->num_params, err);
    if (!m->param_memory) return pst_fail_context(err, "GPT-2 parameters");
    memset(m->param_memory, 0, m->num_params * sizeof(float));
    point_params(cfg, &m->params, m->param_memory);
    return 0;
}

void pst_gpt2_free(pst_gpt2 *m) {
    if (!m) return;
    free(m->param_memory);
    free(m->grad_memory);
    free(m->logprobs);
    acts_free(m->acts);
    memset(m, 0, sizeof *m);
}

void pst_gpt2_init_random(pst_gpt2 *m, pst_rng *rng) {
    const pst_gpt2_config *c = &m->config;
    size_t s[PST_GPT2_NUM_TENSORS];
    pst_gpt2_param_sizes(c, s);
    pst_gpt2_params *p = &m->params;
    float std_resid = 0.02f / sqrtf(2.0f * c->n_layer);
    struct { float *w; size_t n; float std; } normal[] = {
        {p->wte, s[0], 0.02f},  {p->wpe, s[1], 0.02f},        {p->qkvw, s[4], 0.02f},
        {p->attprojw, s[6], std_resid}, {p->fcw, s[10], 0.02f}, {p->fcprojw, s[12], std_resid},
    };
    memset(m->param_memory, 0, m->num_params * sizeof(float));
    for (size_t i = 0; i < sizeof normal / sizeof normal[0]; i++)
        for (size_t j = 0; j < normal[i].n; j++)
            normal[i].w[j] = normal[i].std * (float)pst_rng_normal(rng);
    for (size_t j = 0; j < s[2]; j++) p->ln1w[j] = 1.0f;
    for (size_t j = 0; j < s[8]; j++) p->ln2w[j] = 1.0f;
    for (size_t j = 0; j < s[14]; j++) p->lnfw[j] = 1.0f;
}

void pst_gpt2_zero_grad(pst_gpt2 *m) {
    if (m->grad_memory) memset(m->grad_memory, 0, m->num_params * sizeof(float));
}

/* ---- encoder: x[b,t] = wte[token] + wpe[t] ---------------------------- */

static void encoder_forward(float *out, const int *tokens, const float *wte, const float *wpe,
                            int B, int T, int C) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B * T; r++) {
        const float *we = wte + (size_t)tokens[r] * C, *pe = wpe + (size_t)(r % T) * C;
        float *o = out + (size_t)r * C;
        for (int i = 0; i < C; i++) o[i] = we[i] + pe[i];
    }
}

/* dwte[token] += dout, dwpe[t] += dout; parallel over blocks of 16 channels so that
 * rows with the same token are summed by one thread in row order (deterministic). */
static void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *tokens,
                             int B, int T, int C) {
    int nblk = (C + 15) / 16;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int i0 = blk * 16, i1 = i0 + 16 < C ? i0 + 16 : C;
        for (int r = 0; r < B * T; r++) {
            const float *d = dout + (size_t)r * C;
            float *we = dwte + (size_t)tokens[r] * C, *pe = dwpe + (size_t)(r % T) * C;
            for (int i = i0; i < i1; i++) {
                we[i] += d[i];
                pe[i] += d[i];
            }
        }
    }
}

/* ---- LayerNorm: y = (x − mean)·rstd·w + b, rstd = 1/sqrt(var + eps) ----- */

void pst_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                           const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > PST_PARALLEL_MIN)
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++) s += x[i];
        float mu = s / C, v = 0;
#pragma omp simd reduction(+ : v)
        for (int i = 0; i < C; i++) v += (x[i] - mu) * (x[i] - mu);
        float rs = 1.0f / sqrtf(v / C + eps);
        float *o = out + (size_t)r * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - mu) * rs * w[i] + b[i];
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
    }
}

/* dx += rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w, x̂ = (x − mean)·rstd;
 * dw += Σ_rows dy·x̂; db += Σ_rows dy. */
static void layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                               const float *inp, const float *w, const float *mean,
                               const float *rstd, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *dy = dout + (size_t)r * C, *x = inp + (size_t)r * C;
        float mu = mean[r], rs = rstd[r], sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
        for (int i = 0; i < C; i++) {
            float g = dy[i] * w[i];
            sg += g;
            sgx += g * (x[i] - mu) * rs;
        }
        sg /= C;
        sgx /= C;
        float *dx = dinp + (size_t)r * C;
        for (int i = 0; i < C; i++)
            dx[i] += rs * (dy[i] * w[i] - sg - (x[i] - mu) * rs * sgx);
    }
    /* column sums, parallel over channel blocks of 16 */
    int nblk = (C + 15) / 16;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int i0 = blk * 16, i1 = i0 + 16 < C ? i0 + 16 : C;
        float aw[16] = {0}, ab[16] = {0};
        for (int r = 0; r < N; r++) {
            const float *dy = dout + (size_t)r * C, *x = inp + (size_t)r * C;
            float mu = mean[r], rs = rstd[r];
            for (int i = i0; i < i1; i++) {
                aw[i - i0] += dy[i] * (x[i] - mu) * rs;
                ab[i - i0] += dy[i];
            }
        }
        for (int i = i0; i < i1; i++) {
            dw[i] += aw[i - i0];
            db[i] += ab[i - i0];
        }
    }
}

/* ---- linear (Conv1D): out[N, OC] = inp[N, IC]·W[IC, OC] + b ------------ */

/* With accumulate, out += inp·W + b (used for the residual connections). */
void pst_linear_forward(float *out, const float *inp, const float *W, const float *b, int N, int IC,
                        int OC, int accumulate) {
    pst_sgemm(0, 0, N, OC, IC, 1.0f, inp, IC, W, OC, accumulate ? 1.0f : 0.0f, out, OC);
#pragma omp parallel for schedule(static) if ((long)N * OC > PST_PARALLEL_MIN)
    for (int r = 0; r < N; r++) {
        float *o = out + (size_t)r * OC;
        for (int j = 0; j < OC; j++) o[j] += b[j];
    }
}

/* dinp = dout·Wᵀ (overwritten when dinp_beta = 0, accumulated when 1);
 * dW += inpᵀ·dout; db += Σ_rows dout. */
static void linear_backward(float *dinp, float dinp_beta, float *dW, float *db,
                            const float *dout, const float *inp, const float *W, int N, int IC,
                            int OC) {
    pst_sgemm(0, 1, N, IC, OC, 1.0f, dout, OC, W, OC, dinp_beta, dinp, IC);
    pst_sgemm(1, 0, IC, OC, N, 1.0f, inp, IC, dout, OC, 1.0f, dW, OC);
    int nblk = (OC + 63) / 64;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int j0 = blk * 64, j1 = j0 + 64 < OC ? j0 + 64 : OC;
        float acc[64] = {0};
        for (int r = 0; r < N; r++) {
            const float *d = dout + (size_t)r * OC;
            for (int j = j0; j < j1; j++) acc[j - j0] += d[j];
        }
        for (int j = j0; j < j1; j++) db[j] += acc[j - j0];
    }
}

/* ---- causal self-attention -------------------------------------------
 * qkv [BT, 3C] holds q | k | v, head h at columns h·hs. Per (b, h):
 *   att = softmax(mask(q·kᵀ/√hs)) [T, T],  y = att·v [T, hs] into out[BT, C].
 * The mask makes att lower triangular, so the products go by blocks of ATT_BLOCK rows
 * (of att, or of its columns in attᵀ products) and skip the blocks above the diagonal:
 * ~60% of the arithmetic at T = 256. The sums skipped are of exact zeros, so each
 * result is the same as over the whole row; att and datt are stored whole (zeros above
 * the diagonal). */
#define ATT_BLOCK 64

/* y[i0:i1] = att[i0:i1, 0:i1]·v[0:i1] for each block of rows, after att's rows */
static void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C,
                              int NH) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *q = qkv + (size_t)b * T * C3 + h * hs, *k = q + C, *v = q + 2 * C;
        float *a = att + (size_t)bh * T * T, *y = out + (size_t)b * T * C + h * hs;
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
            int i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T;
            pst_sgemm(0, 1, i1 - i0, i1, hs, scale, q + (size_t)i0 * C3, C3, k, C3, 0.0f, a + (size_t)i0 * T, T);
            for (int i = i0; i < i1; i++) {
                float *row = a + (size_t)i * T, mx = pst_row_max(row, i + 1);
                float inv = 1.0f / pst_row_exp(row, row, i + 1, mx);
#pragma omp simd
                for (int j = 0; j <= i; j++) row[j] *= inv;
                for (int j = i + 1; j < T; j++) row[j] = 0.0f;
            }
            pst_sgemm(0, 0, i1 - i0, hs, i1, 1.0f, a + (size_t)i0 * T, T, v, C3, 0.0f, y + (size_t)i0 * C, C);
        }
    }
}

/* dv = attᵀ·dy; datt = dy·vᵀ; dpre = att ⊙ (datt − rowsum(att ⊙ datt));
 * dq = dpre·k/√hs; dk = dpreᵀ·q/√hs. dqkv is overwritten. By blocks as above: row
 * blocks i0:i1 of datt and dq use columns 0:i1, column blocks j0:j1 of dv and dk rows j0:T. */
static void attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                               const float *att, int B, int T, int C, int NH) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        size_t base = (size_t)b * T * C3 + h * hs;
        const float *q = qkv + base, *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C;
        const float *a = att + (size_t)bh * T * T, *dy = dout + (size_t)b * T * C + h * hs;
        float *da = datt + (size_t)bh * T * T;
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
            int i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T;
            pst_sgemm(0, 1, i1 - i0, i1, hs, 1.0f, dy + (size_t)i0 * C, C, v, C3, 0.0f, da + (size_t)i0 * T, T);
            for (int i = i0; i < i1; i++) {
                const float *ar = a + (size_t)i * T;
                float *dr = da + (size_t)i * T, s = 0;
#pragma omp simd reduction(+ : s)
                for (int j = 0; j <= i; j++) s += ar[j] * dr[j];
                for (int j = 0; j <= i; j++) dr[j] = ar[j] * (dr[j] - s);
                for (int j = i + 1; j < T; j++) dr[j] = 0.0f;
            }
            pst_sgemm(0, 0, i1 - i0, hs, i1, scale, da + (size_t)i0 * T, T, k, C3, 0.0f, dq + (size_t)i0 * C3, C3);
        }
        for (int j0 = 0; j0 < T; j0 += ATT_BLOCK) { /* dv, dk[j0:j1] = (att, datt)[j0:T, j0:j1]ᵀ·(dy, q)[j0:T] */
            int j1 = j0 + ATT_BLOCK < T ? j0 + ATT_BLOCK : T;
            pst_sgemm(1, 0, j1 - j0, hs, T - j0, 1.0f, a + (size_t)j0 * T + j0, T, dy + (size_t)j0 * C, C, 0.0f,
                      dv + (size_t)j0 * C3, C3);
            pst_sgemm(1, 0, j1 - j0, hs, T - j0, scale, da + (size_t)j0 * T + j0, T, q + (size_t)j0 * C3, C3, 0.0f,
                      dk + (size_t)j0 * C3, C3);
        }
    }
}

/* ---- GELU (tanh form): y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) -------- */

/* Spans of 4096 on the threads when large; below, on the calling thread, vectorised (as
 * `parallel for simd ... if (false)` was not: gcc ran its scalar loop there, 5 ns an
 * element, 16x slower, which cost a decoding step of the tiny model more than its products). */
void pst_gelu_forward(float *out, const float *inp, size_t n) {
    if (n <= PST_PARALLEL_MIN) {
        pst_gelu_span(out, inp, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n; c += 4096) pst_gelu_span(out + c, inp + c, n - c < 4096 ? n - c : 4096);
}

/* dinp = dout·y'(x), in place on dout: spans of 4096 on the threads */
static void gelu_backward(float *dinout, const float *inp, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < n; c += 4096) pst_gelu_backward_span(dinout + c, inp + c, n - c < 4096 ? n - c : 4096);
}

/* ---- output: logits = lnf·wteᵀ, softmax in place ---------------------- */

/* logprobs[r] = logits[r][y] − logsumexp(logits[r]), keeping max and 1/Σexp per row for
 * the backward; logits are left as they are. */
static void softmax_logprob_forward(const float *logits, float *logprobs, float *lse_max,
                                    float *lse_inv, const int *targets, int N, int V) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *row = logits + (size_t)r * V;
        float mx = pst_row_max(row, V), s = pst_row_sum_exp(row, V, mx);
        lse_max[r] = mx;
        lse_inv[r] = 1.0f / s;
        logprobs[r] = targets[r] >= 0 ? (row[targets[r]] - mx) - logf(s) : 0.0f;
    }
}

/* dlogits_j = dlogprob·(1[j = y] − softmax_j), softmax_j = exp(l_j − max)·inv, in place. */
static void softmax_logprob_backward(float *logits, const float *dlogprobs, const float *lse_max,
                                     const float *lse_inv, const int *targets, int N, int V) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        float *row = logits + (size_t)r * V, d = targets[r] >= 0 ? dlogprobs[r] : 0.0f;
        float mx = lse_max[r], scale = -d * lse_inv[r];
        if (d == 0.0f) {
            memset(row, 0, (size_t)V * sizeof(float));
            continue;
        }
        pst_row_scale_exp(row, V, mx, scale);
        row[targets[r]] += d;
    }
}

/* ---- the model --------------------------------------------------------- */

/* log-probs with base's output-layer kernel with the log-softmax (base/gemm.h), where one
 * runs (AVX-512, or AVX2 + FMA without it; POSTERIOR_GEMM not asking for OpenBLAS): the
 * row maxima and sums of exps come from the tiles in registers, with no pass over the
 * logits, which are stored only when logits is not NULL (a backward follows). 0 when it
 * ran; -1: do it the two-pass way. */
static int log_softmax_fused(pst_gpt2_acts *a, const float *wte, float *logits, float *logprobs, int N, int C, int V) {
    if (pst_fused_head_lse(N, V, C, a->lnf, wte, a->targets, logits, V, NULL, NULL, a->lse_max, a->lse_inv,
                           logprobs) < 0)
        return -1;
    for (int r = 0; r < N; r++) { /* logprobs holds the targets' logits, lse_inv the sums */
        logprobs[r] = a->targets[r] >= 0 ? (logprobs[r] - a->lse_max[r]) - logf(a->lse_inv[r]) : 0.0f;
        a->lse_inv[r] = 1.0f / a->lse_inv[r];
    }
    return 0;
}

/* The forward pass; keep_logits 0: log-probs only, no backward may follow. */
static int forward(pst_gpt2 *m, const int *tokens, const int *targets, int B, int T, float *logits_out,
                   int keep_logits, pst_error *err) {
    const pst_gpt2_config *c = &m->config;
    int L = c->n_layer, C = c->n_embd, NH = c->n_head, V = c->vocab_size;
    if (B < 1 || T < 1) return pst_fail(err, "GPT-2 forward: B and T must be >= 1 (B=%d T=%d)", B, T);
    if (T > c->n_positions)
        return pst_fail(err, "GPT-2 forward: sequence length %d exceeds n_positions %d", T,
                        c->n_positions);
    if ((size_t)B * T > (size_t)INT32_MAX / (size_t)(4 * C > V ? 4 * C : V))
        return pst_fail(err, "GPT-2 forward: batch B=%d T=%d too large", B, T);
    size_t BT = (size_t)B * T;
    for (size_t i = 0; i < BT; i++) {
        if (tokens[i] < 0 || tokens[i] >= V)
            return pst_fail(err, "GPT-2 forward: token id %d at position %zu is outside [0, %d)",
                            tokens[i], i, V);
        if (targets && (targets[i] < -1 || targets[i] >= V))
            return pst_fail(err, "GPT-2 forward: target id %d at position %zu is outside [0, %d)",
                            targets[i], i, V);
    }
    /* (re)allocate activations when B or T grows */
    pst_gpt2_acts *a = m->acts;
    size_t BTT = BT * T;
    if (!a || a->cap_bt < BT || a->cap_btt < BTT) {
        size_t nbt = a && a->cap_bt > BT ? a->cap_bt : BT;
        size_t nbtt = a && a->cap_btt > BTT ? a->cap_btt : BTT;
        acts_free(a);
        free(m->logprobs);
        m->acts = NULL;
        m->logprobs = NULL;
        a = acts_create(c, nbt, nbtt, err);
        if (!a) return -1;
        m->acts = a;
        m->logprobs = pst_calloc(nbt, sizeof(float), err);
        if (!m->logprobs) return -1;
    }
    m->B = B;
    m->T = T;
    memcpy(a->tokens, tokens, BT * sizeof(int));
    for (size_t i = 0; i < BT; i++) a->targets[i] = targets ? targets[i] : -1;
    a->logits_valid = 0;
    a->hidden_valid = 1;

    const pst_gpt2_params *p = &m->params;
    float eps = c->layer_norm_epsilon;
    TIMED(PST_GPT2_OP_OTHER, encoder_forward(a->encoded, tokens, p->wte, p->wpe, B, T, C));
    for (int l = 0; l < L; l++) {
        size_t oc = (size_t)l * BT * C, o3 = oc * 3, o4 = oc * 4, ob = (size_t)l * BT;
        const float *res = l == 0 ? a->encoded : a->res3 + oc - BT * C;
        float *res2 = a->res2 + oc, *res3 = a->res3 + oc;
        TIMED(PST_GPT2_OP_LAYERNORM, pst_layernorm_forward(a->ln1 + oc, a->ln1_mean + ob, a->ln1_rstd + ob, res,
                                                           p->ln1w + (size_t)l * C, p->ln1b + (size_t)l * C, BT, C,
                                                           eps));
        TIMED(PST_GPT2_OP_MATMUL, pst_linear_forward(a->qkv + o3, a->ln1 + oc, p->qkvw + (size_t)l * C * 3 * C,
                                                     p->qkvb + (size_t)l * 3 * C, BT, C, 3 * C, 0));
        TIMED(PST_GPT2_OP_ATTENTION, attention_forward(a->atty + oc, a->att + (size_t)l * B * NH * T * T,
                                                       a->qkv + o3, B, T, C, NH));
        TIMED(PST_GPT2_OP_OTHER, memcpy(res2, res, BT * C * sizeof(float)));
        TIMED(PST_GPT2_OP_MATMUL, pst_linear_forward(res2, a->atty + oc, p->attprojw + (size_t)l * C * C,
                                                     p->attprojb + (size_t)l * C, BT, C, C, 1));
        TIMED(PST_GPT2_OP_LAYERNORM, pst_layernorm_forward(a->ln2 + oc, a->ln2_mean + ob, a->ln2_rstd + ob, res2,
                                                           p->ln2w + (size_t)l * C, p->ln2b + (size_t)l * C, BT, C,
                                                           eps));
        TIMED(PST_GPT2_OP_MATMUL, pst_linear_forward(a->fch + o4, a->ln2 + oc, p->fcw + (size_t)l * C * 4 * C,
                                                     p->fcb + (size_t)l * 4 * C, BT, C, 4 * C, 0));
        TIMED(PST_GPT2_OP_GELU, pst_gelu_forward(a->fch_gelu + o4, a->fch + o4, BT * 4 * C));
        TIMED(PST_GPT2_OP_OTHER, memcpy(res3, res2, BT * C * sizeof(float)));
        TIMED(PST_GPT2_OP_MATMUL, pst_linear_forward(res3, a->fch_gelu + o4, p->fcprojw + (size_t)l * 4 * C * C,
                                                     p->fcprojb + (size_t)l * C, BT, 4 * C, C, 1));
    }
    TIMED(PST_GPT2_OP_LAYERNORM, pst_layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd,
                                                       a->res3 + (size_t)(L - 1) * BT * C, p->lnfw, p->lnfb, BT, C,
                                                       eps));
    double t_out = pst_now();
    if (!targets && !logits_out) return 0; /* the hidden states only (a value or reward head) */
    /* Scoring: the fused kernel at any size. Keeping the logits, it stores them 16 columns
     * a row at a time, which costs more than the packed product's stores as rows grow:
     * 512 x 50257 x 128, best of 8 on this machine, 56 ms (logits, max and sums) against 33
     * (logits) + ~11 (the two passes); level at ~256 rows (27 vs 24 + ~3; width 768: 81 vs
     * 84 + ~3), ahead below (132 rows: 19.5 vs 20 + ~1.5; 64 rows: 5.5 vs 9). */
    if (!logits_out && (!keep_logits || BT <= 256) &&
        log_softmax_fused(a, p->wte, keep_logits ? a->logits : NULL, m->logprobs, (int)BT, C, V) == 0) {
        a->logits_valid = keep_logits;
        m->op_seconds[PST_GPT2_OP_OUTPUT] += pst_now() - t_out;
        return 0;
    }
    pst_sgemm(0, 1, BT, V, C, 1.0f, a->lnf, C, p->wte, C, 0.0f, a->logits, V);
    if (logits_out) memcpy(logits_out, a->logits, BT * V * sizeof(float));
    if (targets) {
        softmax_logprob_forward(a->logits, m->logprobs, a->lse_max, a->lse_inv, a->targets, BT,
                                V);
        a->logits_valid = keep_logits;
    }
    m->op_seconds[PST_GPT2_OP_OUTPUT] += pst_now() - t_out;
    return 0;
}

int pst_gpt2_forward(pst_gpt2 *m, const int *tokens, const int *targets, int B, int T,
                     float *logits_out, pst_error *err) {
    return forward(m, tokens, targets, B, T, logits_out, 1, err);
}

int pst_gpt2_forward_logprobs(pst_gpt2 *m, const int *tokens, const int *targets, int B, int T, pst_error *err) {
    return forward(m, tokens, targets, B, T, NULL, 0, err);
}

const float *pst_gpt2_hidden(const pst_gpt2 *m) {
    return m->acts ? m->acts->lnf : NULL;
}

int pst_gpt2_backward(pst_gpt2 *m, const float *dlogprobs, pst_error *err) {
    return pst_gpt2_backward_hidden(m, dlogprobs, NULL, err);
}

int pst_gpt2_backward_hidden(pst_gpt2 *m, const float *dlogprobs, const float *dhidden,
                             pst_error *err) {
    pst_gpt2_acts *a = m->acts;
    if (!dlogprobs && (!a || !a->hidden_valid || !dhidden))
        return pst_fail(err, "GPT-2 backward: without log-prob gradients it needs dhidden and a forward first");
    if (dlogprobs && (!a || !a->logits_valid))
        return pst_fail(err, "GPT-2 backward: needs a forward with targets first (each forward "
                        "supports one backward)");
    const pst_gpt2_config *c = &m->config;
    int B = m->B, T = m->T, L = c->n_layer, C = c->n_embd, NH = c->n_head, V = c->vocab_size;
    size_t BT = (size_t)B * T;
    if (!m->grad_memory) {
        m->grad_memory = alloc_param_floats(m->num_params, err);
        if (!m->grad_memory) return pst_fail_context(err, "GPT-2 gradients");
        memset(m->grad_memory, 0, m->num_params * sizeof(float));
        point_params(c, &m->grads, m->grad_memory);
    }
    if (acts_alloc_backward(a, c, err)) return -1;
    a->logits_valid = 0, a->hidden_valid = 0;
    const pst_gpt2_params *p = &m->params;
    pst_gpt2_params *g = &m->grads;

    /* output head: dlogits in place of logits; d lnf = dlogits·wte; dwte += dlogitsᵀ·lnf */
    double t_out = pst_now();
    if (dlogprobs) {
        softmax_logprob_backward(a->logits, dlogprobs, a->lse_max, a->lse_inv, a->targets, BT, V);
        pst_sgemm(0, 0, BT, C, V, 1.0f, a->logits, V, p->wte, C, 0.0f, a->dbuf, C);
        pst_sgemm(1, 0, V, C, BT, 1.0f, a->logits, V, a->lnf, C, 1.0f, g->wte, C);
    } else {
        memset(a->dbuf, 0, BT * C * sizeof(float));
    }
    if (dhidden) /* an extra ∂loss/∂hidden (e.g. a value head on the final hidden state) */
        for (size_t i = 0; i < BT * C; i++) a->dbuf[i] += dhidden[i];
    memset(a->dres, 0, BT * C * sizeof(float));
    m->op_seconds[PST_GPT2_OP_OUTPUT] += pst_now() - t_out;
    TIMED(PST_GPT2_OP_LAYERNORM, layernorm_backward(a->dres, g->lnfw, g->lnfb, a->dbuf,
                                                    a->res3 + (size_t)(L - 1) * BT * C, p->lnfw, a->lnf_mean,
                                                    a->lnf_rstd, BT, C));

    /* blocks in reverse; a->dres holds ∂loss/∂(block output) and becomes ∂/∂(block input) */
    for (int l = L - 1; l >= 0; l--) {
        size_t oc = (size_t)l * BT * C, o3 = oc * 3, o4 = oc * 4, ob = (size_t)l * BT;
        size_t lc = (size_t)l * C;
        const float *res = l == 0 ? a->encoded : a->res3 + oc - BT * C;
        /* MLP: res3 = res2 + gelu(ln2·fcw + fcb)·fcprojw + fcprojb */
        TIMED(PST_GPT2_OP_MATMUL, linear_backward(a->dfch, 0.0f, g->fcprojw + lc * 4 * C, g->fcprojb + lc, a->dres,
                                                  a->fch_gelu + o4, p->fcprojw + lc * 4 * C, BT, 4 * C, C));
        TIMED(PST_GPT2_OP_GELU, gelu_backward(a->dfch, a->fch + o4, BT * 4 * C));
        TIMED(PST_GPT2_OP_MATMUL, linear_backward(a->dbuf, 0.0f, g->fcw + lc * 4 * C, g->fcb + lc * 4, a->dfch,
                                                  a->ln2 + oc, p->fcw + lc * 4 * C, BT, C, 4 * C));
        TIMED(PST_GPT2_OP_LAYERNORM, layernorm_backward(a->dres, g->ln2w + lc, g->ln2b + lc, a->dbuf, a->res2 + oc,
                                                        p->ln2w + lc, a->ln2_mean + ob, a->ln2_rstd + ob, BT, C));
        /* attention: res2 = res + attn(ln1)·attprojw + attprojb */
        TIMED(PST_GPT2_OP_MATMUL, linear_backward(a->datty, 0.0f, g->attprojw + lc * C, g->attprojb + lc, a->dres,
                                                  a->atty + oc, p->attprojw + lc * C, BT, C, C));
        TIMED(PST_GPT2_OP_ATTENTION, attention_backward(a->dqkv, a->datt, a->datty, a->qkv + o3,
                                                        a->att + (size_t)l * B * NH * T * T, B, T, C, NH));
        TIMED(PST_GPT2_OP_MATMUL, linear_backward(a->dbuf, 0.0f, g->qkvw + lc * 3 * C, g->qkvb + lc * 3, a->dqkv,
                                                  a->ln1 + oc, p->qkvw + lc * 3 * C, BT, C, 3 * C));
        TIMED(PST_GPT2_OP_LAYERNORM, layernorm_backward(a->dres, g->ln1w + lc, g->ln1b + lc, a->dbuf, res,
                                                        p->ln1w + lc, a->ln1_mean + ob, a->ln1_rstd + ob, BT, C));
    }
    TIMED(PST_GPT2_OP_OTHER, encoder_backward(g->wte, g->wpe, a->dres, a->tokens, B, T, C));
    return 0;
}

int pst_gpt2_cross_entropy(pst_gpt2 *m, const int *tokens, const int *targets,
                           const float *weights, int B, int T, float *dlogprobs, double *loss,
                           pst_error *err) {
    if (!targets) return pst_fail(err, "GPT-2 cross-entropy: targets are required");
    size_t BT = (size_t)B * T;
    double wsum = 0;
    if (B >= 1 && T >= 1)
        for (size_t i = 0; i < BT; i++) {
            double w = weights ? weights[i] : 1.0;
            if (!(w >= 0) || !isfinite(w))
                return pst_fail(err, "GPT-2 cross-entropy: weight %g at position %zu must be "
                                "finite and >= 0", w, i);
            if (w > 0 && targets[i] < 0)
                return pst_fail(err, "GPT-2 cross-entropy: position %zu has weight %g but no "
                                "target (-1)", i, w);
            wsum += w;
        }
    if (B >= 1 && T >= 1 && !(wsum > 0))
        return pst_fail(err, "GPT-2 cross-entropy: all token weights are zero");
    if (pst_gpt2_forward(m, tokens, targets, B, T, NULL, err)) return -1;
    /* loss = Σ w·(−logp) / Σ w */
    double s = 0;
    for (size_t i = 0; i < BT; i++) {
        double w = weights ? weights[i] : 1.0;
        if (w > 0) s += w * -(double)m->logprobs[i];
        if (dlogprobs) dlogprobs[i] = (float)(-w / wsum);
    }
    if (loss) *loss = s / wsum;
    return 0;
}
