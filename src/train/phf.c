/* Pretraining with human feedback: a scored token source (with control tokens for
 * conditional training) and the objectives plugged into the MLE loop (pst_objective_hook).
 *
 * Per micro-batch: forward → logprobs [B, T] (and for AWR the final hidden states h
 * [B, T, C], values V = h·v + b) → pst_objective_loss → dlogprobs (and dV) →
 * pst_gpt2_backward_hidden(dlogprobs, dh = dV ⊗ v); the value head's own gradients
 * ∂/∂v = Σ dV_i h_i, ∂/∂b = Σ dV_i, updated by its own AdamW after every update. */
#include "posterior/pretrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- scored source ------------------------------------------------------------------ */

typedef struct {
    pst_shard shard;
    pst_loader loader;
    int B, T;
    int control, aligned_id, misaligned_id;
    double drop_fraction;
    pst_rng drop_rng; /* split by segment index: the drop decision of each segment */
    /* the stream after dropped control tokens: a FIFO of (token, score) */
    int *q_tok;
    float *q_score;
    size_t q_len, q_cap;
    float *scores; /* [B, T + 1] of the last batch */
} phf_source;

static int segment_dropped(const phf_source *s, int64_t segment) {
    if (s->drop_fraction <= 0 || segment < 0) return 0;
    pst_rng r = pst_rng_split(&s->drop_rng, (uint64_t)segment);
    return pst_rng_uniform(&r) < s->drop_fraction;
}

static int phf_next(void *self, int *tokens, pst_error *err) {
    phf_source *s = self;
    size_t BT = (size_t)s->B * s->T;
    if (s->drop_fraction <= 0) { /* the loader's stream as it is: row b = positions b·T .. b·T + T */
        int rc = pst_loader_next(&s->loader, err);
        if (rc < 0) return -1;
        if (rc == 0) return pst_fail(err, "%s: the loader produced no batch", s->shard.path);
        for (int b = 0; b < s->B; b++) {
            memcpy(tokens + (size_t)b * (s->T + 1), s->loader.tokens + (size_t)b * s->T,
                   (size_t)(s->T + 1) * sizeof(int));
            memcpy(s->scores + (size_t)b * (s->T + 1), s->loader.scores + (size_t)b * s->T,
                   (size_t)(s->T + 1) * sizeof(float));
        }
        return 0;
    }
    while (s->q_len < BT + 1) {
        int rc = pst_loader_next(&s->loader, err);
        if (rc < 0) return -1;
        if (rc == 0) return pst_fail(err, "%s: the loader produced no batch", s->shard.path);
        if (s->q_len + BT > s->q_cap) {
            size_t cap = 2 * (s->q_len + BT);
            int *t = pst_realloc(s->q_tok, cap * sizeof *t, err);
            if (t) s->q_tok = t;
            float *f = pst_realloc(s->q_score, cap * sizeof *f, err);
            if (f) s->q_score = f;
            if (!t || !f) return -1;
            s->q_cap = cap;
        }
        for (size_t i = 0; i < BT; i++) { /* positions [0, B·T): the last is re-read next time */
            int tok = s->loader.tokens[i];
            if (s->control && (tok == s->aligned_id || tok == s->misaligned_id) &&
                segment_dropped(s, s->loader.segments[i]))
                continue;
            s->q_tok[s->q_len] = tok;
            s->q_score[s->q_len++] = s->loader.scores[i];
        }
    }
    for (int b = 0; b < s->B; b++) { /* row b = stream positions b·T .. b·T + T */
        memcpy(tokens + (size_t)b * (s->T + 1), s->q_tok + (size_t)b * s->T, (size_t)(s->T + 1) * sizeof(int));
        memcpy(s->scores + (size_t)b * (s->T + 1), s->q_score + (size_t)b * s->T,
               (size_t)(s->T + 1) * sizeof(float));
    }
    memmove(s->q_tok, s->q_tok + BT, (s->q_len - BT) * sizeof(int));
    memmove(s->q_score, s->q_score + BT, (s->q_len - BT) * sizeof(float));
    s->q_len -= BT;
    return 0;
}

