/* Sampling with a KV cache, and exact scoring.
 *
 * Sampling runs its own incremental forward: a list of "items" (row, position, token)
 * goes through the blocks at once; each item writes its key and value into the cache
 * [L, rows, maxT, C] and attends to cache[row][0..position]. The prompt prefill (many
 * items per row) and each decoding step (one item per live row) are the same call.
 * Projections use pst_sgemm over all items; the weights are read once per call, which
 * makes batch-1 decoding bound by memory bandwidth.
 *
 * Each sample also returns two log-probs (natural log):
 *   logprob_model    = Σ_t log softmax(z_t)[x_t]        raw logits z, T = 1, nothing cut
 *   logprob_proposal = Σ_t log q_t(x_t)                 q_t = the warped distribution
 * where q_t is built from z_t as: s = z / temperature; banned ids removed; keep the
 * top_k largest s (ties: lower id first); p = softmax over what is left; top_p keeps
 * the smallest prefix of p sorted descending whose mass reaches top_p (a token is kept
 * when the mass strictly before it is < top_p); q = p renormalised over the kept set.
 * temperature 0 means greedy: q puts mass 1 on the argmax (log q = 0).
 *
 * With bf16_weights the decoder reads a bf16 copy of the weight matrices (wte, qkvw,
 * attprojw, fcw, fcprojw; prior/bf16_kernels.h), made when the call starts: the samples
 * and both log-probs are then those of q_bf16, the model pst_gpt2_round_bf16 makes, and
 * log q_bf16 is exact for the tokens drawn (the sampler draws from the logits it reports).
 */
#include "posterior/prior.h"
#include "prior/bf16_kernels.h"
#include "prior/exp_kernels.h"
#include "prior/gpt2_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void pst_sample_options_default(pst_sample_options *o) {
    memset(o, 0, sizeof *o);
    o->temperature = 1.0f;
    o->top_k = 0;
    o->top_p = 1.0f;
    o->banned = NULL;
    o->n_banned = 0;
    o->max_new_tokens = 64;
    o->eot_token = 50256;
    o->stop_at_eot = 1;
}

void pst_sample_free(pst_sample *s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) {
        free(s[i].tokens);
        s[i].tokens = NULL;
        s[i].n_tokens = 0;
    }
}

/* ---- the incremental forward ---------------------------------------------- */

typedef struct {
    const pst_gpt2 *m;
    int rows, maxT;         /* cache capacity: rows x maxT positions */
    int cap_items;          /* items per forward call */
    float *k_cache, *v_cache; /* [L, rows, maxT, C] */
    float *x;               /* [cap_items, C] residual stream */
    float *ln;              /* [cap_items, C] */
    float *qkv;             /* [cap_items, 3C] */
    float *atty;            /* [cap_items, C] */
    float *fch;             /* [cap_items, 4C] */
    float *scores;          /* [threads, n_head, maxT] attention scratch */
    float *arena;           /* the one allocation the buffers above point into */
    int threads;
    /* bf16 copies of the weight matrices (NULL: the fp32 weights), in one allocation */
    uint16_t *half, *wte16, *qkvw16, *attprojw16, *fcw16, *fcprojw16;
    /* the output layer's chunk partials per logits slot [slots, chunks], when the sampler
     * asks for them (NULL: not), and per slot whether its last logits came with them (0:
     * no; 1: yes, row-major; 2: yes, grouped from slot 0); one allocation from chunk_max */
    float *chunk_max, *chunk_sum;
    unsigned char *slot_chunks;
} kv_decoder;

static void decoder_free(kv_decoder *d) {
    free(d->arena);
    free(d->chunk_max);
    free(d->half);
    memset(d, 0, sizeof *d);
}

/* The weight matrices bf16 decoding rounds (wte, qkvw, attprojw, fcw, fcprojw): where
 * each starts and how many floats it has. */
static void bf16_matrices(const pst_gpt2 *m, float *w[5], size_t n[5]) {
    const pst_gpt2_config *c = &m->config;
    const pst_gpt2_params *p = &m->params;
    size_t C = c->n_embd, L = c->n_layer, V = c->vocab_size;
    const size_t sizes[5] = {V * C, L * C * 3 * C, L * C * C, L * C * 4 * C, L * 4 * C * C};
    float *const starts[5] = {p->wte, p->qkvw, p->attprojw, p->fcw, p->fcprojw};
    for (int i = 0; i < 5; i++) w[i] = starts[i], n[i] = sizes[i];
}

/* The bf16 copy of the weight matrices that bf16 decoding reads. */
static int decoder_round_weights(kv_decoder *d, pst_error *err) {
    size_t C = d->m->config.n_embd, n[5];
    if (C > 2048) return pst_fail(err, "bf16 weights: n_embd %zu is above the kernels' 2048", C);
    float *src[5];
    bf16_matrices(d->m, src, n);
    uint16_t **dst[5] = {&d->wte16, &d->qkvw16, &d->attprojw16, &d->fcw16, &d->fcprojw16};
    d->half = pst_large_alloc((n[0] + n[1] + n[2] + n[3] + n[4]) * sizeof(uint16_t), err);
    if (!d->half) return pst_fail_context(err, "bf16 weights");
    uint16_t *at = d->half;
    for (int i = 0; i < 5; i++) {
        pst_bf16_round_array(at, src[i], n[i]);
        *dst[i] = at;
        at += n[i];
    }
    return 0;
}

/* The model q_bf16 of bf16 decoding, in place: each weight matrix rounded to bf16. */
void pst_gpt2_round_bf16(pst_gpt2 *m) {
    float *w[5];
    size_t n[5];
    bf16_matrices(m, w, n);
    for (int i = 0; i < 5; i++)
        for (size_t j = 0; j < n[i]; j++) w[i][j] = pst_bf16_to_f32(pst_bf16_round(w[i][j]));
}

