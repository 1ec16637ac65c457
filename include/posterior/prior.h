/* posterior — prior layer: a GPT-2-family causal language model a(x) / π_θ(x).
 *
 * Train (forward, backward, AdamW), sample (KV cache; temperature / top-k / top-p /
 * banned ids), score exact log-probs, load and save Hugging Face GPT-2 directories.
 * This layer knows nothing of tokenizers, scorers or targets: it sees token ids.
 *
 * Shapes below: B batch, T time, C = n_embd, L = n_layer, NH = n_head,
 * V = vocab_size, maxT = n_positions. All tensors fp32, row-major. Linear weights
 * are stored as Hugging Face's Conv1D stores them: [in, out], so y = x·W + b.
 */
#ifndef POSTERIOR_PRIOR_H
#define POSTERIOR_PRIOR_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n_layer, n_head, n_embd, n_positions, vocab_size;
    float layer_norm_epsilon; /* GPT-2: 1e-5 */
} pst_gpt2_config;

/* The parameters, in this order, are views into one contiguous buffer.
 * Hugging Face names (with layer index i) are given for the checkpoint code. */
#define PST_GPT2_NUM_TENSORS 16
typedef struct {
    float *wte;       /* [V, C]        wte.weight (also the tied output embedding) */
    float *wpe;       /* [maxT, C]     wpe.weight */
    float *ln1w;      /* [L, C]        h.i.ln_1.weight */
    float *ln1b;      /* [L, C]        h.i.ln_1.bias */
    float *qkvw;      /* [L, C, 3C]    h.i.attn.c_attn.weight */
    float *qkvb;      /* [L, 3C]       h.i.attn.c_attn.bias */
    float *attprojw;  /* [L, C, C]     h.i.attn.c_proj.weight */
    float *attprojb;  /* [L, C]        h.i.attn.c_proj.bias */
    float *ln2w;      /* [L, C]        h.i.ln_2.weight */
    float *ln2b;      /* [L, C]        h.i.ln_2.bias */
    float *fcw;       /* [L, C, 4C]    h.i.mlp.c_fc.weight */
    float *fcb;       /* [L, 4C]       h.i.mlp.c_fc.bias */
    float *fcprojw;   /* [L, 4C, C]    h.i.mlp.c_proj.weight */
    float *fcprojb;   /* [L, C]        h.i.mlp.c_proj.bias */
    float *lnfw;      /* [C]           ln_f.weight */
    float *lnfb;      /* [C]           ln_f.bias */
} pst_gpt2_params;

/* Element counts of the 16 tensors above, in order. */
void pst_gpt2_param_sizes(const pst_gpt2_config *cfg, size_t sizes[PST_GPT2_NUM_TENSORS]);
/* Validates a config (positive sizes, n_embd divisible by n_head, ...). */
int pst_gpt2_config_check(const pst_gpt2_config *cfg, pst_error *err);
/* Names the first field where a and b differ, with both values ("n_layer 2, not 3"), in
 * buf[cap]; returns 1 then, 0 when the architectures are the same. */
int pst_gpt2_config_diff(const pst_gpt2_config *a, const pst_gpt2_config *b, char *buf, size_t cap);

typedef struct pst_gpt2_acts pst_gpt2_acts; /* activations for backward; private */

/* Where forward and backward spend their wall time, by kind of operation (a profile:
 * bench_prior --mode train): the blocks' four matrix products a layer (forward, and
 * backward's dX and dW), the output layer (wte's products and the log-softmax, forward
 * and backward), attention (its products by blocks and softmax), layer norms, GELU, and
 * the rest (embeddings, residual copies). */
enum {
    PST_GPT2_OP_MATMUL,
    PST_GPT2_OP_OUTPUT,
    PST_GPT2_OP_ATTENTION,
    PST_GPT2_OP_LAYERNORM,
    PST_GPT2_OP_GELU,
    PST_GPT2_OP_OTHER,
    PST_GPT2_OPS
};
/* "matmul", "output", "attention", "layernorm", "gelu", "other" */
const char *pst_gpt2_op_name(int op);

