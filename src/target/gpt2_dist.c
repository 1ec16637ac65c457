/* The GPT-2 prior / policy as a pst_distribution (include/posterior/prior.h).
 *
 * A context is a prompt of token ids; an unconditional sample continues the single
 * eot token. Scoring and training see the sequence prompt ++ continuation and count
 * only the continuation's log-probs. The gradient of Σ_i c_i·log π(x_i) is one
 * forward/backward with dlogprobs[b, t] = −c_b on the continuation positions (the
 * loss is −Σ c_i log π), then an AdamW step on that loss. */
#include "posterior/target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pst_gpt2 model;
    pst_gpt2_policy_options opt;
    pst_adamw adam;
    int adam_ready;
    unsigned char *decay_mask;
    char *source_dir; /* tokenizer files are copied from here on save */
} gpt2_dist;

void pst_gpt2_policy_options_default(pst_gpt2_policy_options *o) {
    memset(o, 0, sizeof *o);
    pst_sample_options_default(&o->sampling);
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = 0.0f;
    o->grad_clip = 1.0f;
    o->micro_batch = 16;
}

static int eot_of(const gpt2_dist *g) {
    int eot = g->opt.sampling.eot_token;
    return eot >= 0 && eot < g->model.config.vocab_size ? eot : g->model.config.vocab_size - 1;
}

static int gd_score(void *self, const pst_seq *contexts, const pst_sample *xs, int n, double *logprob,
                    pst_error *err);

/* Samples drawn with bf16 weights carry q_bf16's log-probs (pst_sample_options.bf16_weights):
 * logprob_proposal stays (log q, exact for the distribution drawn from), logprob_model
 * becomes log π of the fp32 model, as the distribution interface promises. One scoring pass. */
static int rescore_model(gpt2_dist *g, const pst_seq *contexts, pst_sample *out, int n, pst_error *err) {
    double *lp = pst_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1), err);
    int rc = lp ? gd_score(g, contexts, out, n, lp, err) : -1;
    for (int i = 0; rc == 0 && i < n; i++) out[i].logprob_model = lp[i];
    free(lp);
    if (rc < 0) pst_sample_free(out, n);
    return rc;
}

/* Rows [first, first + count) of the batch of n: row i from stream first_stream + i, and
 * max_new_tokens cut to the room left by the batch's longest context, so that every
 * split of a batch draws the sequences of one call (pst_distribution_ops.sample_rows). */
static int gd_sample_rows(void *self, const pst_seq *contexts, int n, int first, int count, pst_rng *rng,
                          pst_sample *out, pst_error *err) {
    gpt2_dist *g = self;
    if (count <= 0) { /* none of the rows here: the caller's stream advances as for the batch */
        if (n > 0) pst_rng_u64(rng);
        return 0;
    }
    const int **prompts = pst_malloc(sizeof(int *) * (size_t)(n > 0 ? n : 1), err);
    int *lens = pst_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1), err);
    if (!prompts || !lens) {
        free(prompts), free(lens);
        return -1;
    }
    int eot = eot_of(g);
    for (int i = 0; i < n; i++) {
        int has = contexts && contexts[i].n > 0;
        prompts[i] = has ? contexts[i].tokens : &eot;
        lens[i] = has ? contexts[i].n : 1;
    }
    pst_sample_options so = g->opt.sampling;
    so.eot_token = eot;
    int room = g->model.config.n_positions;
    for (int i = 0; i < n; i++)
        if (room - lens[i] < so.max_new_tokens) so.max_new_tokens = room - lens[i] > 0 ? room - lens[i] : 0;
    so.first_stream += (uint64_t)first;
    int rc = pst_gpt2_sample(&g->model, (const int *const *)prompts + first, lens + first, count, &so, rng, out, err);
    free(prompts), free(lens);
    if (rc == 0 && so.bf16_weights) rc = rescore_model(g, contexts ? contexts + first : NULL, out, count, err);
    return rc;
}

static int gd_sample(void *self, const pst_seq *contexts, int n, pst_rng *rng, pst_sample *out, pst_error *err) {
    return gd_sample_rows(self, contexts, n, 0, n, rng, out, err);
}

static float *gd_gradient(void *self, size_t *n) {
    gpt2_dist *g = self;
    *n = g->model.grad_memory ? g->model.num_params : 0;
    return g->model.grad_memory;
}