static int decoder_create(kv_decoder *d, const pst_gpt2 *m, int rows, int maxT, int cap_items, int bf16,
                          pst_error *err) {
    memset(d, 0, sizeof *d);
    const pst_gpt2_config *c = &m->config;
    size_t C = c->n_embd, L = c->n_layer, cache = L * rows * (size_t)maxT * C;
    d->m = m;
    d->rows = rows;
    d->maxT = maxT;
    d->cap_items = cap_items;
    d->threads = omp_get_max_threads();
    struct { float **p; size_t n; } f[] = {
        {&d->k_cache, cache},         {&d->v_cache, cache},
        {&d->x, cap_items * C},       {&d->ln, cap_items * C},
        {&d->qkv, cap_items * 3 * C}, {&d->atty, cap_items * C},
        {&d->fch, cap_items * 4 * C}, {&d->scores, (size_t)d->threads * c->n_head * maxT},
    };
    /* one 64-byte aligned block; each buffer starts on a 64-byte boundary */
    const size_t nf = sizeof f / sizeof f[0], align = 64 / sizeof(float);
    size_t total = 0;
    for (size_t i = 0; i < nf; i++) total += (f[i].n + align - 1) / align * align;
    d->arena = pst_aligned_alloc(total * sizeof(float), err);
    if (!d->arena) return pst_fail_context(err, "sampling buffers (%d rows x %d positions)", rows, maxT);
    for (size_t i = 0, off = 0; i < nf; i++) {
        *f[i].p = d->arena + off;
        off += (f[i].n + align - 1) / align * align;
    }
    return bf16 ? decoder_round_weights(d, err) : 0;
}

/* out[n, OC] (+)= in[n, IC]·W + b, with the bf16 copy of W when the decoder has one */
static void decoder_linear(const kv_decoder *d, float *out, const float *in, const float *W,
                           const uint16_t *W16, const float *b, int n, int IC, int OC, int accumulate) {
    if (W16)
        pst_linear_forward_bf16(out, in, W16, b, n, IC, OC, accumulate);
    else
        pst_linear_forward(out, in, W, b, n, IC, OC, accumulate);
}

/* LayerNorm, GELU and the products (pst_linear_forward, pst_sgemm) are the training
 * forward's own kernels (prior/gpt2_internal.h), so sampling and scoring compute the
 * same function. Decoding multiplies a few rows by every weight matrix: pst_sgemm
 * picks kernels that stream a weight once without packing it (the thin products for
 * <= 8 rows, the output-layer kernel for the LM head of a batch; rules and
 * measurements in base/gemm.c). */

/* Runs n items (row[i], pos[i], tok[i]) through the model; items of one row must come in
 * increasing position and every earlier position of that row must already be cached.
 * For each i with want[i] >= 0, writes the logits [V] of item i to logits + want[i]·V;
 * the wanted slots of one call must be consecutive (first, first + 1, ...) in item order.
 * grouped: the call's slots are all that is read before the next call, so the sampler's
 * plain case may take them grouped from slot 0 (PST_GEMM_LOGITS_GROUPED; slot_chunks 2). */