typedef struct {
    pst_gpt2_config config;
    pst_gpt2_params params;      /* views into param_memory */
    pst_gpt2_params grads;       /* views into grad_memory, same layout */
    float *param_memory;         /* [num_params] */
    float *grad_memory;          /* [num_params], allocated on first backward */
    size_t num_params;
    /* Filled by the last pst_gpt2_forward: */
    int B, T;
    float *logprobs;             /* [B, T] log π(targets[b,t] | tokens[b, 0..t]) */
    pst_gpt2_acts *acts;         /* private: activations sized for (B, T) */
    /* Seconds spent in each PST_GPT2_OP_* by forward and backward since create (the
     * caller may zero them): a handful of clock reads a layer, always on. */
    double op_seconds[PST_GPT2_OPS];
} pst_gpt2;

/* Allocates parameters for cfg (zeroed). */
int pst_gpt2_create(pst_gpt2 *m, const pst_gpt2_config *cfg, pst_error *err);
void pst_gpt2_free(pst_gpt2 *m);
/* GPT-2 initialisation: weights N(0, 0.02), residual projections (attn.c_proj,
 * mlp.c_proj) N(0, 0.02/sqrt(2L)), biases 0, LayerNorm weight 1 / bias 0. */
void pst_gpt2_init_random(pst_gpt2 *m, pst_rng *rng);

/* Forward pass over tokens [B, T] (T <= maxT). When targets [B, T] is not NULL,
 * fills m->logprobs[b,t] = log softmax(logits[b,t])[targets[b,t]] (a target of -1
 * means none: logprob 0, no gradient). When
 * logits_out is not NULL it receives the logits [B, T, V]; with neither, the output head is
 * skipped (pst_gpt2_hidden only). Keeps what backward needs. */
int pst_gpt2_forward(pst_gpt2 *m, const int *tokens, const int *targets, int B, int T,
                     float *logits_out, pst_error *err);

/* The same forward for m->logprobs alone (targets required; the hidden states are kept):
 * no backward from log-probs may follow, so the logits need not be kept, and where base's
 * AVX-512 kernels run they are never stored (the output layer computes each row's
 * log-sum-exp as it goes). The log-probs equal pst_gpt2_forward's up to the order of the
 * sums. For scoring. */
int pst_gpt2_forward_logprobs(pst_gpt2 *m, const int *tokens, const int *targets, int B, int T, pst_error *err);

/* Backward from an arbitrary gradient of the loss w.r.t. the log-probs of the last
 * forward: dlogprobs [B, T] = ∂loss/∂logprobs[b,t]. Gradients are ACCUMULATED into
 * m->grads (call pst_gpt2_zero_grad first) so micro-batches accumulate.
 * Every objective in the project (MLE, weighted token losses, unlikelihood, DPG,
 * policy gradients) reduces to a choice of dlogprobs. The last forward must have had
 * targets; one backward per forward (backward reuses the softmax buffer in place).
 * d logits[b,t,j] = dlogprobs[b,t]·(1[j = target] − softmax_j); grads (and
 * grad_memory) are allocated, zeroed, on the first call. */
int pst_gpt2_backward(pst_gpt2 *m, const float *dlogprobs, pst_error *err);
/* The final hidden states h = ln_f(last block) [B, T, C] of the last forward (a view,
 * valid until the next forward / backward), e.g. for a value head V(h). */
const float *pst_gpt2_hidden(const pst_gpt2 *m);
/* pst_gpt2_backward plus an extra gradient dhidden [B, T, C] = ∂loss/∂h added to what
 * flows from the log-probs (dhidden NULL: none). dlogprobs NULL: the loss depends on h only
 * (a reward head): the output head is skipped, and the last forward may have had no targets
 * (a forward with neither targets nor logits_out computes the hidden states only). */
int pst_gpt2_backward_hidden(pst_gpt2 *m, const float *dlogprobs, const float *dhidden,
                             pst_error *err);
void pst_gpt2_zero_grad(pst_gpt2 *m);

/* Weighted cross-entropy: loss = Σ w[b,t]·(−logprobs[b,t]) / Σ w[b,t]
 * (w = NULL means all ones; w = 0 ignores a position). Runs forward; when dlogprobs
 * is not NULL, writes ∂loss/∂logprobs = −w/Σw into it for pst_gpt2_backward. */