/* Builds the full sequences prompt ++ continuation (malloc'd rows). */
static int build_seqs(const gpt2_dist *g, const pst_seq *contexts, const pst_sample *xs, int n, int **seqs,
                      int *lens, int *plens, pst_error *err) {
    int eot = eot_of(g);
    for (int i = 0; i < n; i++) seqs[i] = NULL;
    for (int i = 0; i < n; i++) {
        int has = contexts && contexts[i].n > 0, pl = has ? contexts[i].n : 1;
        int len = pl + xs[i].n_tokens;
        if (len > g->model.config.n_positions)
            return pst_fail(err, "gpt2: sequence %d has %d tokens with its prompt, more than n_positions %d", i, len,
                            g->model.config.n_positions);
        seqs[i] = pst_malloc(sizeof(int) * (size_t)len, err);
        if (!seqs[i]) return -1;
        if (has) memcpy(seqs[i], contexts[i].tokens, sizeof(int) * pl);
        else seqs[i][0] = eot;
        memcpy(seqs[i] + pl, xs[i].tokens, sizeof(int) * xs[i].n_tokens);
        lens[i] = len;
        plens[i] = pl;
    }
    return 0;
}

static void free_seqs(int **seqs, int n) {
    for (int i = 0; i < n; i++) free(seqs[i]);
}

static int gd_score(void *self, const pst_seq *contexts, const pst_sample *xs, int n, double *logprob,
                    pst_error *err) {
    gpt2_dist *g = self;
    int **seqs = pst_calloc((size_t)(n > 0 ? n : 1), sizeof(int *), err);
    int *lens = pst_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1), err);
    int *plens = pst_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1), err);
    int rc = -1;
    if (!seqs || !lens || !plens) goto done;
    if (build_seqs(g, contexts, xs, n, seqs, lens, plens, err) < 0) goto done;
    rc = pst_gpt2_score(&g->model, (const int *const *)seqs, lens, plens, n, logprob, NULL, err);
done:
    if (seqs) free_seqs(seqs, n);
    free(seqs), free(lens), free(plens);
    return rc;
}

/* grad += ∇θ Σ_i c_i·log π(x_i | c_i) over the given rows (all of them), one forward and
 * backward pass per micro-batch; logprob (may be NULL) gets log π of the same pass. */
static int accumulate_rows(gpt2_dist *g, const pst_seq *contexts, const pst_sample *xs, const double *coef, int n,
                           double *logprob, pst_error *err) {
    int mb = g->opt.micro_batch > 0 ? g->opt.micro_batch : n;
    int **seqs = pst_calloc((size_t)(n > 0 ? n : 1), sizeof(int *), err);
    int *lens = pst_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1), err);
    int *plens = pst_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1), err);
    int *tokens = NULL, *targets = NULL;
    float *dl = NULL;
    int rc = -1;
    if (!seqs || !lens || !plens) goto done;
    if (build_seqs(g, contexts, xs, n, seqs, lens, plens, err) < 0) goto done;
    int maxT = 1;
    for (int i = 0; i < n; i++)
        if (lens[i] - 1 > maxT) maxT = lens[i] - 1;
    tokens = pst_malloc(sizeof(int) * (size_t)mb * maxT, err);
    targets = pst_malloc(sizeof(int) * (size_t)mb * maxT, err);
    dl = pst_malloc(sizeof(float) * (size_t)mb * maxT, err);
    if (!tokens || !targets || !dl) goto done;
    for (int b0 = 0; b0 < n; b0 += mb) {
        int B = n - b0 < mb ? n - b0 : mb, T = 1;
        for (int b = 0; b < B; b++)
            if (lens[b0 + b] - 1 > T) T = lens[b0 + b] - 1;
        /* row b: tokens = seq[0..T), targets = seq[1..T]; continuation positions t >= plen − 1 */
        for (int b = 0; b < B; b++) {
            int i = b0 + b;
            for (int t = 0; t < T; t++) {
                int in = t < lens[i] - 1;
                tokens[b * T + t] = t < lens[i] ? seqs[i][t] : 0;
                targets[b * T + t] = in ? seqs[i][t + 1] : 0;
                dl[b * T + t] = in && t >= plens[i] - 1 ? (float)-coef[i] : 0.0f;
            }
        }
        if (pst_gpt2_forward(&g->model, tokens, targets, B, T, NULL, err) < 0) goto done;
        if (logprob)
            for (int b = 0; b < B; b++) {
                int i = b0 + b;
                double s = 0;
                for (int t = plens[i] - 1; t < lens[i] - 1; t++) s += g->model.logprobs[b * T + t];
                logprob[i] = s;
            }
        if (pst_gpt2_backward(&g->model, dl, err) < 0) goto done;
    }
    rc = 0;