static void decoder_forward(kv_decoder *d, int n, const int *row, const int *pos, const int *tok,
                            const int *want, float *logits, int grouped) {
    const pst_gpt2 *m = d->m;
    const pst_gpt2_config *c = &m->config;
    const pst_gpt2_params *p = &m->params;
    int C = c->n_embd, NH = c->n_head, hs = C / NH, L = c->n_layer, V = c->vocab_size;
    float eps = c->layer_norm_epsilon, scale = 1.0f / sqrtf((float)hs);
    size_t row_stride = (size_t)d->maxT * C, layer_stride = (size_t)d->rows * row_stride;

    for (int i = 0; i < n; i++) {
        const float *we = p->wte + (size_t)tok[i] * C, *pe = p->wpe + (size_t)pos[i] * C;
        const uint16_t *we16 = d->half ? d->wte16 + (size_t)tok[i] * C : NULL;
        for (int j = 0; j < C; j++) d->x[(size_t)i * C + j] = (we16 ? pst_bf16_to_f32(we16[j]) : we[j]) + pe[j];
    }
    long att_work = 0; /* multiply-adds of one layer's attention: Σ_i (pos_i + 1)·C */
    for (int i = 0; i < n; i++) att_work += (long)(pos[i] + 1) * C;
    for (int l = 0; l < L; l++) {
        size_t lc = (size_t)l * C;
        int bf = d->half != NULL; /* bf16 weights: the matrices of layer l in the copy */
        const uint16_t *qkvw16 = bf ? d->qkvw16 + lc * 3 * C : NULL, *attprojw16 = bf ? d->attprojw16 + lc * C : NULL;
        const uint16_t *fcw16 = bf ? d->fcw16 + lc * 4 * C : NULL, *fcprojw16 = bf ? d->fcprojw16 + lc * 4 * C : NULL;
        float *kc = d->k_cache + l * layer_stride, *vc = d->v_cache + l * layer_stride;
        pst_layernorm_forward(d->ln, NULL, NULL, d->x, p->ln1w + lc, p->ln1b + lc, n, C, eps);
        decoder_linear(d, d->qkv, d->ln, p->qkvw + lc * 3 * C, qkvw16, p->qkvb + lc * 3, n, C, 3 * C, 0);
        for (int i = 0; i < n; i++) {
            size_t at = row[i] * row_stride + (size_t)pos[i] * C;
            memcpy(kc + at, d->qkv + (size_t)i * 3 * C + C, C * sizeof(float));
            memcpy(vc + at, d->qkv + (size_t)i * 3 * C + 2 * C, C * sizeof(float));
        }
        /* att_t = softmax_t(q·k_t/√hs) over t <= pos; y = Σ_t att_t v_t, per head. A task is
         * one row's group of heads, which reads the row's cached keys, then its values, as
         * two sequential streams (position after position, its heads side by side): the
         * cache comes from memory, the weights of the step having passed through the caches.
         * Heads are grouped only to give every thread a task. Threads only when there is
         * enough work to pay for waking them. */
        int groups = n >= d->threads ? 1 : (d->threads + n - 1) / n;
        if (groups > NH) groups = NH;
        int per_group = (NH + groups - 1) / groups;
#pragma omp parallel for schedule(static) if (att_work > PST_PARALLEL_MIN)
        for (int ig = 0; ig < n * groups; ig++) {
            int i = ig / groups, h0 = ig % groups * per_group, T = pos[i] + 1;
            int h1 = h0 + per_group < NH ? h0 + per_group : NH;
            float *sc = d->scores + (size_t)omp_get_thread_num() * NH * d->maxT; /* [NH, maxT] */
            const float *q = d->qkv + (size_t)i * 3 * C;
            const float *K = kc + row[i] * row_stride, *Vv = vc + row[i] * row_stride;
            for (int t = 0; t < T; t++) {
                const float *k = K + (size_t)t * C;
                for (int h = h0; h < h1; h++) {
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int j = 0; j < hs; j++) s += q[h * hs + j] * k[h * hs + j];
                    sc[h * d->maxT + t] = s * scale;
                }
            }
            for (int h = h0; h < h1; h++) { /* the softmax of attention_forward (gpt2.c) */
                float *sh = sc + (size_t)h * d->maxT, mx = pst_row_max(sh, T);
                float inv = 1.0f / pst_row_exp(sh, sh, T, mx);
                for (int t = 0; t < T; t++) sh[t] *= inv;
            }
            float *y = d->atty + (size_t)i * C;
            for (int j = h0 * hs; j < h1 * hs; j++) y[j] = 0;
            for (int t = 0; t < T; t++) {
                const float *v = Vv + (size_t)t * C;
                for (int h = h0; h < h1; h++) {
                    float a = sc[h * d->maxT + t];
                    for (int j = h * hs; j < (h + 1) * hs; j++) y[j] += a * v[j];
                }
            }
        }
        decoder_linear(d, d->x, d->atty, p->attprojw + lc * C, attprojw16, p->attprojb + lc, n, C, C, 1);
        pst_layernorm_forward(d->ln, NULL, NULL, d->x, p->ln2w + lc, p->ln2b + lc, n, C, eps);
        decoder_linear(d, d->fch, d->ln, p->fcw + lc * 4 * C, fcw16, p->fcb + lc * 4, n, C, 4 * C, 0);
        pst_gelu_forward(d->fch, d->fch, (size_t)n * 4 * C);
        decoder_linear(d, d->x, d->fch, p->fcprojw + lc * 4 * C, fcprojw16, p->fcprojb + lc, n, 4 * C, C, 1);
    }
    /* logits only where wanted: gather those rows, ln_f, then lnf·wteᵀ */
    int n_out = 0;
    for (int i = 0; i < n; i++)
        if (want[i] >= 0) {
            memcpy(d->atty + (size_t)n_out * C, d->x + (size_t)i * C, C * sizeof(float));
            n_out++;
        }
    if (n_out == 0) return;
    pst_layernorm_forward(d->ln, NULL, NULL, d->atty, p->lnfw, p->lnfb, n_out, C, eps);
    int first = 0;
    for (int i = 0; i < n; i++)
        if (want[i] >= 0) {
            first = want[i];
            break;
        }
    float *out = logits + (size_t)first * V;
    if (d->chunk_max) { /* the sampler's plain case: with the chunk partials where the kernels run */
        size_t at = (size_t)first * PST_GEMM_LSE_CHUNKS(V);
        float *cmax = d->chunk_max + at, *csum = d->chunk_sum + at;
        grouped = grouped && first == 0;
        int ldo = grouped ? PST_GEMM_LOGITS_GROUPED : V;
        int chunks = n_out > PST_GEMM_THIN_MAX &&
                     (d->half ? pst_matmul_nt_bf16_chunks(out, ldo, d->ln, d->wte16, n_out, C, V, cmax, csum) == 0
                      : pst_fused_head_lse(n_out, V, C, d->ln, p->wte, NULL, out, ldo, cmax, csum, NULL, NULL,
                                                   NULL) == 0);
        memset(d->slot_chunks + first, chunks ? 1 + grouped : 0, n_out);
        if (chunks) return;
    }
    if (d->half)
        pst_matmul_nt_bf16(out, d->ln, d->wte16, n_out, C, V);
    else
        pst_sgemm(0, 1, n_out, V, C, 1.0f, d->ln, C, p->wte, C, 0.0f, out, V);
}

/* ---- the warped distribution q ----------------------------------------------- */

typedef struct {
    double s;  /* scaled logit z/T (double: a tiny T must not overflow) */
    int id;
} cand;

/* Descending by s, ties by ascending id. */
static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->s > y->s) return -1;
    if (x->s < y->s) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int cand_better(cand a, cand b) { return a.s > b.s || (a.s == b.s && a.id < b.id); }

/* Min-heap (worst at the root) of the k best candidates. */
static void heap_sift_down(cand *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_better(h[w], h[l])) w = l;
        if (r < n && cand_better(h[w], h[r])) w = r;
        if (w == i) return;
        cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

typedef struct {
    cand *c;        /* [V] candidates */
    double *w;      /* [V] unnormalised probabilities of candidates */
    unsigned char *banned; /* [V] */
    int any_banned;
    float *e;       /* [V] exp(z − zmax), 0 where banned (the plain case) */
    double *blk;    /* [V / PLAIN_BLOCK + 1] sums of e per block */
} warp_scratch;

/* The plain case, q = softmax(z) over the allowed tokens (temperature 1, no top-k,
 * no nucleus: what DPG samples): no candidate list and no sort. One pass finds zmax,
 * one computes e_j = exp(z_j − zmax) in float (vectorised pst_exp_fast, ~1 ulp) with
 * the sums Σ e (all tokens, for log softmax) and Σ e (allowed, per block of
 * PLAIN_BLOCK tokens, in double); the inverse CDF walks the block sums, then the
 * e_j of one block, in token order like the general case. Same contract as
 * warp_sample; log q(tok) = z_tok − zmax − log Σ_allowed e. */
