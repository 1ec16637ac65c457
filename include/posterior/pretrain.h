/* posterior — pretraining with human feedback (Korbak et al. 2023, "Pretraining Language
 * Models with Human Preferences"). docs/pretraining.md has the formulas and defaults.
 *
 * Every token carries the score s of its segment (a prepared, scored shard); the reward
 * is R = −s and a segment is aligned iff s <= t (threshold t). With N the number of
 * target positions of a batch (target >= 0), logprob_i = log π(x_i | x_<i):
 *   mle           loss = (1/N) Σ −logprob_i
 *   filter        mle on the documents whose mean segment score is <= t
 *   conditional   mle on a stream where each segment is preceded by <|aligned|> (s <= t)
 *                 or <|misaligned|> (a fraction drop_fraction of segments gets neither);
 *                 samples start from <|endoftext|><|aligned|>, both control ids banned
 *   unlikelihood  loss = (1/N) [Σ_{s_i <= t} −logprob_i + α Σ_{s_i > t} −log(1 − π(x_i|x_<i))]
 *   rwr           loss = (1/N) Σ w_i·(−logprob_i),  w_i = min(exp(R_i/β), w_max)
 *   awr           loss = α·(1/N) Σ w_i·(−logprob_i) + (1 − α)·(1/N) Σ (V_i − R_i)²,
 *                 w_i = min(exp((R_i − V_i)/β), w_max) (a constant: no gradient through w;
 *                 the value sum runs over scored positions only),
 *                 V_i = v·h_i + b_v on the final hidden state h_i [C] of the position
 *                 that predicts x_i; ∂loss/∂h_i = (1 − α)·2(V_i − R_i)/N · v flows into the
 *                 transformer (pst_gpt2_backward_hidden).
 * Positions whose target has no score (NaN: <|endoftext|>) count as aligned with R = 0 and
 * have no value loss; positions with target −1 are ignored.
 * Their evaluation (samples, LM loss, KL to a reference): posterior/eval.h.
 */
#ifndef POSTERIOR_PRETRAIN_H
#define POSTERIOR_PRETRAIN_H

#include "posterior/prior.h"
#include "posterior/scorer.h"
#include "posterior/shard.h"
#include "posterior/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PST_OBJECTIVE_MLE = 0,
    PST_OBJECTIVE_FILTER,
    PST_OBJECTIVE_CONDITIONAL,
    PST_OBJECTIVE_UNLIKELIHOOD,
    PST_OBJECTIVE_RWR,
    PST_OBJECTIVE_AWR
} pst_objective;

#define PST_NUM_OBJECTIVES 6
#define PST_ALIGNED_TOKEN "<|aligned|>"
#define PST_MISALIGNED_TOKEN "<|misaligned|>"

/* "mle", "filter", ...; an unknown name is an error listing the six. */
int pst_objective_parse(const char *name, pst_objective *out, pst_error *err);
const char *pst_objective_name(pst_objective o);
/* 1 for the objectives that need segment scores (all but mle). */
int pst_objective_needs_scores(pst_objective o);

/* The hyper-parameters of the objectives. */
typedef struct {
    double threshold;      /* t: aligned iff s <= t */
    double ul_alpha;       /* unlikelihood α */
    double rwr_beta;       /* RWR β */
    double awr_alpha;      /* AWR α (weight of the LM term) */
    double awr_beta;       /* AWR β */
    double weight_clip;    /* w_max for RWR and AWR */
    double drop_fraction;  /* conditional: fraction of segments without a control token */
} pst_phf_params;

/* Per-task defaults, the one table of them (src/train/objectives.c; docs/pretraining.md). */
typedef struct {
    const char *task;          /* toxicity, pii, pep8 */
    const char *corpus;        /* for posterior prepare, corpora joined with "+" */
    const char *scorer;        /* scorer spec */
    const char *segmenter;     /* sentence / line (posterior prepare --segments) */
    pst_phf_params params;
    double misaligned_above;   /* evaluation: a sample "fails" when its score > this */
    double filter_percentile;  /* filter: t = this percentile of the documents' mean scores
                                  (NaN: params.threshold) */
} pst_phf_task;

/* NULL (and an error naming the three tasks) for an unknown task. */
const pst_phf_task *pst_phf_task_get(const char *task, pst_error *err);
const pst_phf_task *pst_phf_task_at(int i); /* i in [0, 3), else NULL */

/* ---- per-token losses (pure functions, tested against hand / PyTorch numbers) -------- */

typedef struct {
    double loss;          /* the objective's loss for this batch */
    double lm_loss;       /* plain mean −logprob over the same positions */
    double value_loss;    /* AWR: mean (V − R)² over scored positions (else 0) */
    double misaligned_fraction; /* of positions with a score */
    long n;               /* positions counted (target >= 0) */
} pst_objective_result;

/* n positions: logprobs[n], scores[n] (score of the target token; NaN = none), targets[n]
 * (−1 = ignore). values[n] (V_i) only for AWR, else NULL. Writes dlogprobs[n] =
 * ∂loss/∂logprobs and, for AWR, dvalues[n] = ∂loss/∂V_i. Objectives filter and
 * conditional compute mle here (their difference is in the data). scale multiplies the
 * loss and both gradients (gradient accumulation: 1/k). */