done:
    if (seqs) free_seqs(seqs, n);
    free(seqs), free(lens), free(plens), free(tokens), free(targets), free(dl);
    return rc;
}

/* A sample with c_i = 0 adds exactly 0 to the gradient, so only the samples with c_i != 0
 * go through the forward / backward pass (DPG: every sample with P(x) = 0); the others are
 * scored by a forward pass alone when their log π is wanted, else skipped. At least one
 * sample goes through the backward pass, so that the gradient buffer exists. */
static int gd_accumulate(void *self, const pst_seq *contexts, const pst_sample *xs, const double *coef, int n,
                         double *logprob, pst_error *err) {
    gpt2_dist *g = self;
    if (n <= 0) return accumulate_rows(g, contexts, xs, coef, n, logprob, err);
    pst_seq *cs = contexts ? pst_malloc(sizeof *cs * (size_t)n, err) : NULL;
    pst_sample *ys = pst_malloc(sizeof *ys * (size_t)n, err);
    double *cf = pst_malloc(sizeof *cf * (size_t)n, err), *lp = pst_malloc(sizeof *lp * (size_t)n, err);
    int *row = pst_malloc(sizeof *row * (size_t)n, err), rc = -1;
    if ((contexts && !cs) || !ys || !cf || !lp || !row) goto done;
    /* rows [0, k): c_i != 0 (or the last sample when every c_i is 0); rows [k, n): the rest */
    int k = 0, z = n;
    for (int i = 0; i < n; i++) {
        int keep = coef[i] != 0 || (k == 0 && i == n - 1);
        int r = keep ? k++ : --z;
        if (cs) cs[r] = contexts[i];
        ys[r] = xs[i], cf[r] = coef[i], row[r] = i;
    }
    if (accumulate_rows(g, cs, ys, cf, k, logprob ? lp : NULL, err) < 0) goto done;
    if (logprob && k < n && gd_score(g, cs ? cs + k : NULL, ys + k, n - k, lp + k, err) < 0) goto done;
    if (logprob)
        for (int r = 0; r < n; r++) logprob[row[r]] = lp[r];
    rc = 0;
done:
    free(cs), free(ys), free(cf), free(lp), free(row);
    return rc;
}

/* Token-level pass (pst_token_fn): per micro-batch one forward; fn sees each row's
 * continuation positions t = plen − 1 .. len − 2 (log-probs and the final hidden states
 * there); with backward, one backward pass on the loss −J (dlogprobs = −∂J/∂logprob,
 * dhidden = −∂J/∂h), so that gd_step's descent increases J. */
static int gd_hidden_size(void *self) { return ((gpt2_dist *)self)->model.config.n_embd; }