#define PLAIN_BLOCK 256
static int is_plain(const pst_sample_options *o) {
    return o->temperature == 1.0f && o->top_k == 0 && !(o->top_p < 1.0f);
}
static int warp_sample_plain(const float *z, int V, warp_scratch *ws, double u, double *lp_model,
                             double *lp_prop) {
    float zmax = pst_row_max(z, V);
    float *e = ws->e;
    double *blk = ws->blk, se = 0, total = 0;
    int nb = (V + PLAIN_BLOCK - 1) / PLAIN_BLOCK;
    for (int b = 0; b < nb; b++) {
        int j0 = b * PLAIN_BLOCK, j1 = j0 + PLAIN_BLOCK < V ? j0 + PLAIN_BLOCK : V;
        float s_all = 0, s_ok = 0;
        if (ws->any_banned) {
            const unsigned char *ban = ws->banned;
#pragma omp simd reduction(+ : s_all, s_ok)
            for (int j = j0; j < j1; j++) {
                float x = pst_exp_fast(z[j] - zmax);
                s_all += x;
                e[j] = ban[j] ? 0.0f : x;
                s_ok += e[j];
            }
        } else {
            s_all = s_ok = pst_row_exp(z + j0, e + j0, j1 - j0, zmax);
        }
        se += s_all;
        total += blk[b] = s_ok;
    }
    if (!isfinite(zmax + log(se)) || !(total > 0)) return -1; /* NaN or infinite logits */
    /* inverse CDF: the block where u·total falls, then the token in it; rounding can
     * leave r past the last crossing: then the last allowed token seen */
    double r = u * total, cum = 0;
    int b = 0, last = -1;
    for (; b < nb; b++) {
        if (blk[b] > 0) last = b;
        if (r < cum + blk[b]) break;
        cum += blk[b];
    }
    if (b == nb) b = last, cum = total - blk[last];
    int tok = -1;
    for (int j = b * PLAIN_BLOCK, j1 = j + PLAIN_BLOCK < V ? j + PLAIN_BLOCK : V; j < j1; j++)
        if (e[j] > 0) {
            tok = j;
            cum += e[j];
            if (r < cum) break;
        }
    /* log π(tok) = z_tok − zmax − log Σ_all, log q(tok) = z_tok − zmax − log Σ_allowed, in
     * the same order as sample_from_chunks: without bans the two sums are the same
     * numbers, so q = π to the bit, on every path */
    *lp_model = ((double)z[tok] - zmax) - log(se);
    *lp_prop = ((double)z[tok] - zmax) - log(total);
    return tok;
}

/* The plain case without banned tokens, from the output layer's chunk partials (base's
 * kernel with the log-softmax, which had each chunk's 16 × 16 tiles in registers):
 * chunk c of PST_GEMM_LSE_COLS tokens has max cmax[c] and sum csum[c] = Σ_{j∈c}
 * e(z_j − cmax[c]), so its weight is csum[c]·e(cmax[c] − zmax). The inverse CDF walks the
 * chunks' weights, then e(z_j − zmax) of one chunk, in token order: no pass over the row
 * for its max and its exps. log q(tok) = log softmax(z)[tok] = z_tok − zmax − log Σ.
 * z_j is z[j·zs] (zs 16: the logits grouped, PST_GEMM_LOGITS_GROUPED). */
static int sample_from_chunks(const float *z, int zs, int V, const float *cmax, const float *csum, double *blk,
                              double u, double *lp_model, double *lp_prop) {
    int nc = PST_GEMM_LSE_CHUNKS(V);
    float zmax = -INFINITY;
    for (int c = 0; c < nc; c++) zmax = cmax[c] > zmax ? cmax[c] : zmax;
    double total = 0;
    for (int c = 0; c < nc; c++) total += blk[c] = (double)csum[c] * pst_exp_fast(cmax[c] - zmax);
    if (!isfinite(zmax) || !isfinite(total) || !(total > 0)) return -1; /* NaN or infinite logits */
    double r = u * total, cum = 0;
    int c = 0;
    for (; c < nc - 1; c++) {
        if (r < cum + blk[c]) break;
        cum += blk[c];
    }
    int tok = c * PST_GEMM_LSE_COLS, j1 = tok + PST_GEMM_LSE_COLS < V ? tok + PST_GEMM_LSE_COLS : V;
    for (int j = tok; j < j1; j++) { /* rounding can leave r past the last crossing: the last token */
        tok = j;
        cum += pst_exp_fast(z[(size_t)j * zs] - zmax);
        if (r < cum) break;
    }
    *lp_model = *lp_prop = ((double)z[(size_t)tok * zs] - zmax) - log(total);
    return tok;
}

/* Draws one token from q built from logits z [V] with uniform u in [0, 1).
 * Returns the token (-1 when the logits are not finite); *lp_model = log softmax(z)[tok],
 * *lp_prop = log q(tok). */
