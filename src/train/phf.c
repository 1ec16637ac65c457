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

int pst_phf_source(pst_token_source *src, const char *path, int B, int T, uint64_t seed,
                   int aligned_id, int misaligned_id, double threshold, double drop_fraction,
                   pst_error *err) {
    pst_shard_source_options o = {.shuffle = 1, .scores = 1, .aligned_id = aligned_id,
                                  .misaligned_id = misaligned_id, .threshold = threshold,
                                  .drop_fraction = drop_fraction};
    return pst_token_source_shard_with(src, path, B, T, seed, &o, err);
}

const float *pst_phf_source_scores(const pst_token_source *src) { return pst_token_source_scores(src); }

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
    pst_adamw_update(&c->vh.opt, c->vh.param, c->vh.grad, 1.0f, NULL, n, lr);
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