static int gd_token_pass(void *self, const pst_seq *contexts, const pst_sample *xs, int n, int backward,
                         pst_token_fn fn, void *fn_ctx, pst_error *err) {
    gpt2_dist *g = self;
    int mb = g->opt.micro_batch > 0 ? g->opt.micro_batch : n, C = g->model.config.n_embd;
    size_t rows = (size_t)(n > 0 ? n : 1);
    int **seqs = pst_calloc(rows, sizeof(int *), err);
    int *lens = pst_malloc(sizeof(int) * rows, err), *plens = pst_malloc(sizeof(int) * rows, err);
    int *tokens = NULL, *targets = NULL, rc = -1, maxT = 1;
    float *dl = NULL, *dh = NULL;
    if (!seqs || !lens || !plens || build_seqs(g, contexts, xs, n, seqs, lens, plens, err) < 0) goto done;
    for (int i = 0; i < n; i++)
        if (lens[i] - 1 > maxT) maxT = lens[i] - 1;
    size_t cells = (size_t)mb * maxT;
    tokens = pst_malloc(sizeof(int) * cells, err);
    targets = pst_malloc(sizeof(int) * cells, err);
    dl = pst_malloc(sizeof(float) * cells, err);
    dh = backward ? pst_malloc(sizeof(float) * cells * C, err) : NULL;
    if (!tokens || !targets || !dl || (backward && !dh)) goto done;
    for (int b0 = 0; b0 < n; b0 += mb) {
        int B = n - b0 < mb ? n - b0 : mb, T = 1;
        for (int b = 0; b < B; b++)
            if (lens[b0 + b] - 1 > T) T = lens[b0 + b] - 1;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const int *sq = seqs[b0 + b];
                tokens[b * T + t] = t < lens[b0 + b] ? sq[t] : 0;
                targets[b * T + t] = t < lens[b0 + b] - 1 ? sq[t + 1] : 0;
            }
        int rc_f = backward ? pst_gpt2_forward(&g->model, tokens, targets, B, T, NULL, err)
                            : pst_gpt2_forward_logprobs(&g->model, tokens, targets, B, T, err);
        if (rc_f < 0) goto done;
        const float *h = pst_gpt2_hidden(&g->model);
        memset(dl, 0, sizeof(float) * (size_t)B * T);
        if (dh) memset(dh, 0, sizeof(float) * (size_t)B * T * C);
        for (int b = 0; b < B; b++) {
            size_t at = (size_t)b * T + plens[b0 + b] - 1;
            int Ti = lens[b0 + b] - plens[b0 + b];
            if (fn(fn_ctx, b0 + b, Ti, g->model.logprobs + at, h + at * C, C, dh ? dl + at : NULL,
                   dh ? dh + at * C : NULL, err) != 0)
                goto done;
        }
        if (!backward) continue;
        for (size_t k = 0; k < (size_t)B * T; k++) dl[k] = -dl[k];
        for (size_t k = 0; k < (size_t)B * T * C; k++) dh[k] = -dh[k];
        if (pst_gpt2_backward_hidden(&g->model, dl, dh, err) < 0) goto done;
    }
    rc = 0;
done:
    if (seqs) free_seqs(seqs, n);
    free(seqs), free(lens), free(plens), free(tokens), free(targets), free(dl), free(dh);
    return rc;
}

static void gd_zero_grad(void *self) {
    gpt2_dist *g = self;
    pst_gpt2_zero_grad(&g->model);
}

static int ensure_adam(gpt2_dist *g, pst_error *err) {
    if (g->adam_ready) return 0;
    if (pst_adamw_create(&g->adam, g->model.num_params, g->opt.beta1, g->opt.beta2, g->opt.eps,
                         g->opt.weight_decay, err) < 0)
        return -1;
    g->decay_mask = pst_gpt2_decay_mask(&g->model, err);
    if (!g->decay_mask) {
        pst_adamw_free(&g->adam);
        return -1;
    }
    g->adam_ready = 1;
    return 0;
}

/* AdamW on the loss −Σ c log π: descent on it is ascent on Σ c log π. */
static int gd_step(void *self, double lr, pst_error *err) {
    gpt2_dist *g = self;
    if (!g->model.grad_memory) return pst_fail(err, "gpt2 step: no gradient accumulated");
    if (ensure_adam(g, err) < 0) return -1;
    float norm = pst_grad_norm(g->model.grad_memory, g->model.num_params);
    if (!isfinite(norm)) return pst_fail(err, "gpt2 step: gradient norm is %g (NaN/inf); parameters left unchanged", norm);
    pst_adamw_update(&g->adam, g->model.param_memory, g->model.grad_memory, pst_clip_scale(norm, g->opt.grad_clip),
                     g->decay_mask, g->model.num_params,
                     (float)lr);
    return 0;
}

static void gd_destroy(void *self) {
    gpt2_dist *g = self;
    if (!g) return;
    pst_gpt2_free(&g->model);
    if (g->adam_ready) pst_adamw_free(&g->adam);
    free(g->decay_mask);
    free(g->source_dir);
    free(g);
}

static void gd_view(gpt2_dist *g, pst_distribution *d);

static int gd_clone(void *self, pst_distribution *out, pst_error *err) {
    gpt2_dist *g = self, *c = pst_calloc(1, sizeof *c, err);
    if (!c) return -1;
    c->opt = g->opt;
    if (pst_gpt2_create(&c->model, &g->model.config, err) < 0) {
        free(c);
        return -1;
    }
    memcpy(c->model.param_memory, g->model.param_memory, sizeof(float) * g->model.num_params);
    c->source_dir = g->source_dir ? strdup(g->source_dir) : NULL;
    gd_view(c, out);
    return 0;
}

/* The model directory (loadable by `posterior` and `transformers`), the tokenizer
 * files of the source model, and optimizer.bin (AdamW moments) when training. */