static int warp_sample(const float *z, int V, const pst_sample_options *o, warp_scratch *ws,
                       double u, double *lp_model, double *lp_prop) {
    if (is_plain(o))
        return warp_sample_plain(z, V, ws, u, lp_model, lp_prop);
    /* raw model: log-sum-exp of z in double. At temperature 1 without top-k the same
     * exponentials are the candidates' weights, so one pass does both. */
    float zmax = -INFINITY;
    for (int j = 0; j < V; j++) zmax = z[j] > zmax ? z[j] : zmax;
    int fused = o->temperature == 1.0f && o->top_k == 0;
    cand *c = ws->c;
    int n = 0;
    double se = 0, total = 0;
    double smax = zmax;
    if (fused) {
        for (int j = 0; j < V; j++) {
            double e = exp((double)z[j] - zmax);
            se += e;
            if (!ws->banned[j]) {
                c[n] = (cand){z[j], j};
                total += ws->w[n++] = e;
            }
        }
    } else {
        for (int j = 0; j < V; j++) se += exp((double)z[j] - zmax);
    }
    double lse_raw = zmax + log(se);
    if (!isfinite(lse_raw)) return -1; /* NaN or infinite logits */

    int tok;
    if (o->temperature == 0) { /* greedy */
        tok = -1;
        for (int j = 0; j < V; j++)
            if (!ws->banned[j] && (tok < 0 || z[j] > z[tok])) tok = j;
        *lp_model = z[tok] - lse_raw;
        *lp_prop = 0;
        return tok;
    }
    double inv_t = 1.0 / o->temperature;
    int k = o->top_k;
    if (fused) {
        /* candidates and weights exp(z − zmax) are already in place */
    } else if (k > 0) {
        /* the k best allowed tokens, via a min-heap, then sorted */
        for (int j = 0; j < V; j++) {
            if (ws->banned[j]) continue;
            cand x = {(double)z[j] * inv_t, j};
            if (n < k) {
                c[n++] = x;
                if (n == k)
                    for (int i = k / 2 - 1; i >= 0; i--) heap_sift_down(c, k, i);
            } else if (cand_better(x, c[0])) {
                c[0] = x;
                heap_sift_down(c, k, 0);
            }
        }
        qsort(c, n, sizeof *c, cand_cmp);
    } else {
        for (int j = 0; j < V; j++)
            if (!ws->banned[j]) c[n++] = (cand){(double)z[j] * inv_t, j};
    }
    if (!fused) {
        /* p ∝ exp(s − smax) over the candidates */
        smax = -INFINITY;
        for (int i = 0; i < n; i++) smax = c[i].s > smax ? c[i].s : smax;
        for (int i = 0; i < n; i++) total += ws->w[i] = exp((double)c[i].s - smax);
    }
    if (o->top_p < 1.0f) {
        /* The nucleus: in descending order, token i is kept while the mass before it is
         * < top_p·total. Only candidates with weight >= thr are sorted; if their mass does
         * not reach the target, lower thr (all weights are <= 1). */
        double target = (double)o->top_p * total;
        int kept = -1;
        for (double thr = 1e-4; kept < 0; thr *= 1e-4) {
            if (thr < 1e-300) thr = 0;
            int m = n;
            if (k == 0) { /* top-k candidates are already sorted */
                m = 0;
                for (int i = 0; i < n; i++)
                    if (ws->w[i] >= thr) {
                        cand tc = c[m];
                        double tw = ws->w[m];
                        c[m] = c[i], ws->w[m] = ws->w[i];
                        c[i] = tc, ws->w[i] = tw;
                        m++;
                    }
                qsort(c, m, sizeof *c, cand_cmp);
                for (int i = 0; i < m; i++) ws->w[i] = exp((double)c[i].s - smax);
            }
            double cum = 0;
            for (int i = 0; i < m && kept < 0; i++) {
                if (cum >= target) kept = i;
                cum += ws->w[i];
            }
            if (kept < 0 && (cum >= target || m == n)) kept = m;
        }
        n = kept;
        total = 0;
        for (int i = 0; i < n; i++) total += ws->w[i];
    }
    /* inverse CDF over the kept candidates, in their order */
    double r = u * total, cum = 0;
    int pick = n - 1;
    for (int i = 0; i < n; i++) {
        cum += ws->w[i];
        if (r < cum) {
            pick = i;
            break;
        }
    }
    tok = c[pick].id;
    *lp_model = z[tok] - lse_raw;
    *lp_prop = log(ws->w[pick]) - log(total);
    return tok;
}

/* ---- sampling ------------------------------------------------------------------- */

/* The arguments of pst_gpt2_sample, checked; *max_prompt is the longest prompt. */
static int check_sample_args(const pst_gpt2_config *c, const int *const *prompts, const int *prompt_lens, int n,
                             const pst_sample_options *o, int *max_prompt, pst_error *err) {
    int V = c->vocab_size, P = c->n_positions;
    if (n < 0) return pst_fail(err, "sample: n must be >= 0, got %d", n);
    if (!(o->temperature >= 0) || !isfinite(o->temperature))
        return pst_fail(err, "sample: temperature must be >= 0, got %g", (double)o->temperature);
    if (o->top_k < 0) return pst_fail(err, "sample: top_k must be >= 0, got %d", o->top_k);
    if (!(o->top_p > 0 && o->top_p <= 1))
        return pst_fail(err, "sample: top_p must be in (0, 1], got %g", (double)o->top_p);
    if (o->max_new_tokens < 0)
        return pst_fail(err, "sample: max_new_tokens must be >= 0, got %d", o->max_new_tokens);
    *max_prompt = 0;
    for (int i = 0; i < n; i++) {
        if (prompt_lens[i] < 1)
            return pst_fail(err, "sample: prompt %d is empty (use the eot token for an unconditional sample)", i);
        if (prompt_lens[i] > P)
            return pst_fail(err, "sample: prompt %d has %d tokens, more than n_positions %d", i,
                            prompt_lens[i], P);
        for (int t = 0; t < prompt_lens[i]; t++)
            if (prompts[i][t] < 0 || prompts[i][t] >= V)
                return pst_fail(err, "sample: prompt %d, position %d: token id %d outside [0, %d)",
                                i, t, prompts[i][t], V);
        if (prompt_lens[i] > *max_prompt) *max_prompt = prompt_lens[i];
    }
    return 0;
}

/* banned[V]: 1 for the token ids o->banned lists; *n_allowed the others. */
static int banned_mask(const pst_sample_options *o, int V, unsigned char **banned, int *n_allowed,
                       pst_error *err) {
    unsigned char *b = pst_calloc(V, 1, err);
    if (!b) return -1;
    *n_allowed = V;
    for (int i = 0; i < o->n_banned; i++) {
        int id = o->banned[i];
        if (id < 0 || id >= V) {
            free(b);
            return pst_fail(err, "sample: banned token id %d outside [0, %d)", id, V);
        }
        *n_allowed -= !b[id];
        b[id] = 1;
    }
    if (*n_allowed == 0) {
        free(b);
        return pst_fail(err, "sample: every token id is banned");
    }
    *banned = b;
    return 0;
}

