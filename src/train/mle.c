/* Maximum-likelihood training of a GPT-2 prior: data -> cross-entropy -> backward
 * (accumulated) -> clip -> AdamW (warmup + cosine) -> metrics -> checkpoints -> resume.
 *
 * Per update, with k = grad_accum micro-batches of B windows of T tokens:
 *   loss = (1/k) Σ_micro mean_{b,t} −log π(x[b,t+1] | x[b,0..t])
 *   g = ∇loss (backward of dlogprobs = −1/(B·T·k) per token), clipped to ‖g‖ <= clip
 *   θ ← AdamW(θ, g, lr(step)),  lr = warmup then cosine from lr to lr_min
 *
 * Data parallel over N ranks (o->comm): every rank reads the same global stream of
 * batches and takes its rows b ∈ [rank·B/N, (rank+1)·B/N); its micro-batch gradient is
 * scaled by 1/(k·N), so Σ_ranks (one allreduce of the gradient buffer per update) is the
 * gradient of the global mean; the loss is the mean of the ranks' losses. Every rank then
 * clips and steps identically; rank 0 alone writes the run directory.
 */
#include "posterior/train.h"

#include "posterior/comm.h"
#include "posterior/shard.h"
#include "posterior/tokenizer.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the loop ------------------------------------------------------------------------ */

void pst_mle_options_default(pst_mle_options *o) {
    memset(o, 0, sizeof *o);
    o->steps = 1000;
    o->grad_accum = 1;
    o->lr = 6e-4;
    o->lr_min = 6e-5;
    o->warmup = 100;
    o->weight_decay = 0.1;
    o->beta1 = 0.9;
    o->beta2 = 0.95;
    o->eps = 1e-8;
    o->clip = 1.0;
    o->seed = 1;
    o->save_every = 0;
    o->log_every = 1;
    o->val = NULL;
    o->val_every = 0;
    o->val_batches = 8;
}

/* This rank's rows [row0, row0 + nb) of a batch tokens [B, T + 1]: inputs inp [nb, T]
 * (the first T tokens of each row) and targets tgt [nb, T] (the last T). */
static void split_rows(const int *tokens, int row0, int nb, int T, int *inp, int *tgt) {
    for (int b = 0; b < nb; b++) {
        const int *row = tokens + (size_t)(row0 + b) * (T + 1);
        memcpy(inp + (size_t)b * T, row, T * sizeof(int));
        memcpy(tgt + (size_t)b * T, row + 1, T * sizeof(int));
    }
}

/* Mean cross-entropy of val_batches batches of val, from its saved start position
 * pos0 (so every evaluation sees the same tokens). Forward only; with N ranks each
 * measures its rows [row0, row0 + nb) and the mean is (1/N) Σ_ranks (one allreduce). */
static int evaluate(pst_gpt2 *m, pst_token_source *val, const void *pos0, size_t pos0_len, int n_batches,
                    const pst_comm *comm, int row0, int nb, int *tokens, int *inp, int *tgt, double *loss,
                    pst_error *err) {
    int T = val->T;
    if (val->pos_set(val->self, pos0, pos0_len, err)) return pst_fail_context(err, "validation");
    double sum = 0;
    for (int i = 0; i < n_batches; i++) {
        if (val->next(val->self, tokens, err)) return pst_fail_context(err, "validation");
        split_rows(tokens, row0, nb, T, inp, tgt);
        double l;
        if (pst_gpt2_cross_entropy(m, inp, tgt, NULL, nb, T, NULL, &l, err))
            return pst_fail_context(err, "validation");
        sum += l;
    }
    *loss = sum / n_batches;
    if (comm && comm->size > 1) {
        if (pst_comm_allreduce_sum_f64(comm, loss, 1, err)) return -1;
        *loss /= comm->size;
    }
    return 0;
}

/* The data-position blob in training_state.bin: model checksum + the source's position. */
#define STATE_BLOB_MAX 4096

/* train_config.json's text (malloc'd, ends with a newline): every option, the model's
 * configuration, the data's description, the number of ranks and the extra fields. */
