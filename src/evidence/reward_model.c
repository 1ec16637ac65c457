/* A reward model r(x) = w · h_T(x) on a GPT-2 trunk (include/posterior/reward_model.h),
 * and the scorer spec rm:DIR that makes it evidence. */
#include "posterior/reward_model.h"
#include "evidence/scorer_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define EOT "<|endoftext|>"

static pst_gpt2_extra head_extra(pst_reward_model *rm) {
    return (pst_gpt2_extra){PST_REWARD_HEAD_NAME, rm->head, 2, {1, rm->trunk.config.n_embd}, 0};
}

static int load_tokenizer(pst_reward_model *rm, const char *dir, pst_error *err) {
    if (pst_tokenizer_load_dir(&rm->tok, dir, err) < 0) return pst_fail_context(err, "reward model '%s'", dir);
    rm->bos = pst_tokenizer_token_id(rm->tok, EOT);
    return 0;
}

void pst_reward_model_free(pst_reward_model *rm) {
    if (!rm) return;
    pst_gpt2_free(&rm->trunk);
    if (rm->tok) pst_tokenizer_free(rm->tok);
    free(rm->head), free(rm->last), free(rm->dhidden);
    memset(rm, 0, sizeof *rm);
}

/* trunk already loaded: the head's buffer and the defaults */
static int setup(pst_reward_model *rm, pst_error *err) {
    rm->head = pst_calloc((size_t)rm->trunk.config.n_embd, sizeof(float), err);
    rm->bos = -1;
    rm->batch = 16;
    return rm->head ? 0 : -1;
}

int pst_reward_model_init(pst_reward_model *rm, const char *lm_dir, pst_rng *rng, pst_error *err) {
    memset(rm, 0, sizeof *rm);
    if (pst_gpt2_load(&rm->trunk, lm_dir, err) < 0 || setup(rm, err) < 0 || load_tokenizer(rm, lm_dir, err) < 0) {
        pst_reward_model_free(rm);
        return -1;
    }
    for (int i = 0; i < rm->trunk.config.n_embd; i++) rm->head[i] = (float)(0.02 * pst_rng_normal(rng));
    return 0;
}

int pst_reward_model_load(pst_reward_model *rm, const char *dir, int with_tokenizer, pst_error *err) {
    memset(rm, 0, sizeof *rm);
    pst_gpt2_config cfg;
    if (pst_gpt2_load_config(&cfg, dir, err) < 0) return pst_fail_context(err, "reward model '%s'", dir);
    rm->trunk.config = cfg;
    if (setup(rm, err) < 0) return -1;
    pst_gpt2_extra x = head_extra(rm);
    if (pst_gpt2_load_with(&rm->trunk, dir, &x, 1, err) < 0) {
        pst_reward_model_free(rm);
        return pst_fail_context(err, "reward model '%s'", dir);
    }
    if (!x.found) {
        pst_reward_model_free(rm);
        return pst_fail(err, "reward model '%s': no reward head: model.safetensors has no %s [1, %d] (a language "
                        "model directory, not one written by `posterior rm train`)", dir, PST_REWARD_HEAD_NAME,
                        cfg.n_embd);
    }
    if (with_tokenizer && load_tokenizer(rm, dir, err) < 0) {
        pst_reward_model_free(rm);
        return -1;
    }
    return 0;
}

int pst_reward_model_save(const pst_reward_model *rm, const char *dir, pst_error *err) {
    pst_gpt2_extra x = head_extra((pst_reward_model *)rm);
    if (pst_gpt2_save_with(&rm->trunk, dir, &x, 1, "GPT2ForSequenceClassification", err) < 0) return -1;
    return rm->tok ? pst_tokenizer_save_dir(rm->tok, dir, err) : 0;
}