static int gd_save(void *self, const char *dir, pst_error *err) {
    gpt2_dist *g = self;
    if (pst_gpt2_save(&g->model, dir, err) < 0) return -1;
    static const char *const tok_files[] = {"vocab.json", "merges.txt", "added_tokens.json"};
    char src[4096], dst[4096];
    for (int i = 0; g->source_dir && i < 3; i++) {
        if (pst_path_join(src, sizeof src, g->source_dir, tok_files[i], err) < 0 ||
            pst_path_join(dst, sizeof dst, dir, tok_files[i], err) < 0)
            return -1;
        if (!pst_file_exists(src) || strcmp(src, dst) == 0) continue;
        char *data;
        size_t len;
        if (pst_read_file(src, &data, &len, err) < 0) return -1;
        int rc = pst_write_file_atomic(dst, data, len, err);
        free(data);
        if (rc < 0) return -1;
    }
    if (g->adam_ready) {
        pst_rng none = {{0, 0, 0, 0}};
        if (pst_path_join(dst, sizeof dst, dir, "optimizer.bin", err) < 0 ||
            pst_train_state_save(dst, &g->adam, g->model.num_params, &none, NULL, 0, err) < 0)
            return -1;
    }
    return 0;
}

static int gd_load(void *self, const char *dir, pst_error *err) {
    gpt2_dist *g = self;
    pst_gpt2 m;
    if (pst_gpt2_load(&m, dir, err) < 0) return -1;
    if (m.num_params != g->model.num_params) {
        pst_gpt2_free(&m);
        return pst_fail(err, "%s: the model has %zu parameters, the policy %zu", dir, m.num_params,
                        g->model.num_params);
    }
    pst_gpt2_free(&g->model);
    g->model = m;
    char path[4096];
    if (pst_path_join(path, sizeof path, dir, "optimizer.bin", err) < 0) return -1;
    if (pst_file_exists(path)) {
        pst_rng none;
        if (ensure_adam(g, err) < 0) return -1;
        if (pst_train_state_load(path, &g->adam, g->model.num_params, &none, NULL, 0, NULL, err) < 0) return -1;
    }
    return 0;
}

static const pst_distribution_ops gd_ops = {
    .name = "gpt2", .sample = gd_sample, .score = gd_score, .accumulate = gd_accumulate, .zero_grad = gd_zero_grad,
    .step = gd_step, .clone = gd_clone, .save = gd_save, .load = gd_load, .destroy = gd_destroy,
    .hidden_size = gd_hidden_size, .token_pass = gd_token_pass, .sample_rows = gd_sample_rows,
    .gradient = gd_gradient};

pst_gpt2 *pst_gpt2_distribution_model(pst_distribution *d) {
    return d && d->ops == &gd_ops ? &((gpt2_dist *)d->self)->model : NULL;
}

/* An owned instance over g. */
static void gd_view(gpt2_dist *g, pst_distribution *d) {
    *d = (pst_distribution){.ops = &gd_ops, .self = g, .owned = 1};
}

/* A new instance with options o (NULL: the defaults) and no model yet. */
static gpt2_dist *gd_new(const pst_gpt2_policy_options *o, pst_error *err) {
    gpt2_dist *g = pst_calloc(1, sizeof *g, err);
    if (!g) return NULL;
    if (o) g->opt = *o;
    else pst_gpt2_policy_options_default(&g->opt);
    return g;
}

int pst_gpt2_distribution_load(const char *dir, const pst_gpt2_policy_options *o, pst_distribution *d,
                               pst_error *err) {
    gpt2_dist *g = gd_new(o, err);
    if (!g) return -1;
    if (pst_gpt2_load(&g->model, dir, err) < 0) {
        free(g);
        return pst_fail_context(err, "model '%s'", dir);
    }
    if (!(g->source_dir = pst_strdup(dir, err))) {
        gd_destroy(g);
        return -1;
    }
    gd_view(g, d);
    return 0;
}

int pst_gpt2_distribution_from(const pst_gpt2 *m, const pst_gpt2_policy_options *o, pst_distribution *d,
                               pst_error *err) {
    gpt2_dist *g = gd_new(o, err);
    if (!g) return -1;
    if (pst_gpt2_create(&g->model, &m->config, err) < 0) {
        free(g);
        return -1;
    }
    memcpy(g->model.param_memory, m->param_memory, sizeof(float) * m->num_params);
    gd_view(g, d);
    return 0;
}