/* One sampling run: the decoder over blocks of `rows` samples, its logits, the items of
 * one forward call (row, position, token, wanted logits slot), per row its position,
 * whether it is live, its logits slot, RNG stream and drawn token with both log-probs,
 * and a warp scratch per thread (rows are warped and drawn in parallel). */
typedef struct {
    kv_decoder d;
    const pst_sample_options *o;
    int V, P, rows, cap_items;
    float *logits;
    int *item_row, *item_pos, *item_tok, *item_want;
    int *pos, *live, *slot, *row_tok;
    pst_rng *rrng;
    double *row_lpm, *row_lpq;
    warp_scratch ws;   /* the buffers of every thread's scratch */
    warp_scratch *wss; /* [threads] */
} sample_run;

static void sample_run_close(sample_run *s) {
    decoder_free(&s->d);
    free(s->logits), free(s->item_row), free(s->item_pos), free(s->item_tok), free(s->item_want);
    free(s->pos), free(s->live), free(s->slot), free(s->rrng), free(s->row_tok), free(s->row_lpm), free(s->row_lpq);
    free(s->wss);
    free(s->ws.c), free(s->ws.w), free(s->ws.e), free(s->ws.blk), free(s->ws.banned);
}

/* Sizes the run: rows decoded together (the KV cache <= 1 GiB), cap_items per forward;
 * allocates everything. s->ws.banned is already set (n_allowed of V tokens allowed). */
static int sample_run_open(sample_run *s, pst_gpt2 *m, int n, int max_prompt, int n_allowed, pst_error *err) {
    const pst_gpt2_config *c = &m->config;
    const pst_sample_options *o = s->o;
    int V = s->V;
    int maxT = max_prompt + o->max_new_tokens;
    if (maxT > s->P) maxT = s->P;
    size_t per_row = 2 * (size_t)c->n_layer * maxT * c->n_embd * sizeof(float);
    int rows = n < 64 ? n : 64;
    while (rows > 1 && per_row * rows > ((size_t)1 << 30)) rows /= 2; /* cache <= 1 GiB */
    int cap_items = 256 > rows ? 256 : rows;
    s->rows = rows, s->cap_items = cap_items;
    int n_threads = omp_get_max_threads();
    int nblk = V / PLAIN_BLOCK + 1;
    /* the candidate list only off the plain path (warp_sample_plain needs e and blk) */
    int plain = is_plain(o);
    warp_scratch *ws = &s->ws;
    ws->c = plain ? NULL : pst_malloc((size_t)V * n_threads * sizeof(cand), err);
    ws->w = plain ? NULL : pst_malloc((size_t)V * n_threads * sizeof(double), err);
    ws->e = pst_malloc((size_t)V * n_threads * sizeof(float), err);
    ws->blk = pst_malloc((size_t)nblk * n_threads * sizeof(double), err);
    s->wss = pst_malloc(n_threads * sizeof *s->wss, err);
    if ((!plain && (!ws->c || !ws->w)) || !ws->e || !ws->blk || !s->wss) return -1;
    for (int t = 0; t < n_threads; t++)
        s->wss[t] = (warp_scratch){plain ? NULL : ws->c + (size_t)t * V, plain ? NULL : ws->w + (size_t)t * V,
                                   ws->banned, n_allowed < V,
                                   ws->e + (size_t)t * V, ws->blk + (size_t)t * nblk};
    if (decoder_create(&s->d, m, rows, maxT, cap_items, o->bf16_weights, err)) return -1;
    /* the plain case without bans draws from the output layer's chunk partials */
    if (plain && n_allowed == V && pst_fused_head_ok()) {
        size_t per = (size_t)rows * PST_GEMM_LSE_CHUNKS(V);
        kv_decoder *d = &s->d;
        d->chunk_max = pst_malloc(per * 2 * sizeof(float) + (size_t)rows, err);
        if (!d->chunk_max) return -1;
        d->chunk_sum = d->chunk_max + per;
        d->slot_chunks = (unsigned char *)(d->chunk_max + 2 * per);
        memset(d->slot_chunks, 0, (size_t)rows);
    }
    size_t row_major = (size_t)rows * V, grouped = (size_t)(rows + 15) / 16 * 16 * PST_GEMM_GROUPED_N(V);
    s->logits = pst_aligned_alloc((row_major > grouped ? row_major : grouped) * sizeof(float), err);
    s->item_row = pst_malloc(cap_items * sizeof(int), err);
    s->item_pos = pst_malloc(cap_items * sizeof(int), err);
    s->item_tok = pst_malloc(cap_items * sizeof(int), err);
    s->item_want = pst_malloc(cap_items * sizeof(int), err);
    s->pos = pst_malloc(rows * sizeof(int), err);
    s->live = pst_malloc(rows * sizeof(int), err);
    s->slot = pst_malloc(rows * sizeof(int), err);
    s->rrng = pst_malloc(rows * sizeof(pst_rng), err);
    s->row_tok = pst_malloc(rows * sizeof(int), err);
    s->row_lpm = pst_malloc(rows * sizeof(double), err);
    s->row_lpq = pst_malloc(rows * sizeof(double), err);
    if (!s->logits || !s->item_row || !s->item_pos || !s->item_tok || !s->item_want || !s->pos || !s->live ||
        !s->slot || !s->rrng || !s->row_tok || !s->row_lpm || !s->row_lpq)
        return -1;
    return 0;
}

/* Prefills the R prompts of the block starting at sample `first`, cap_items positions
 * per forward call, keeping the logits of each prompt's last token; each row gets its
 * own RNG stream (from base and its sample index). */