static char *train_config_text(const pst_gpt2 *m, const pst_token_source *src, const pst_mle_options *o,
                               const char *path, pst_error *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return pst_fail_oom(err, path), NULL;
    cJSON_AddNumberToObject(root, "steps", (double)o->steps);
    cJSON_AddNumberToObject(root, "batch", src->B);
    cJSON_AddNumberToObject(root, "seq", src->T);
    cJSON_AddNumberToObject(root, "grad_accum", o->grad_accum);
    cJSON_AddNumberToObject(root, "tokens_per_step", (double)src->B * src->T * o->grad_accum);
    cJSON_AddNumberToObject(root, "lr", o->lr);
    cJSON_AddNumberToObject(root, "lr_min", o->lr_min);
    cJSON_AddNumberToObject(root, "warmup", (double)o->warmup);
    cJSON_AddNumberToObject(root, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(root, "beta1", o->beta1);
    cJSON_AddNumberToObject(root, "beta2", o->beta2);
    cJSON_AddNumberToObject(root, "eps", o->eps);
    cJSON_AddNumberToObject(root, "clip", o->clip);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddRawToObject(root, "seed", seed);
    cJSON_AddNumberToObject(root, "save_every", (double)o->save_every);
    cJSON_AddNumberToObject(root, "log_every", (double)o->log_every);
    cJSON_AddNumberToObject(root, "ranks", o->comm ? o->comm->size : 1);
    cJSON_AddStringToObject(root, "data", src->description);
    if (o->val) {
        cJSON_AddStringToObject(root, "val_data", o->val->description);
        cJSON_AddNumberToObject(root, "val_every", (double)o->val_every);
        cJSON_AddNumberToObject(root, "val_batches", o->val_batches);
    }
    cJSON *mc = cJSON_AddObjectToObject(root, "model");
    if (mc) {
        cJSON_AddNumberToObject(mc, "n_layer", m->config.n_layer);
        cJSON_AddNumberToObject(mc, "n_head", m->config.n_head);
        cJSON_AddNumberToObject(mc, "n_embd", m->config.n_embd);
        cJSON_AddNumberToObject(mc, "n_positions", m->config.n_positions);
        cJSON_AddNumberToObject(mc, "vocab_size", m->config.vocab_size);
        cJSON_AddNumberToObject(mc, "num_params", (double)m->num_params);
    }
    if (o->extra_config_json) {
        cJSON *extra = cJSON_Parse(o->extra_config_json);
        if (!extra || !cJSON_IsObject(extra)) {
            cJSON_Delete(extra);
            cJSON_Delete(root);
            return pst_fail(err, "%s: extra config is not a JSON object", path), NULL;
        }
        while (extra->child) {
            cJSON *item = cJSON_DetachItemViaPointer(extra, extra->child);
            cJSON_DeleteItemFromObjectCaseSensitive(root, item->string);
            cJSON_AddItemToObject(root, item->string, item);
        }
        cJSON_Delete(extra);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return pst_fail_oom(err, path), NULL;
    size_t n = strlen(text);
    char *line = pst_realloc(text, n + 2, err);
    if (!line) return free(text), NULL;
    line[n] = '\n', line[n + 1] = 0;
    return line;
}

static int write_train_config(const pst_gpt2 *m, const pst_token_source *src,
                              const pst_mle_options *o, const char *path, pst_error *err) {
    char *text = train_config_text(m, src, o, path, err);
    if (!text) return -1;
    int rc = pst_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

typedef struct {
    char model_link[4096], ckpt_root[4096], metrics[4096], config[4096];
} run_paths;

/* One checkpoint directory (pst_checkpoint_begin/commit): model/ (pst_gpt2_save, the
 * tokenizer, the objective's files) and training_state.bin, whose data blob starts with
 * the model's checksum and the length of the source's position. */
static int checkpoint(const pst_gpt2 *m, const pst_adamw *opt, const pst_rng *rng,
                      pst_token_source *src, const pst_mle_options *o, const run_paths *p,
                      pst_error *err) {
    unsigned char blob[STATE_BLOB_MAX];
    size_t ps = src->pos_size(src->self);
    if (16 + ps > sizeof blob) return pst_fail(err, "data position too large (%zu bytes)", ps);
    uint64_t sum = pst_gpt2_checksum(m), len = ps;
    memcpy(blob, &sum, 8);
    memcpy(blob + 8, &len, 8);
    src->pos_get(src->self, blob + 16);
    pst_checkpoint c;
    char model[4096], state[4096];
    if (pst_checkpoint_begin(&c, p->ckpt_root, opt->step, err)) return pst_fail_context(err, "checkpoint");
    if (pst_path_join(model, sizeof model, c.tmp, "model", err) ||
        pst_path_join(state, sizeof state, c.tmp, "training_state.bin", err) ||
        pst_gpt2_save(m, model, err) || (o->tokenizer && pst_tokenizer_save_dir(o->tokenizer, model, err)) ||
        (o->objective && o->objective->save && o->objective->save(o->objective->ctx, model, err)) ||
        pst_train_state_save(state, opt, m->num_params, rng, blob, 16 + ps, err)) {
        pst_checkpoint_abort(&c);
        return pst_fail_context(err, "checkpoint");
    }
    return pst_checkpoint_commit(&c, err) ? pst_fail_context(err, "checkpoint") : 0;
}

int pst_mle_find_checkpoint(const char *out_dir, char *model_dir, size_t cap, pst_error *err) {
    char root[4096], dir[4096];
    if (pst_path_join(root, sizeof root, out_dir, "checkpoints", err)) return -1;
    int found = pst_checkpoint_find(root, dir, sizeof dir, NULL, err);
    if (found <= 0) return found;
    return pst_path_join(model_dir, cap, dir, "model", err) ? -1 : 1;
}

/* A resumed run must cut its data the same way: batch, seq and grad_accum as recorded,
 * and on as many ranks ("ranks"; 1 when not recorded): the sums over ranks are added in
 * another order on another number of ranks, and --resume continues exactly. */
static int check_resume_config(const pst_token_source *src, const pst_mle_options *o,
                               const char *path, pst_error *err) {
    if (!pst_file_exists(path)) return 0;
    char *text;
    size_t len;
    if (pst_read_file(path, &text, &len, err)) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return pst_fail_field(err, "resume", "resume: %s: bad JSON", path);
    const char *keys[3] = {"batch", "seq", "grad_accum"};
    double now[3] = {src->B, src->T, o->grad_accum};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
        if (cJSON_IsNumber(v) && v->valuedouble != now[i])
            rc = pst_fail_field(err, "resume", "resume: %s is %g now but the run used %g (%s); resume with the same value",
                          keys[i], now[i], v->valuedouble, path);
    }
    const cJSON *ranks = cJSON_GetObjectItemCaseSensitive(root, "ranks");
    int was = cJSON_IsNumber(ranks) ? ranks->valueint : 1, now_ranks = o->comm ? o->comm->size : 1;
    if (rc == 0 && was != now_ranks)
        rc = pst_fail_field(err, "resume", "resume: the run in %s was trained on %d rank%s and is resumed on %d; "
                            "resume it on %d (mpirun -np %d), since sums over another number of ranks differ in "
                            "the last bits", path, was, was == 1 ? "" : "s", now_ranks, was, was);
    cJSON_Delete(root);
    return rc;
}

static int resume(pst_gpt2 *m, pst_adamw *opt, pst_rng *rng, pst_token_source *src,
                  const pst_mle_options *o, const run_paths *p, pst_error *err) {
    char dir[4096], model[4096], state[4096], diff[256];
    int found = pst_checkpoint_find(p->ckpt_root, dir, sizeof dir, NULL, err);
    if (found < 0) return pst_fail_context(err, "resume");
    if (found == 0) return pst_fail_field(err, "resume", "resume: %s has no checkpoint (no %s/ckpt-STEP)", o->out_dir, p->ckpt_root);
    if (pst_path_join(model, sizeof model, dir, "model", err) ||
        pst_path_join(state, sizeof state, dir, "training_state.bin", err))
        return -1;
    pst_gpt2 loaded;
    if (pst_gpt2_load(&loaded, model, err)) return pst_fail_context(err, "resume");
    if (pst_gpt2_config_diff(&loaded.config, &m->config, diff, sizeof diff)) {
        pst_gpt2_free(&loaded);
        return pst_fail_field(err, "resume", "resume: the checkpoint's model (%s) has %s as given to continue; resume "
                        "with the run's architecture", model, diff);
    }
    pst_gpt2_free(m);
    *m = loaded;
    unsigned char blob[STATE_BLOB_MAX];
    size_t blen = 0;
    if (pst_train_state_load(state, opt, m->num_params, rng, blob, sizeof blob, &blen, err))
        return pst_fail_context(err, "resume");
    uint64_t sum, len;
    if (blen < 16) return pst_fail_field(err, "resume", "resume: %s: data position missing", state);
    memcpy(&sum, blob, 8);
    memcpy(&len, blob + 8, 8);
    if (sum != pst_gpt2_checksum(m))
        return pst_fail_field(err, "resume", "resume: %s does not belong to the model in %s", state, model);
    if (len != blen - 16) return pst_fail_field(err, "resume", "resume: %s: bad data position length", state);
    if (src->pos_set(src->self, blob + 16, (size_t)len, err))
        return pst_fail_context(err, "resume: %s", state);
    if (o->objective && o->objective->resume && o->objective->resume(o->objective->ctx, model, err))
        return pst_fail_context(err, "resume");
    return 0;
}

/* What a failed run leaves to resume from, for its error message. */
static const char *kept_note(char *buf, size_t cap, long saved) {
    if (saved < 0) snprintf(buf, cap, "no checkpoint was written");
    else snprintf(buf, cap, "the checkpoint of step %ld is kept", saved);
    return buf;
}

/* The options and data against the model: what must hold before a run starts. */
static int check_options(const pst_gpt2 *m, const pst_token_source *src, const pst_mle_options *o, pst_error *err) {
    if (!o->out_dir) return pst_fail(err, "train: an output directory is required");
    if (o->steps < 1) return pst_fail(err, "train: steps must be >= 1, got %ld", o->steps);
    if (o->grad_accum < 1) return pst_fail(err, "train: grad_accum must be >= 1, got %d", o->grad_accum);
    if (!(o->lr > 0) || !(o->lr_min >= 0) || o->lr_min > o->lr)
        return pst_fail(err, "train: need lr > 0 and 0 <= lr_min <= lr (lr %g, lr_min %g)", o->lr,
                        o->lr_min);
    if (o->warmup < 0 || o->save_every < 0 || o->log_every < 1 || !(o->clip >= 0))
        return pst_fail(err, "train: warmup, save_every, clip must be >= 0 and log_every >= 1");
    int B = src->B, T = src->T;
    if (o->val && (o->val->B != B || o->val->T != T || o->val_batches < 1 || o->val_every < 0))
        return pst_fail(err, "train: the validation data needs the training batch and seq, "
                        "val_batches >= 1 and val_every >= 0");
    if (o->val && o->val->max_id >= m->config.vocab_size)
        return pst_fail(err, "train: the validation data has token id %d, outside the model's vocabulary [0, %d)",
                        o->val->max_id, m->config.vocab_size);
    if (T > m->config.n_positions)
        return pst_fail(err, "train: seq %d exceeds the model's n_positions %d", T, m->config.n_positions);
    if (src->max_id >= m->config.vocab_size)
        return pst_fail(err, "train: the data has token id %d, outside the model's vocabulary [0, %d)",
                        src->max_id, m->config.vocab_size);
    int N = o->comm ? o->comm->size : 1;
    if (B % N)
        return pst_fail_field(err, "batch", "the batch %d is the global batch, split over %d ranks: it must be "
                              "a multiple of %d (e.g. %d)", B, N, N, (B / N + 1) * N);
    if (N > 1 && o->objective) return pst_fail(err, "this objective does not run data parallel yet: run it on one rank");
    return 0;
}

/* The run folder's paths (created, stale temporaries removed, by the writer: rank 0). */
static int make_run_paths(const char *out_dir, int writer, run_paths *p, pst_error *err) {
    return (writer && (pst_mkdir_p(out_dir, err) || pst_remove_stale_tmp(out_dir, err))) ||
                   pst_path_join(p->model_link, sizeof p->model_link, out_dir, "model", err) ||
                   pst_path_join(p->ckpt_root, sizeof p->ckpt_root, out_dir, "checkpoints", err) ||
                   pst_path_join(p->metrics, sizeof p->metrics, out_dir, "metrics.jsonl", err) ||
                   pst_path_join(p->config, sizeof p->config, out_dir, "train_config.json", err)
               ? -1
               : 0;
}

/* One run of pst_mle_train: its state and buffers. */
typedef struct {
    pst_gpt2 *m;
    pst_token_source *src;
    const pst_mle_options *o;
    const pst_comm *comm;
    run_paths p;
    int B, T;
    int row0, nb, writer;         /* this rank's rows [row0, row0 + nb) of B; writer: rank 0 */
    pst_adamw opt;
    pst_rng rng;
    pst_metrics metrics;
    unsigned char *mask;          /* weight-decay mask */
    int *tokens, *inp, *tgt;      /* [B, T + 1] rows; inputs and targets [B, T] */
    float *dlogprobs;             /* [B, T] */
    unsigned char *val_pos0;      /* where every evaluation starts */
    size_t val_pos0_len;
    long saved;                   /* the step of the last checkpoint (-1: none) */
    double op_logged[PST_GPT2_OPS]; /* m->op_seconds at the last metrics line */
    long op_logged_step;
} mle_run;

/* Resumes the run in out_dir (o->resume), or refuses a folder that already holds one;
 * then points out/model at the latest checkpoint's model. */
static int start_or_resume(mle_run *r, pst_error *err) {
    const pst_mle_options *o = r->o;
    if (o->resume) {
        if (check_resume_config(r->src, o, r->p.config, err) || resume(r->m, &r->opt, &r->rng, r->src, o, &r->p, err))
            return -1;
    } else {
        char dir[4096];
        int found = pst_checkpoint_find(r->p.ckpt_root, dir, sizeof dir, NULL, err);
        if (found) {
            if (found > 0)
                pst_fail_field(err, "out_dir", "%s already holds a training run (%s); resume it or use another directory",
                               o->out_dir, dir);
            return -1;
        }
    }
    /* out/model: the latest checkpoint's model, through checkpoints/latest */
    if (r->writer && pst_symlink_atomic("checkpoints/latest/model", r->p.model_link, err))
        return pst_fail_context(err, "train: %s must be this run's link to its latest model", o->out_dir);
    return 0;
}

/* The buffers, the validation source's starting position, train_config.json and the
 * metrics file. */
static int run_buffers(mle_run *r, pst_error *err) {
    const pst_mle_options *o = r->o;
    size_t BT = (size_t)r->nb * r->T;
    r->mask = pst_gpt2_decay_mask(r->m, err);
    r->tokens = pst_malloc((size_t)r->B * (r->T + 1) * sizeof(int), err);
    r->inp = pst_malloc(BT * sizeof(int), err);
    r->tgt = pst_malloc(BT * sizeof(int), err);
    r->dlogprobs = pst_malloc(BT * sizeof(float), err);
    if (!r->mask || !r->tokens || !r->inp || !r->tgt || !r->dlogprobs) return -1;
    if (o->val) { /* every evaluation starts where the validation source starts now */
        r->val_pos0_len = o->val->pos_size(o->val->self);
        r->val_pos0 = pst_malloc(r->val_pos0_len ? r->val_pos0_len : 1, err);
        if (!r->val_pos0) return -1;
        o->val->pos_get(o->val->self, r->val_pos0);
    }
    long resume_step = o->resume ? r->opt.step : -1;
    if (!r->writer) return 0;
    if (write_train_config(r->m, r->src, o, r->p.config, err) ||
        pst_metrics_open(&r->metrics, r->p.metrics, resume_step, err))
        return -1;
    return 0;
}

/* The gradient of one update: grad = ∇ (1/k) Σ_micro loss over k = grad_accum micro-
 * batches (each micro-batch's gradient scaled by 1/k); *loss the mean loss. With N ranks
 * each rank's rows are 1/N of the batch: its gradient is scaled by 1/(k·N) and the sum
 * over ranks (one allreduce of the whole gradient buffer) is the global batch's; the loss
 * is (1/N) Σ_ranks of the ranks' mean losses. */
static int accumulate_update(mle_run *r, long step, double *loss, pst_error *err) {
    const pst_mle_options *o = r->o;
    int B = r->nb, T = r->T, N = r->comm ? r->comm->size : 1;
    size_t BT = (size_t)B * T;
    char kept[96];
    *loss = 0;
    pst_gpt2_zero_grad(r->m);
    for (int micro = 0; micro < o->grad_accum; micro++) {
        if (r->src->next(r->src->self, r->tokens, err)) return pst_fail_context(err, "train: step %ld", step + 1);
        split_rows(r->tokens, r->row0, B, T, r->inp, r->tgt);
        double l;
        float scale = 1.0f / ((float)o->grad_accum * (float)N);
        if (o->objective && o->objective->micro_step) {
            if (o->objective->micro_step(o->objective->ctx, r->m, r->inp, r->tgt, B, T, scale, &l, err) ||
                (!isfinite(l) && pst_fail(err, "loss is %g", l)))
                return pst_fail_context(err, "train: step %ld", step + 1);
            *loss += l / o->grad_accum;
            continue;
        }
        if (pst_gpt2_cross_entropy(r->m, r->inp, r->tgt, NULL, B, T, r->dlogprobs, &l, err) ||
            (!isfinite(l) && pst_fail(err, "loss is %g", l)))
            return pst_fail_context(err, "train: step %ld (%s)", step + 1, kept_note(kept, sizeof kept, r->saved));
        /* the update's loss is the mean over micro-batches: scale each one's gradient */
        for (size_t i = 0; i < BT; i++) r->dlogprobs[i] *= scale;
        if (pst_gpt2_backward(r->m, r->dlogprobs, err)) return -1;
        *loss += l / o->grad_accum;
    }
    if (N > 1) {
        if (pst_comm_allreduce_sum_f32(r->comm, r->m->grad_memory, r->m->num_params, err) ||
            pst_comm_allreduce_sum_f64(r->comm, loss, 1, err))
            return -1;
        *loss /= N;
    }
    return 0;
}

/* Clip ‖g‖ to clip, then AdamW at lr(step) (warmup + cosine); *norm the norm before. */
static int apply_update(mle_run *r, long step, float *norm, float *lr, pst_error *err) {
    const pst_mle_options *o = r->o;
    char kept[96];
    *norm = pst_grad_norm(r->m->grad_memory, r->m->num_params);
    if (!isfinite(*norm))
        return pst_fail(err, "train: step %ld: gradient norm is %g (%s)", step + 1, (double)*norm,
                        kept_note(kept, sizeof kept, r->saved));
    *lr = pst_lr_schedule(step, o->warmup, o->steps, (float)o->lr, (float)o->lr_min);
    pst_adamw_update(&r->opt, r->m->param_memory, r->m->grad_memory, pst_clip_scale(*norm, (float)o->clip), r->mask,
                     r->m->num_params, *lr);
    if (o->objective && o->objective->after_update && o->objective->after_update(o->objective->ctx, *lr, err))
        return -1;
    return 0;
}

/* The step's metrics line: every log_every steps, at the end, and where val_loss was measured. */
static void log_step(mle_run *r, const pst_mle_step *s, double t_start) {
    const pst_mle_options *o = r->o;
    char val_field[320] = "";
    if (!isnan(s->val_loss)) snprintf(val_field, sizeof val_field, ", \"val_loss\": %.9g", s->val_loss);
    if (o->objective && o->objective->metrics) {
        size_t vl = strlen(val_field);
        o->objective->metrics(o->objective->ctx, val_field + vl, sizeof val_field - vl);
    }
    if (!(r->opt.step % o->log_every == 0 || r->opt.step == o->steps || !isnan(s->val_loss))) return;
    /* op_s: the model's seconds a step by operation since the last line (pst_gpt2.op_seconds) */
    char op_field[256] = ", \"op_s\": {";
    long steps = s->step - r->op_logged_step > 0 ? s->step - r->op_logged_step : 1;
    for (int op = 0; op < PST_GPT2_OPS; op++) {
        size_t n = strlen(op_field);
        snprintf(op_field + n, sizeof op_field - n, "%s\"%s\": %.4f", op ? ", " : "", pst_gpt2_op_name(op),
                 (r->m->op_seconds[op] - r->op_logged[op]) / (double)steps);
        r->op_logged[op] = r->m->op_seconds[op];
    }
    r->op_logged_step = s->step;
    strncat(op_field, "}", sizeof op_field - strlen(op_field) - 1);
    pst_metrics_write(&r->metrics,
                      "\"step\": %ld, \"loss\": %.9g, \"lr\": %.9g, \"grad_norm\": %.9g, "
                      "\"tokens_per_s\": %.1f, \"elapsed_s\": %.3f%s%s",
                      s->step, s->loss, s->lr, s->grad_norm, s->tokens_per_s, pst_now() - t_start, op_field, val_field);
}

/* Every rank must run the same training: the same train_config.json text (every option,
 * the data's description) and the same initial model (checksum). Collective. */
static int agree_on_run(const pst_gpt2 *m, const pst_token_source *src, const pst_mle_options *o, pst_error *err) {
    if (!o->comm || o->comm->size < 2) return 0;
    char *text = train_config_text(m, src, o, "train_config.json", err);
    if (!text) return -1; /* this rank alone: the program ends the job */
    uint64_t sum = pst_gpt2_checksum(m);
    int rc = pst_comm_agree(o->comm, text, strlen(text), "options (train_config.json)", err) ||
             pst_comm_agree(o->comm, &sum, sizeof sum, "initial models (checksum)", err);
    free(text);
    return rc ? -1 : 0;
}

/* Everything before the first step, in phases that every rank ends together
 * (pst_comm_check: a failure on any rank fails all, reported once by rank 0): the
 * options; the folder and the optimizer, with what killed runs left removed by rank 0
 * alone (pst_checkpoint_find); the start or resume (every rank reads the checkpoint);
 * the buffers and rank 0's train_config.json and metrics file. */
static int setup(mle_run *r, pst_error *err) {
    const pst_mle_options *o = r->o;
    if (agree_on_run(r->m, r->src, o, err)) return -1;
    if (pst_comm_check(r->comm, check_options(r->m, r->src, o, err), err)) return -1;
    char dir[4096];
    int rc = make_run_paths(o->out_dir, r->writer, &r->p, err) ||
             pst_adamw_create(&r->opt, r->m->num_params, (float)o->beta1, (float)o->beta2, (float)o->eps,
                              (float)o->weight_decay, err) ||
             (r->writer && pst_checkpoint_find(r->p.ckpt_root, dir, sizeof dir, NULL, err) < 0);
    if (pst_comm_check(r->comm, rc ? -1 : 0, err) ||
        pst_comm_check(r->comm, start_or_resume(r, err), err) ||
        pst_comm_check(r->comm, run_buffers(r, err), err))
        return -1;
    return 0;
}

int pst_mle_train(pst_gpt2 *m, pst_token_source *src, const pst_mle_options *o,
                  pst_mle_callback cb, void *cb_ctx, pst_error *err) {
    mle_run r = {.m = m, .src = src, .o = o, .comm = o->comm, .B = src->B, .T = src->T};
    int rank = o->comm ? o->comm->rank : 0, N = o->comm ? o->comm->size : 1;
    r.nb = r.B / N, r.row0 = rank * r.nb, r.writer = rank == 0;
    int rc = -1;
    pst_rng_seed(&r.rng, o->seed);
    if (setup(&r, err)) goto done;
    r.saved = o->resume ? r.opt.step : -1;

    pst_progress prog;
    pst_progress_start(&prog, "train", o->steps);
    if (o->quiet || !r.writer) prog.enabled = 0;
    double tokens_per_update = (double)r.B * r.T * o->grad_accum;
    double t_start = pst_now();
    long first = r.opt.step;
    memcpy(r.op_logged, m->op_seconds, sizeof r.op_logged);
    r.op_logged_step = first;
    for (long step = r.opt.step; step < o->steps; step++) {
        double t0 = pst_now(), loss;
        float norm = 0, lr = 0;
        if (accumulate_update(&r, step, &loss, err) || apply_update(&r, step, &norm, &lr, err)) goto done;
        double dt = pst_now() - t0;
        pst_mle_step s = {r.opt.step, loss, lr, norm, dt > 0 ? tokens_per_update / dt : 0, NAN};
        int is_save = r.opt.step == o->steps || (o->save_every > 0 && r.opt.step % o->save_every == 0);
        if (o->val && (o->val_every > 0 ? r.opt.step % o->val_every == 0 || r.opt.step == o->steps : is_save) &&
            evaluate(m, o->val, r.val_pos0, r.val_pos0_len, o->val_batches, r.comm, r.row0, r.nb, r.tokens, r.inp,
                     r.tgt, &s.val_loss, err))
            goto done;
        log_step(&r, &s, t_start);
        char extra[64];
        snprintf(extra, sizeof extra, "loss %.4f", loss);
        double el = pst_now() - t_start;
        pst_progress_update(&prog, r.opt.step, el > 0 ? (r.opt.step - first) * tokens_per_update / el : 0, extra);
        int stop = cb && cb(cb_ctx, &s);
        if (stop || is_save) { /* rank 0 writes it; every rank goes on once it is committed */
            if (pst_comm_check(r.comm, r.writer ? checkpoint(m, &r.opt, &r.rng, src, o, &r.p, err) : 0, err))
                goto done;
            r.saved = r.opt.step;
        }
        if (stop) break;
    }
    pst_progress_finish(&prog);
    rc = 0;
done:
    pst_metrics_close(&r.metrics);
    pst_adamw_free(&r.opt);
    free(r.mask), free(r.tokens), free(r.inp), free(r.tgt), free(r.dlogprobs), free(r.val_pos0);
    return rc;
}