static size_t phf_pos_size(void *self) {
    (void)self;
    return sizeof(pst_loader_pos);
}

static void phf_pos_get(void *self, void *buf) {
    phf_source *s = self;
    pst_loader_pos p;
    pst_loader_get_pos(&s->loader, &p);
    memcpy(buf, &p, sizeof p);
}

static int phf_pos_set(void *self, const void *buf, size_t len, pst_error *err) {
    phf_source *s = self;
    if (s->drop_fraction > 0)
        return pst_fail_field(err, "drop_fraction", "a conditional run with drop_fraction > 0 cannot be resumed (the "
                        "stream without the dropped control tokens keeps no position); start it "
                        "again or finetune from its model");
    pst_loader_pos p;
    if (len != sizeof p) return pst_fail(err, "data position: %zu bytes, expected a shard position", len);
    memcpy(&p, buf, sizeof p);
    return pst_loader_set_pos(&s->loader, &p, err);
}

static void phf_destroy(void *self) {
    phf_source *s = self;
    if (!s) return;
    pst_loader_free(&s->loader);
    pst_shard_close(&s->shard);
    free(s->q_tok), free(s->q_score), free(s->scores);
    free(s);
}

int pst_phf_source(pst_token_source *src, const char *path, int B, int T, uint64_t seed,
                   int aligned_id, int misaligned_id, double threshold, double drop_fraction,
                   pst_error *err) {
    memset(src, 0, sizeof *src);
    if (B < 1 || T < 1) return pst_fail(err, "data: batch (%d) and seq (%d) must be >= 1", B, T);
    if (!(drop_fraction >= 0 && drop_fraction < 1))
        return pst_fail(err, "drop fraction %g must be in [0, 1)", drop_fraction);
    phf_source *s = pst_calloc(1, sizeof *s, err);
    if (!s) return -1;
    if (pst_shard_open(&s->shard, path, err)) {
        free(s);
        return -1;
    }
    s->B = B, s->T = T;
    if (pst_loader_init(&s->loader, &s->shard, B, T, 1, 1, seed, err)) {
        pst_shard_close(&s->shard);
        free(s);
        return -1;
    }
    int max_id = (int)s->shard.vocab_size - 1;
    if (aligned_id >= 0) {
        if (pst_loader_set_control(&s->loader, (float)threshold, aligned_id, misaligned_id, err)) {
            phf_destroy(s);
            return -1;
        }
        s->control = 1, s->aligned_id = aligned_id, s->misaligned_id = misaligned_id;
        s->drop_fraction = drop_fraction;
        pst_rng_seed(&s->drop_rng, seed ^ 0x44524f50ull); /* "DROP" */
        max_id = aligned_id > max_id ? aligned_id : max_id;
        max_id = misaligned_id > max_id ? misaligned_id : max_id;
    }
    s->scores = pst_malloc((size_t)B * (T + 1) * sizeof(float), err);
    if (!s->scores) {
        phf_destroy(s);
        return -1;
    }
    src->self = s;
    src->B = B, src->T = T, src->max_id = max_id;
    snprintf(src->description, sizeof src->description,
             "scored shard %s (%llu tokens, %llu documents, shuffled, seed %llu%s)", path,
             (unsigned long long)s->shard.n_tokens, (unsigned long long)s->shard.n_documents,
             (unsigned long long)seed, s->control ? ", control tokens" : "");
    src->next = phf_next;
    src->pos_size = phf_pos_size;
    src->pos_get = phf_pos_get;
    src->pos_set = phf_pos_set;
    src->destroy = phf_destroy;
    return 0;
}

const float *pst_phf_source_scores(const pst_token_source *src) {
    return src && src->next == phf_next ? ((const phf_source *)src->self)->scores : NULL;
}