int pst_encode_prompt_text(pst_tokenizer *tok, int bos, int n_positions, const char *context, const char *text,
                           size_t len, int **ids, int *n, int *prompt_len, pst_error *err) {
    *ids = NULL, *n = 0;
    int *c = NULL, *x = NULL, *out = NULL, has_bos = bos >= 0;
    size_t nc = 0, nx = 0;
    if ((context && *context && pst_tokenizer_encode(tok, context, strlen(context), 0, &c, &nc, err) < 0) ||
        pst_tokenizer_encode(tok, text, len, 0, &x, &nx, err) < 0)
        goto fail;
    size_t total = (size_t)has_bos + nc + nx;
    if (total > (size_t)n_positions) {
        pst_fail(err, "%s is %zu tokens (%d for <|endoftext|>, %zu of prompt), longer than the context of %d "
                 "(n_positions)", nc ? "the prompt and text" : "the text", total, has_bos, nc, n_positions);
        goto fail;
    }
    if (total == 0) {
        pst_fail(err, "an empty text (and no <|endoftext|> to read)");
        goto fail;
    }
    out = pst_malloc(total * sizeof *out, err);
    if (!out) goto fail;
    if (has_bos) out[0] = bos;
    if (nc) memcpy(out + has_bos, c, nc * sizeof *out);
    if (nx) memcpy(out + has_bos + nc, x, nx * sizeof *out);
    *ids = out, *n = (int)total;
    if (prompt_len) *prompt_len = has_bos + (int)nc;
    free(c), free(x);
    return 0;
fail:
    free(c), free(x);
    return -1;
}

int pst_reward_model_encode(pst_reward_model *rm, const char *context, const char *text, size_t len, int **ids,
                            int *n, pst_error *err) {
    if (!rm->tok) return pst_fail(err, "reward model: no tokenizer loaded");
    return pst_encode_prompt_text(rm->tok, rm->bos, rm->trunk.config.n_positions, context, text, len, ids, n, NULL,
                                  err);
}

static int ensure_scratch(pst_reward_model *rm, int B, int T, pst_error *err) {
    size_t bt = (size_t)B * T, C = (size_t)rm->trunk.config.n_embd;
    if ((int)bt <= rm->cap_bt && B <= rm->cap_bt) return 0;
    free(rm->last), free(rm->dhidden);
    rm->last = pst_malloc(bt * sizeof(int), err);
    rm->dhidden = pst_calloc(bt * C, sizeof(float), err);
    rm->cap_bt = rm->last && rm->dhidden ? (int)bt : 0;
    return rm->cap_bt ? 0 : -1;
}

int pst_reward_model_forward(pst_reward_model *rm, const int *tokens, const int *lens, int B, int T, double *r,
                             pst_error *err) {
    for (int b = 0; b < B; b++)
        if (lens[b] < 1 || lens[b] > T) return pst_fail(err, "reward model: row %d has length %d, not in [1, %d]", b, lens[b], T);
    if (ensure_scratch(rm, B, T, err) < 0 || pst_gpt2_forward(&rm->trunk, tokens, NULL, B, T, NULL, err) < 0)
        return -1;
    const float *h = pst_gpt2_hidden(&rm->trunk);
    int C = rm->trunk.config.n_embd;
    for (int b = 0; b < B; b++) {
        rm->last[b] = b * T + lens[b] - 1;
        const float *hb = h + (size_t)rm->last[b] * C;
        double s = 0;
        for (int i = 0; i < C; i++) s += (double)rm->head[i] * hb[i];
        r[b] = s;
    }
    return 0;
}

int pst_reward_model_backward(pst_reward_model *rm, const double *dr, float *head_grad, pst_error *err) {
    const pst_gpt2 *m = &rm->trunk;
    int B = m->B, T = m->T, C = m->config.n_embd;
    const float *h = pst_gpt2_hidden(m);
    if (!h || B * T > rm->cap_bt) return pst_fail(err, "reward model backward: needs a forward first");
    memset(rm->dhidden, 0, (size_t)B * T * C * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *hb = h + (size_t)rm->last[b] * C;
        float *db = rm->dhidden + (size_t)rm->last[b] * C;
        for (int i = 0; i < C; i++) {
            head_grad[i] += (float)(dr[b] * hb[i]);
            db[i] = (float)(dr[b] * rm->head[i]);
        }
    }
    return pst_gpt2_backward_hidden(&rm->trunk, NULL, rm->dhidden, err); /* no output head */
}