int pst_objective_loss(pst_objective obj, const pst_phf_params *p, size_t n,
                       const float *logprobs, const float *scores, const int *targets,
                       const float *values, float scale, float *dlogprobs, float *dvalues,
                       pst_objective_result *out, pst_error *err);

/* Token weight of RWR / AWR: min(exp(advantage/β), w_max). */
double pst_phf_weight(double advantage, double beta, double weight_clip);

/* ---- shards ------------------------------------------------------------------------ */

/* Errors unless the shard has scores (a scorer in its header and a non-NaN score). */
int pst_phf_check_scored(const pst_shard *s, pst_error *err);
/* Score range [min, max] over the scored segments. */
int pst_phf_score_range(const pst_shard *s, double *min, double *max, pst_error *err);
/* The q-th percentile (q in [0, 100], linear interpolation) of the segments' scores. */
int pst_phf_score_percentile(const pst_shard *s, double q, double *t, pst_error *err);
/* The q-th percentile of the documents' mean segment scores (pst_phf_document_score). */
int pst_phf_document_percentile(const pst_shard *s, double q, double *t, pst_error *err);
/* Mean score of the segments with score > t (misaligned); errors if there is none.
 * --beta-auto sets β (RWR, AWR) to it: a typical misaligned token gets weight 1/e. */
int pst_phf_misaligned_mean(const pst_shard *s, double t, double *mean, pst_error *err);
/* Errors when t lies outside [min, max] of the shard's scores. */
int pst_phf_check_threshold(const pst_shard *s, double t, pst_error *err);
/* Mean segment score of document d (NaN segments skipped; NaN if none). */
double pst_phf_document_score(const pst_shard *s, uint64_t d);
/* Writes out_path: the documents of s whose mean segment score is <= t (filtering). */
int pst_phf_filter_shard(const pst_shard *s, double t, const char *out_path, uint64_t *kept_docs,
                         uint64_t *kept_tokens, pst_error *err);

/* ---- a token source with scores ---------------------------------------------------- */

/* Like pst_token_source_shard (rows of T + 1 consecutive stream tokens, documents
 * shuffled per epoch), and also the target scores of the last batch. With control
 * (aligned_id >= 0), each segment is preceded by its control token except a fraction
 * drop_fraction of segments (decided per segment from seed). pst_phf_source_scores
 * returns [B, T + 1] floats aligned with the tokens of the last batch. The position is
 * the loader's (resumable) unless drop_fraction > 0 (then restoring it is an error). */
int pst_phf_source(pst_token_source *src, const char *path, int B, int T, uint64_t seed,
                   int aligned_id, int misaligned_id, double threshold, double drop_fraction,
                   pst_error *err);
const float *pst_phf_source_scores(const pst_token_source *src);

/* ---- the value head V(h) = v·h + b ------------------------------------------------ */

typedef struct {
    int C;
    float *param;   /* [C + 1]: v then b */
    float *grad;    /* [C + 1] */
    pst_adamw opt;
} pst_value_head;

int pst_value_head_create(pst_value_head *vh, int C, pst_error *err);
void pst_value_head_free(pst_value_head *vh);
/* dir/value_head.safetensors: "value_head.weight" [C], "value_head.bias" [1] and the AdamW
 * moments "value_head.adam_m", "value_head.adam_v" [C + 1], F32, the step in __metadata__
 * "adam_step". Load reads the moments and step only with with_optimizer (a resumed run). */
int pst_value_head_save(const pst_value_head *vh, const char *dir, pst_error *err);
int pst_value_head_load(pst_value_head *vh, const char *dir, int with_optimizer, pst_error *err);

/* ---- training ---------------------------------------------------------------------- */

/* One micro-batch of objective obj: forward on inp [B, T] with targets tgt, the loss (r) and
 * its gradients ACCUMULATED into m->grads and, for AWR, vh->grad (vh: NULL for the other
 * objectives), all multiplied by scale. scores [B, T]: the targets' scores (NULL for mle,
 * filter, conditional). */
int pst_phf_batch(pst_gpt2 *m, pst_value_head *vh, pst_objective obj, const pst_phf_params *p,
                  const int *inp, const int *tgt, const float *scores, int B, int T, float scale,
                  pst_objective_result *r, pst_error *err);

/* Trains m with objective obj on src (a pst_phf_source for the feedback objectives;
 * any source for mle), through pst_mle_train's loop (o as for MLE, o->resume included). For
 * AWR the value head is created (or, without o->resume, loaded from init_value_dir when that
 * holds value_head.safetensors) and saved beside the model at every checkpoint with its
 * AdamW state, which a resumed run reads back from its checkpoint. */
int pst_phf_train(pst_gpt2 *m, pst_token_source *src, pst_objective obj, const pst_phf_params *p,
                  const pst_mle_options *o, const char *init_value_dir, pst_mle_callback cb,
                  void *cb_ctx, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
