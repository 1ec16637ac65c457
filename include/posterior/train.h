/* posterior — train layer: maximum-likelihood training of a GPT-2 prior a(x).
 *
 * pst_mle_train runs: windows of token data -> cross-entropy -> backward, accumulated
 * over grad_accum micro-batches -> clip by global norm -> AdamW with linear warmup and
 * cosine decay -> JSONL metrics -> periodic checkpoints. A run directory holds
 *   train_config.json    every option, the model config and the data description
 *   metrics.jsonl        one line per logged step: step, loss, lr, grad_norm, tokens_per_s,
 *                        elapsed_s, op_s (the model's seconds a step by operation since the
 *                        last line: pst_gpt2.op_seconds) (+ val_loss where measured)
 *   checkpoints/ckpt-STEP/   the latest checkpoint (pst_checkpoint, base.h): model/
 *                        (Hugging Face layout, pst_gpt2_save, + tokenizer) and
 *                        training_state.bin (AdamW moments and step, RNG, data position,
 *                        model checksum); checkpoints/latest -> ckpt-STEP
 *   model                a link to checkpoints/latest/model
 * and resume continues from the checkpoint with the losses the uninterrupted run has;
 * a kill at any point leaves a checkpoint to resume from (docs/formats.md).
 */
#ifndef POSTERIOR_TRAIN_H
#define POSTERIOR_TRAIN_H

#include "posterior/prior.h"
#include "posterior/token_source.h"
#include "posterior/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the MLE loop ----------------------------------------------------------------- */

/* Another objective in the same loop (src/train/objectives.c: pretraining with human
 * feedback). micro_step replaces the cross-entropy of one micro-batch: it runs forward
 * and backward itself (gradients accumulated, loss and gradients multiplied by scale =
 * 1/grad_accum) and returns that micro-batch's unscaled loss in *loss. after_update runs
 * after every AdamW update (lr: its learning rate); save writes the objective's files into
 * a checkpoint's model directory (before the checkpoint is committed) and resume reads
 * them back from the resumed checkpoint's model directory. Any of them may be NULL. */
typedef struct {
    void *ctx;
    int (*micro_step)(void *ctx, pst_gpt2 *m, const int *inp, const int *tgt, int B, int T,
                      float scale, double *loss, pst_error *err);
    int (*after_update)(void *ctx, float lr, pst_error *err);
    int (*save)(void *ctx, const char *model_dir, pst_error *err);
    int (*resume)(void *ctx, const char *model_dir, pst_error *err);
    /* Extra fields for the update's metrics line (", \"name\": value" ...), written into
     * buf[cap]; called once per update, after after_update. May be NULL. */
    void (*metrics)(void *ctx, char *buf, size_t cap);
} pst_objective_hook;

typedef struct {
    long steps;          /* optimizer updates in total (a resumed run continues up to it) */
    int grad_accum;      /* micro-batches per update; tokens per update = B·T·grad_accum */
    double lr, lr_min;   /* peak and final learning rate (cosine) */
    long warmup;         /* linear warmup steps */
    double weight_decay, beta1, beta2, eps;
    double clip;         /* max global gradient norm (0: off) */
    uint64_t seed;       /* recorded; the trainer's RNG (saved with the state) */
    const char *out_dir; /* run directory (required) */
    long save_every;     /* checkpoint every this many steps (0: only at the end) */
    long log_every;      /* metrics line every this many steps (the last step always) */
    int resume;          /* continue from out_dir's checkpoint */
    int quiet;           /* no progress line on stderr */
    const char *extra_config_json; /* optional JSON object merged into train_config.json */
    /* Held-out loss: val_batches batches of val (same B and T as the training source),
     * the same windows every time (its position is reset), every val_every steps
     * (0: at checkpoints and at the end); reported as "val_loss". NULL: none. */
    pst_token_source *val;
    long val_every;
    int val_batches;
    const pst_objective_hook *objective; /* NULL: maximum likelihood */
    const pst_tokenizer *tokenizer; /* saved with every checkpoint's model (NULL: none) */
    /* Data parallel (include/posterior/comm.h, docs/scaling.md): NULL or one rank: this
     * process alone. With N ranks, each rank takes rows [rank·B/N, (rank+1)·B/N) of every
     * batch of the same global stream (B = the source's batch, divisible by N), the
     * gradients are summed over ranks in one allreduce per update, and rank 0 alone
     * writes the run directory; the ranks must be given the same options (checked). */
    const struct pst_comm *comm;
} pst_mle_options;

void pst_mle_options_default(pst_mle_options *o);

typedef struct {
    long step;           /* updates done (1-based) */
    double loss;         /* mean cross-entropy of this update's tokens (nats) */
    double lr;
    double grad_norm;    /* before clipping */
    double tokens_per_s;
    double val_loss;     /* NAN when not evaluated at this step */
} pst_mle_step;

/* Called after every update; a non-zero return stops training (after a checkpoint). */
typedef int (*pst_mle_callback)(void *ctx, const pst_mle_step *s);

/* Trains m by maximum likelihood on src. With o->resume, m (whose architecture must be
 * the checkpoint's) is replaced by the latest checkpoint's model and the optimizer, RNG
 * and data position come from its training_state.bin (checked against the model's
 * checksum); metrics.jsonl keeps its lines up to the checkpoint's step. Without it, a
 * run directory that holds a checkpoint is refused. */
int pst_mle_train(pst_gpt2 *m, pst_token_source *src, const pst_mle_options *o,
                  pst_mle_callback cb, void *cb_ctx, pst_error *err);

/* The model directory of out_dir's latest complete checkpoint in model_dir[cap]: returns
 * 1, or 0 when out_dir has no checkpoint, -1 on error. Removes what killed runs left. */
int pst_mle_find_checkpoint(const char *out_dir, char *model_dir, size_t cap, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