int pst_reward_model_rewards(pst_reward_model *rm, const int *const *seqs, const int *lens, int n, double *r,
                             pst_error *err) {
    int ctx = rm->trunk.config.n_positions, B = rm->batch > 0 ? rm->batch : 16;
    for (int i0 = 0; i0 < n; i0 += B) {
        int nb = n - i0 < B ? n - i0 : B, T = 1;
        for (int b = 0; b < nb; b++) {
            if (lens[i0 + b] < 1 || lens[i0 + b] > ctx)
                return pst_fail(err, "reward model: sequence %d has %d tokens, not in [1, %d] (the context)", i0 + b,
                                lens[i0 + b], ctx);
            if (lens[i0 + b] > T) T = lens[i0 + b];
        }
        int *tokens = pst_calloc((size_t)nb * T, sizeof(int), err);
        if (!tokens) return -1;
        for (int b = 0; b < nb; b++) memcpy(tokens + (size_t)b * T, seqs[i0 + b], (size_t)lens[i0 + b] * sizeof(int));
        int rc = pst_reward_model_forward(rm, tokens, lens + i0, nb, T, r + i0, err);
        free(tokens);
        if (rc < 0) return -1;
    }
    return 0;
}

/* ---- the scorer rm:DIR --------------------------------------------------------- */

typedef struct {
    pst_reward_model rm;
    pthread_mutex_t lock; /* the model's activations are shared: one batch at a time */
} rm_impl;

static void rm_destroy(void *p) {
    rm_impl *c = p;
    if (!c) return;
    pst_reward_model_free(&c->rm);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int rm_score_locked(rm_impl *c, const char *spec, size_t n, const char *const *texts, const size_t *lens,
                           const char *const *contexts, pst_score *out, pst_error *err) {
    int **ids = pst_calloc(n ? n : 1, sizeof *ids, err), *nid = pst_calloc(n ? n : 1, sizeof *nid, err);
    double *r = pst_calloc(n ? n : 1, sizeof *r, err);
    int rc = ids && nid && r ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (pst_reward_model_encode(&c->rm, contexts ? contexts[i] : NULL, texts[i], lens[i], &ids[i], &nid[i],
                                    err) < 0)
            rc = pst_fail_context(err, "scorer '%s': text %zu", spec, i);
    if (rc == 0 && n) rc = pst_reward_model_rewards(&c->rm, (const int *const *)ids, nid, (int)n, r, err);
    for (size_t i = 0; i < n && rc == 0; i++) out[i].score = r[i];
    for (size_t i = 0; ids && i < n; i++) free(ids[i]);
    free(ids), free(nid), free(r);
    return rc;
}

static int rm_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                    const char *const *contexts, int want_findings, pst_score *out, pst_error *err) {
    rm_impl *c = s->impl;
    pthread_mutex_lock(&c->lock);
    int rc = rm_score_locked(c, s->spec, n, texts, lens, contexts, out, err);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static const pst_scorer_ops rm_ops = {rm_score, rm_destroy};

int pst_scorer_create_rm(const char *spec, size_t len, const char *dir, pst_scorer **out, pst_error *err) {
    *out = NULL;
    if (!*dir) return pst_fail(err, "scorer '%.*s': expected rm:DIR (a reward-model directory)", (int)len, spec);
    pst_scorer *s = pst_scorer_new(spec, len, err);
    rm_impl *c = s ? pst_calloc(1, sizeof *c, err) : NULL;
    if (!c) {
        pst_scorer_free(s);
        return -1;
    }
    pthread_mutex_init(&c->lock, NULL);
    s->ops = &rm_ops;
    s->impl = c;
    s->kind = PST_SCORER_SCORE;
    if (pst_reward_model_load(&c->rm, dir, 1, err) < 0) {
        pst_scorer_free(s);
        return pst_fail_context(err, "scorer '%.*s'", (int)len, spec);
    }
    *out = s;
    return 0;
}
