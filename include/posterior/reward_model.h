/* posterior — evidence layer: a reward model r(x), a GPT-2 trunk with a scalar head.
 *
 *   r(x) = w · h_T(x),   h_T = the final hidden state ln_f(...) of the last token of x
 *
 * where the model reads <|endoftext|> + context + text (the way the prior reads a sample),
 * w = score.weight [1, n_embd] (no bias), as Hugging Face's GPT2ForSequenceClassification
 * with num_labels = 1 computes it for one unpadded sequence. Trained from preference pairs
 * by the Bradley–Terry loss (posterior/preference.h, src/train/reward_train.c).
 *
 * A reward-model directory (docs/formats.md): config.json (architectures
 * GPT2ForSequenceClassification, a one-label id2label), model.safetensors holding
 * transformer.* (the trunk) and score.weight, and the tokenizer (vocab.json, merges.txt).
 * As the scorer spec rm:DIR it is evidence everywhere: s(x) = r(x) (a plain score; the
 * reward of a klrl target a·exp(r/β)).
 */
#ifndef POSTERIOR_REWARD_MODEL_H
#define POSTERIOR_REWARD_MODEL_H

#include "posterior/prior.h"
#include "posterior/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PST_REWARD_HEAD_NAME "score.weight"

typedef struct {
    pst_gpt2 trunk;
    float *head;        /* w [C] (score.weight) */
    pst_tokenizer *tok; /* NULL unless loaded with one */
    int bos;            /* the token every sequence starts with (<|endoftext|>); -1: none */
    int batch;          /* rows per forward when scoring (default 16) */
    /* private scratch, sized for the last forward */
    int *last;          /* [B] position of each row's last token */
    float *dhidden;
    int cap_bt;
} pst_reward_model;

/* A new reward model from a language-model directory: its trunk and tokenizer, w ~ N(0, 0.02²)
 * (Hugging Face's initialisation of score.weight). */
int pst_reward_model_init(pst_reward_model *rm, const char *lm_dir, pst_rng *rng, pst_error *err);
/* Loads a reward-model directory; one whose model.safetensors has no score.weight is an error
 * ("no reward head"). with_tokenizer: also its vocab.json / merges.txt. */
int pst_reward_model_load(pst_reward_model *rm, const char *dir, int with_tokenizer, pst_error *err);
/* Writes config.json + model.safetensors (trunk and head) and, when rm has one, the tokenizer. */
int pst_reward_model_save(const pst_reward_model *rm, const char *dir, pst_error *err);
void pst_reward_model_free(pst_reward_model *rm);

/* The token ids the model reads for a text: bos + encode(context) + encode(text) into *ids
 * (malloc'd), the way the prior reads a prompt and its continuation; an error naming the
 * lengths when they exceed the context n_positions. */
int pst_reward_model_encode(pst_reward_model *rm, const char *context, const char *text, size_t len, int **ids,
                            int *n, pst_error *err);

/* Forward over B rows of tokens [B, T], row b's sequence being its first lens[b] tokens
 * (right padding is ignored: attention is causal): r[b] = w · h[b, lens[b] − 1]. Keeps what
 * pst_reward_model_backward needs. */
int pst_reward_model_forward(pst_reward_model *rm, const int *tokens, const int *lens, int B, int T, double *r,
                             pst_error *err);
/* Backward of a loss L from dr[b] = ∂L/∂r[b] of the last forward: ∂L/∂w = Σ_b dr[b]·h_b is
 * ACCUMULATED into head_grad [C], ∂L/∂h_b = dr[b]·w flows into the trunk's grads (accumulated). */
int pst_reward_model_backward(pst_reward_model *rm, const double *dr, float *head_grad, pst_error *err);

/* r for n sequences of any lengths (each ≤ n_positions), rm->batch rows per forward. */
/* The same rule for any tokenizer (bos < 0: none); *prompt_len = bos + encode(context) tokens. */
int pst_encode_prompt_text(pst_tokenizer *tok, int bos, int n_positions, const char *context, const char *text,
                           size_t len, int **ids, int *n, int *prompt_len, pst_error *err);

int pst_reward_model_rewards(pst_reward_model *rm, const int *const *seqs, const int *lens, int n, double *r,
                             pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