int pst_gpt2_cross_entropy(pst_gpt2 *m, const int *tokens, const int *targets,
                           const float *weights, int B, int T, float *dlogprobs,
                           double *loss, pst_error *err);

/* ---- optimisation ---------------------------------------------------- */

typedef struct {
    float beta1, beta2, eps, weight_decay;
    float *m, *v;   /* first and second moments [num_params] */
    long step;      /* number of updates taken */
} pst_adamw;

int pst_adamw_create(pst_adamw *opt, size_t num_params, float beta1, float beta2, float eps,
                     float weight_decay, pst_error *err);
void pst_adamw_free(pst_adamw *opt);
/* One AdamW update with bias correction and decoupled weight decay on the gradient
 * grads·grad_scale (the clipping factor of pst_clip_scale, or 1: the same floats as
 * scaling grads first, without a pass over them); decay applies only where
 * decay_mask[i] != 0 (NULL: everywhere). */
void pst_adamw_update(pst_adamw *opt, float *params, const float *grads, float grad_scale,
                      const unsigned char *decay_mask, size_t n, float lr);
/* GPT-2 convention: decay the 2-D weights (wte, wpe, qkvw, attprojw, fcw, fcprojw),
 * not biases or LayerNorm. Returns a malloc'd [num_params] mask. */
unsigned char *pst_gpt2_decay_mask(const pst_gpt2 *m, pst_error *err);
/* The global L2 norm of grads (summed in fixed blocks, in order: the same on any
 * number of threads). */
float pst_grad_norm(const float *grads, size_t n);
/* Clipping by global norm as torch.nn.utils.clip_grad_norm_: the factor
 * max_norm / (norm + 1e-6) when max_norm > 0 and that is below 1, else 1. It goes to
 * pst_adamw_update as grad_scale. */
float pst_clip_scale(float norm, float max_norm);
/* Linear warmup for `warmup` steps, then cosine decay from lr_max to lr_min at total.
 * step counts from 0: step < warmup gives lr_max·(step + 1)/warmup; then
 * lr_min + ½(1 + cos(π·(step − warmup)/(total − warmup)))·(lr_max − lr_min); lr_min
 * from step >= total on. */
float pst_lr_schedule(long step, long warmup, long total, float lr_max, float lr_min);

/* ---- sampling and scoring -------------------------------------------- */

typedef struct {
    float temperature;     /* 1 = the raw model */
    int top_k;             /* 0 = off */
    float top_p;           /* 1 = off */
    const int *banned;     /* token ids never sampled (their probability is set to 0) */
    int n_banned;
    int max_new_tokens;
    int eot_token;         /* -1: none */
    int stop_at_eot;       /* stop a row when it samples eot_token (which is kept) */
    uint64_t first_stream; /* sample i draws from RNG stream first_stream + i (default 0);
                              calls that continue a numbering get the same draws as one call */
    int bf16_weights;      /* decode with the weight matrices rounded to bfloat16 (half the
                              bytes read per token): the samples and both log-probs are then
                              those of the model pst_gpt2_round_bf16 makes, q_bf16 ≠ π */
} pst_sample_options;

void pst_sample_options_default(pst_sample_options *o); /* T=1, no truncation, 64 new tokens, eot 50256 */

typedef struct {
    int *tokens;             /* the generated continuation only (malloc'd) */
    int n_tokens;
    /* Σ_t log a(x_t | prompt, x_<t) under the raw model (temperature 1, nothing cut) */
    double logprob_model;
    /* Σ_t log q(x_t | ...) under the distribution the tokens were really drawn from
     * (after temperature, banned ids, top-k, top-p): what importance weights need. */
    double logprob_proposal;
} pst_sample;

/* distinct-n: distinct n-grams / all n-grams over the n_seqs token sequences (0 if none). */
double pst_distinct_n(const int *const *seqs, const int *lens, int n_seqs, int order);

/* Draws n samples, sample i continuing prompts[i] (prompt_lens[i] tokens, >= 1;
 * use the eot token as a prompt for unconditional samples), batching rows with a
 * KV cache. Deterministic given rng. out[i].tokens is malloc'd. */
int pst_gpt2_sample(pst_gpt2 *m, const int *const *prompts, const int *prompt_lens, int n,
                    const pst_sample_options *o, pst_rng *rng, pst_sample *out, pst_error *err);