static void prefill_block(sample_run *s, const int *const *prompts, const int *prompt_lens, int first, int R,
                          const pst_rng *base) {
    const pst_sample_options *o = s->o;
    int ni = 0, items = 0;
    for (int r = 0; r < R; r++) items += prompt_lens[first + r];
    int one_call = items <= s->cap_items; /* then every slot comes from that call */
    for (int r = 0; r < R; r++) {
        const int *pr = prompts[first + r];
        int len = prompt_lens[first + r];
        for (int t = 0; t < len; t++) {
            s->item_row[ni] = r, s->item_pos[ni] = t, s->item_tok[ni] = pr[t];
            s->item_want[ni] = t == len - 1 ? r : -1;
            if (++ni == s->cap_items) {
                decoder_forward(&s->d, ni, s->item_row, s->item_pos, s->item_tok, s->item_want, s->logits, one_call);
                ni = 0;
            }
        }
        s->pos[r] = len;
        s->slot[r] = r;
        s->rrng[r] = pst_rng_split(base, o->first_stream + (uint64_t)(first + r));
        s->live[r] = o->max_new_tokens > 0 && len < s->P;
    }
    if (ni) decoder_forward(&s->d, ni, s->item_row, s->item_pos, s->item_tok, s->item_want, s->logits, one_call);
}

/* One decoding step of the block: every live row draws its next token from its logits
 * (in parallel when there is enough work: rows are independent), appends it to its
 * sample out[r] and, unless it ends there, queues it for the next forward. Returns the
 * number of queued items (0: the block is done), or -1 on non-finite logits. */
static int decode_step(sample_run *s, pst_sample *out, int first, int R, pst_error *err) {
    const pst_sample_options *o = s->o;
    int V = s->V;
    long n_live = 0;
    for (int r = 0; r < R; r++) n_live += s->live[r];
#pragma omp parallel for schedule(dynamic, 1) if (n_live > 1 && n_live * V > 200000)
    for (int r = 0; r < R; r++) {
        if (!s->live[r]) continue;
        double u = pst_rng_uniform(&s->rrng[r]);
        int sl = s->slot[r];
        warp_scratch *ws = &s->wss[omp_get_thread_num()];
        size_t at = (size_t)sl * PST_GEMM_LSE_CHUNKS(V);
        int chunks = s->d.slot_chunks ? s->d.slot_chunks[sl] : 0;
        if (chunks)
            s->row_tok[r] = sample_from_chunks(chunks == 2 ? PST_GEMM_GROUPED_ROW(s->logits, sl, V) : s->logits + (size_t)sl * V,
                                               chunks == 2 ? 16 : 1, V, s->d.chunk_max + at, s->d.chunk_sum + at,
                                               ws->blk, u, &s->row_lpm[r], &s->row_lpq[r]);
        else
            s->row_tok[r] = warp_sample(s->logits + (size_t)sl * V, V, o, ws, u, &s->row_lpm[r], &s->row_lpq[r]);
    }
    int ni = 0;
    for (int r = 0; r < R; r++) {
        if (!s->live[r]) continue;
        pst_sample *x = &out[r];
        int tok = s->row_tok[r];
        if (tok < 0)
            return pst_fail(err, "sample %d: the model's logits are not finite after %d tokens (NaN/inf weights?)",
                            first + r, x->n_tokens);
        x->tokens[x->n_tokens++] = tok;
        x->logprob_model += s->row_lpm[r];
        x->logprob_proposal += s->row_lpq[r];
        /* the sequence now has pos[r] + 1 tokens; it must fit in n_positions */
        if ((o->stop_at_eot && tok == o->eot_token) || x->n_tokens >= o->max_new_tokens || s->pos[r] + 1 >= s->P) {
            s->live[r] = 0;
            continue;
        }
        /* this row's next logits go to slot ni (wanted slots consecutive) */
        s->item_row[ni] = r, s->item_pos[ni] = s->pos[r]++, s->item_tok[ni] = tok, s->item_want[ni] = ni;
        s->slot[r] = ni++;
    }
    return ni;
}

int pst_gpt2_sample(pst_gpt2 *m, const int *const *prompts, const int *prompt_lens, int n,
                    const pst_sample_options *o, pst_rng *rng, pst_sample *out, pst_error *err) {
    int max_prompt = 0, n_allowed = 0;
    if (check_sample_args(&m->config, prompts, prompt_lens, n, o, &max_prompt, err) < 0) return -1;
    for (int i = 0; i < n; i++) out[i] = (pst_sample){0};
    if (n == 0) return 0;
    sample_run s;
    memset(&s, 0, sizeof s);
    s.o = o, s.V = m->config.vocab_size, s.P = m->config.n_positions;
    if (banned_mask(o, s.V, &s.ws.banned, &n_allowed, err) < 0) return -1;

    /* Each sample draws from its own stream, so which tokens are drawn does not depend on
     * batching (log-probs only to rounding: the product kernel depends on the row count). */
    pst_rng base = *rng;
    pst_rng_u64(rng);
    int rc = -1;
    if (sample_run_open(&s, m, n, max_prompt, n_allowed, err) < 0) goto done;
    for (int i = 0; i < n; i++) {
        out[i].tokens = pst_malloc((o->max_new_tokens > 0 ? o->max_new_tokens : 1) * sizeof(int), err);
        if (!out[i].tokens) goto done;
    }
    for (int first = 0; first < n; first += s.rows) {
        int R = n - first < s.rows ? n - first : s.rows, ni;
        prefill_block(&s, prompts, prompt_lens, first, R, &base);
        while ((ni = decode_step(&s, out + first, first, R, err)) > 0)
            decoder_forward(&s.d, ni, s.item_row, s.item_pos, s.item_tok, s.item_want, s.logits, 1);
        if (ni < 0) goto done;
    }
    rc = 0;
done:
    if (rc) pst_sample_free(out, n);
    sample_run_close(&s);
    return rc;
}