int pst_phf_batch(pst_gpt2 *m, pst_value_head *vh, pst_objective obj, const pst_phf_params *p,
                  const int *inp, const int *tgt, const float *scores, int B, int T, float scale,
                  pst_objective_result *r, pst_error *err) {
    if (obj == PST_OBJECTIVE_AWR && (!vh || vh->C != m->config.n_embd))
        return pst_fail(err, "objective awr needs a value head of the model's width %d", m->config.n_embd);
    if (obj != PST_OBJECTIVE_AWR) vh = NULL;
    size_t BT = (size_t)B * T;
    int C = m->config.n_embd, rc = -1;
    float *dlogprobs = pst_malloc(BT * sizeof(float), err), *values = NULL, *dvalues = NULL, *dhidden = NULL;
    if (vh) {
        values = pst_malloc(BT * sizeof(float), err);
        dvalues = pst_malloc(BT * sizeof(float), err);
        dhidden = pst_malloc(BT * (size_t)C * sizeof(float), err);
    }
    if (!dlogprobs || (vh && (!values || !dvalues || !dhidden))) goto done;
    if (pst_gpt2_forward(m, inp, tgt, B, T, NULL, err)) goto done;
    const float *h = vh ? pst_gpt2_hidden(m) : NULL;
    for (size_t i = 0; vh && i < BT; i++) { /* V_i = v·h_i + b */
        double v = vh->param[C];
        for (int j = 0; j < C; j++) v += (double)vh->param[j] * h[i * C + j];
        values[i] = (float)v;
    }
    if (pst_objective_loss(obj, p, BT, m->logprobs, scores, tgt, values, scale, dlogprobs, dvalues, r, err))
        goto done;
    for (size_t i = 0; vh && i < BT; i++) { /* ∂/∂h_i = dV_i·v, ∂/∂v += dV_i·h_i, ∂/∂b += dV_i */
        float dv = dvalues[i];
        for (int j = 0; j < C; j++) {
            dhidden[i * C + j] = dv * vh->param[j];
            vh->grad[j] += dv * h[i * C + j];
        }
        vh->grad[C] += dv;
    }
    if (pst_gpt2_backward_hidden(m, dlogprobs, dhidden, err)) goto done;
    rc = 0;
done:
    free(dlogprobs), free(values), free(dvalues), free(dhidden);
    return rc;
}

/* ---- the objective hook ------------------------------------------------------------- */

typedef struct {
    pst_objective obj;
    pst_phf_params p;
    pst_token_source *src;
    pst_value_head vh;
    int has_vh;
    float *scores; /* [B·T] the targets' scores */
    /* sums over the micro-batches of the current update, for the metrics line */
    double sum_lm, sum_value, sum_misaligned;
    int n_micro;
} phf_ctx;

static int phf_micro_step(void *vctx, pst_gpt2 *m, const int *inp, const int *tgt, int B, int T,
                          float scale, double *loss, pst_error *err) {
    phf_ctx *c = vctx;
    const float *src_scores = pst_phf_source_scores(c->src);
    int token_scores = c->obj == PST_OBJECTIVE_UNLIKELIHOOD || c->obj == PST_OBJECTIVE_RWR ||
                       c->obj == PST_OBJECTIVE_AWR;
    if (token_scores && !src_scores)
        return pst_fail(err, "objective %s needs a scored source", pst_objective_name(c->obj));
    if (src_scores) /* the score of target [b, t] is that of stream row b, position t + 1 */
        for (int b = 0; b < B; b++)
            memcpy(c->scores + (size_t)b * T, src_scores + (size_t)b * (T + 1) + 1, T * sizeof(float));
    pst_objective_result r;
    if (pst_phf_batch(m, c->has_vh ? &c->vh : NULL, c->obj, &c->p, inp, tgt, src_scores ? c->scores : NULL,
                      B, T, scale, &r, err))
        return -1;
    *loss = r.loss;
    c->sum_lm += r.lm_loss, c->sum_value += r.value_loss, c->sum_misaligned += r.misaligned_fraction;
    c->n_micro++;
    return 0;
}