void pst_sample_free(pst_sample *s, int n);

/* Rounds the weight matrices (wte, qkvw, attprojw, fcw, fcprojw) to bfloat16, to nearest
 * even, in place: the model q_bf16 that bf16_weights samples from, as a model that every
 * fp32 function (pst_gpt2_score, training) computes exactly (up to summation order). */
void pst_gpt2_round_bf16(pst_gpt2 *m);

/* Exact log-probs of n sequences: seqs[i] has lens[i] tokens, the first
 * prompt_lens[i] (>= 1) of which are context and are not scored. Writes
 * logprob[i] = Σ_{t >= prompt_lens[i]} log π(seq[t] | seq[<t]) and, when
 * token_logprobs is not NULL, token_logprobs[i] (malloc'd, lens[i] - 1 values,
 * the log-prob of token t+1 given tokens 0..t, for every t). Batched. */
int pst_gpt2_score(pst_gpt2 *m, const int *const *seqs, const int *lens, const int *prompt_lens,
                   int n, double *logprob, float **token_logprobs, pst_error *err);

/* ---- checkpoints ----------------------------------------------------- */

/* A model directory in Hugging Face layout: config.json (GPT-2 keys),
 * model.safetensors (F32, also F16/BF16 on load; names with or without a
 * "transformer." prefix; attn.bias / attn.masked_bias buffers ignored). */
int pst_gpt2_load(pst_gpt2 *m, const char *dir, pst_error *err);
/* Reads and checks dir/config.json only (GPT-2 keys; n_ctx accepted for n_positions). */
int pst_gpt2_load_config(pst_gpt2_config *cfg, const char *dir, pst_error *err);
/* Writes config.json and model.safetensors atomically (temporary file + rename);
 * creates dir. Leaves other files (tokenizer) untouched. */
int pst_gpt2_save(const pst_gpt2 *m, const char *dir, pst_error *err);
/* A tensor kept beside the GPT-2 ones in model.safetensors, e.g. the head "score.weight"
 * [1, n_embd] of a sequence-classification GPT-2 (posterior/reward_model.h): F32 data
 * [shape[0]·shape[1]], ndim 1 or 2. Load fills data when the file has it (found = 1; a
 * different shape is an error), leaves found = 0 when it has not; at most 6 extras. */
typedef struct {
    const char *name;
    float *data;
    int ndim;
    long shape[2];
    int found;
} pst_gpt2_extra;
int pst_gpt2_load_with(pst_gpt2 *m, const char *dir, pst_gpt2_extra *extra, int n_extra, pst_error *err);
/* Saves with the extras after the trunk; with any extra, the trunk's tensors are named with
 * Hugging Face's base-model prefix "transformer." (as GPT2ForSequenceClassification saves
 * them) and config.json gets architectures = [architecture] and a one-label id2label. */
int pst_gpt2_save_with(const pst_gpt2 *m, const char *dir, const pst_gpt2_extra *extra, int n_extra,
                       const char *architecture, pst_error *err);
/* A 64-bit checksum of the parameters (config and every bit of param_memory), used to
 * check that a training state belongs to the model it is resumed with. */
uint64_t pst_gpt2_checksum(const pst_gpt2 *m);
/* Grows (or keeps) the vocabulary to new_vocab rows; new wte rows ~ N(0, 0.02). */
int pst_gpt2_resize_vocab(pst_gpt2 *m, int new_vocab, pst_rng *rng, pst_error *err);

/* Training state (separate file; with the model it makes --resume exact):
 * optimizer moments and step, the RNG, and an opaque blob for the data position. */
int pst_train_state_save(const char *path, const pst_adamw *opt, size_t num_params,
                         const pst_rng *rng, const void *data_pos, size_t data_pos_len,
                         pst_error *err);
/* opt must be created with num_params; data_pos receives up to data_pos_cap bytes.
 * The file ends with a checksum; on failure opt's moments may be partly overwritten. */
int pst_train_state_load(const char *path, pst_adamw *opt, size_t num_params, pst_rng *rng,
                         void *data_pos, size_t data_pos_cap, size_t *data_pos_len,
                         pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