/* ---- scoring -------------------------------------------------------------------- */

typedef struct {
    int len, idx;
} by_len;

static int by_len_cmp(const void *a, const void *b) {
    const by_len *x = a, *y = b;
    if (x->len != y->len) return x->len - y->len;
    return x->idx - y->idx;
}

int pst_gpt2_score(pst_gpt2 *m, const int *const *seqs, const int *lens, const int *prompt_lens,
                   int n, double *logprob, float **token_logprobs, pst_error *err) {
    const pst_gpt2_config *c = &m->config;
    int V = c->vocab_size;
    if (token_logprobs)
        for (int i = 0; i < n; i++) token_logprobs[i] = NULL;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1) return pst_fail(err, "score: sequence %d is empty", i);
        if (prompt_lens[i] < 1 || prompt_lens[i] > lens[i])
            return pst_fail(err, "score: sequence %d: prompt length %d must be in [1, %d]", i,
                            prompt_lens[i], lens[i]);
        if (lens[i] > c->n_positions)
            return pst_fail(err, "score: sequence %d has %d tokens, more than n_positions %d", i,
                            lens[i], c->n_positions);
        for (int t = 0; t < lens[i]; t++)
            if (seqs[i][t] < 0 || seqs[i][t] >= V)
                return pst_fail(err, "score: sequence %d, position %d: token id %d outside [0, %d)",
                                i, t, seqs[i][t], V);
    }
    if (token_logprobs)
        for (int i = 0; i < n; i++) {
            token_logprobs[i] = pst_malloc((lens[i] > 1 ? lens[i] - 1 : 1) * sizeof(float), err);
            if (!token_logprobs[i]) {
                for (int j = 0; j <= i; j++) free(token_logprobs[j]), token_logprobs[j] = NULL;
                return -1;
            }
        }
    /* group sequences of similar length; each group is one padded forward [B, T] */
    by_len *order = pst_malloc((n > 0 ? n : 1) * sizeof *order, err);
    if (!order) return -1;
    for (int i = 0; i < n; i++) order[i] = (by_len){lens[i], i};
    qsort(order, n, sizeof *order, by_len_cmp);
    /* bound the logits [B·T, V] of one forward to ~256 MB and B·T to 8192 */
    long max_tokens = (64l << 20) / V;
    if (max_tokens > 8192) max_tokens = 8192;
    int rc = -1;
    int *tokens = NULL, *targets = NULL;
    int start = 0;
    while (start < n && order[start].len < 2) {
        int i = order[start++].idx;
        logprob[i] = 0; /* nothing to score */
    }
    /* B_max·T_max bounds every group, so the forward's activations (sized for the
     * largest B and the largest T it has seen) stay within max_tokens rows */
    int T_max = n > 0 ? order[n - 1].len - 1 : 0;
    long B_max = T_max > 0 ? max_tokens / T_max : 1;
    if (B_max < 1) B_max = 1;
    while (start < n) {
        int T = 0, B = 0;
        while (start + B < n && B < B_max) T = order[start + B++].len - 1;
        free(tokens), free(targets);
        tokens = pst_malloc((size_t)B * T * sizeof(int), err);
        targets = pst_malloc((size_t)B * T * sizeof(int), err);
        if (!tokens || !targets) goto done;
        for (int b = 0; b < B; b++) {
            const int *s = seqs[order[start + b].idx];
            int len = order[start + b].len;
            for (int t = 0; t < T; t++) {
                tokens[b * T + t] = t < len - 1 ? s[t] : 0;
                targets[b * T + t] = t < len - 1 ? s[t + 1] : -1;
            }
        }
        if (pst_gpt2_forward_logprobs(m, tokens, targets, B, T, err)) {
            pst_fail_context(err, "score");
            goto done;
        }
        for (int b = 0; b < B; b++) {
            int i = order[start + b].idx, len = order[start + b].len;
            const float *lp = m->logprobs + (size_t)b * T;
            double s = 0;
            for (int t = prompt_lens[i] - 1; t < len - 1; t++) s += lp[t];
            logprob[i] = s;
            if (token_logprobs) memcpy(token_logprobs[i], lp, (len - 1) * sizeof(float));
        }
        start += B;
    }
    rc = 0;
done:
    free(tokens), free(targets), free(order);
    if (rc && token_logprobs)
        for (int i = 0; i < n; i++) free(token_logprobs[i]), token_logprobs[i] = NULL;
    return rc;
}

/* ---- distinct-n of samples ---------------------------------------------------- */

static int ngram_eq(const int *a, const int *b, int order) {
    for (int j = 0; j < order; j++)
        if (a[j] != b[j]) return 0;
    return 1;
}

/* FNV-1a of an n-gram, for the distinct-n hash set */
static uint64_t ngram_hash(const int *g, int order) {
    uint64_t h = 1469598103934665603ull;
    for (int j = 0; j < order; j++) h = (h ^ (uint32_t)g[j]) * 1099511628211ull;
    return h;
}

double pst_distinct_n(const int *const *seqs, const int *lens, int n_seqs, int order) {
    size_t total = 0;
    for (int i = 0; i < n_seqs; i++)
        if (lens[i] >= order) total += (size_t)(lens[i] - order + 1);
    if (total == 0) return 0;
    size_t cap = 1;
    while (cap < 2 * total) cap <<= 1;
    const int **slot = calloc(cap, sizeof *slot); /* open addressing: pointer to the n-gram */
    if (!slot) return NAN;
    size_t distinct = 0;
    for (int i = 0; i < n_seqs; i++)
        for (int t = 0; t + order <= lens[i]; t++) {
            const int *g = seqs[i] + t;
            size_t h = (size_t)ngram_hash(g, order) & (cap - 1);
            while (slot[h] && !ngram_eq(slot[h], g, order)) h = (h + 1) & (cap - 1);
            if (!slot[h]) slot[h] = g, distinct++;
        }
    free(slot);
    return (double)distinct / (double)total;
}