/* lm_loss (plain mean −logprob), misaligned_fraction (of scored targets), value_loss (AWR) */
static void phf_metrics(void *vctx, char *buf, size_t cap) {
    phf_ctx *c = vctx;
    int k = c->n_micro ? c->n_micro : 1;
    char nb[3][32]; /* JSON null where not finite (a diverged run) */
    const char *lm = pst_json_number(nb[0], c->sum_lm / k, 9), *mis = pst_json_number(nb[1], c->sum_misaligned / k, 6),
               *val = pst_json_number(nb[2], c->sum_value / k, 9);
    if (!pst_phf_source_scores(c->src))
        snprintf(buf, cap, ", \"lm_loss\": %s", lm);
    else if (c->has_vh)
        snprintf(buf, cap, ", \"lm_loss\": %s, \"misaligned_fraction\": %s, \"value_loss\": %s", lm, mis, val);
    else
        snprintf(buf, cap, ", \"lm_loss\": %s, \"misaligned_fraction\": %s", lm, mis);
    c->sum_lm = c->sum_value = c->sum_misaligned = 0;
    c->n_micro = 0;
}

static int phf_after_update(void *vctx, float lr, pst_error *err) {
    phf_ctx *c = vctx;
    (void)err;
    if (!c->has_vh) return 0;
    size_t n = (size_t)c->vh.C + 1;
    pst_adamw_update(&c->vh.opt, c->vh.param, c->vh.grad, NULL, n, lr);
    memset(c->vh.grad, 0, n * sizeof(float));
    return 0;
}

/* The value head (with its AdamW state) beside the checkpoint's model, and back. */
static int phf_save(void *vctx, const char *model_dir, pst_error *err) {
    phf_ctx *c = vctx;
    return c->has_vh ? pst_value_head_save(&c->vh, model_dir, err) : 0;
}

static int phf_resume(void *vctx, const char *model_dir, pst_error *err) {
    phf_ctx *c = vctx;
    return c->has_vh ? pst_value_head_load(&c->vh, model_dir, 1, err) : 0;
}

int pst_phf_train(pst_gpt2 *m, pst_token_source *src, pst_objective obj, const pst_phf_params *p,
                  const pst_mle_options *o, const char *init_value_dir, pst_mle_callback cb,
                  void *cb_ctx, pst_error *err) {
    if ((obj == PST_OBJECTIVE_UNLIKELIHOOD || obj == PST_OBJECTIVE_RWR || obj == PST_OBJECTIVE_AWR ||
         obj == PST_OBJECTIVE_CONDITIONAL) && !pst_phf_source_scores(src))
        return pst_fail(err, "objective %s needs a scored shard source", pst_objective_name(obj));
    phf_ctx c = {0};
    c.obj = obj, c.p = *p, c.src = src;
    size_t BT = (size_t)src->B * src->T;
    int rc = -1;
    c.scores = pst_malloc(BT * sizeof(float), err);
    if (!c.scores) goto done;
    if (obj == PST_OBJECTIVE_AWR) {
        if (pst_value_head_create(&c.vh, m->config.n_embd, err)) goto done;
        c.has_vh = 1;
        char path[4096];
        if (!o->resume && init_value_dir &&
            pst_path_join(path, sizeof path, init_value_dir, "value_head.safetensors", err) == 0 &&
            pst_file_exists(path) && pst_value_head_load(&c.vh, init_value_dir, 0, err))
            goto done;
    }
    pst_objective_hook hook = {&c, phf_micro_step, phf_after_update, phf_save, phf_resume, phf_metrics};
    pst_mle_options oo = *o;
    oo.objective = &hook;
    rc = pst_mle_train(m, src, &oo, cb, cb_ctx, err);
done:
    if (c.has_vh) pst_value_head_free(&c.vh);
    free(c.scores);
    return rc;
}
