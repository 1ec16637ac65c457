/* posterior — target layer: the enumerable toy, a distribution whose every sequence can
 * be listed, so P, Z and p are exact (the tests' and the DPG checks' ground truth). */
#ifndef POSTERIOR_TOY_H
#define POSTERIOR_TOY_H

#include "posterior/distribution.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the enumerable toy ------------------------------------------------ */

/* A table-driven autoregressive model over `vocab` tokens (3..5; token 0 is the
 * end token) of at most max_len (1..5) tokens: a sequence stops when it draws the
 * end token (which is kept) or after max_len tokens. The next-token logits are a
 * table indexed by the whole prefix, so every distribution over these sequences
 * (in particular every posterior p) is representable:
 *     π(x_t = v | x_<t) = softmax(logits[prefix_index(x_<t), :] / T)[v]
 * A context is a prefix of non-end tokens that is not scored. Every sequence can
 * be listed, so P, Z and p are exact. Trainable: analytic gradient, SGD or Adam. */
#define PST_TOY_MAX_VOCAB 5
#define PST_TOY_MAX_LEN 5
#define PST_TOY_MAX_PREFIXES 341 /* Σ_{t<5} 4^t prefixes of non-end tokens */
typedef struct {
    int vocab, max_len;
    double logits[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    double grad[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    /* optimiser: adam != 0 → Adam(beta1, beta2, eps) with bias correction, else SGD */
    int adam;
    double beta1, beta2, eps;
    double m[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    double v[PST_TOY_MAX_PREFIXES][PST_TOY_MAX_VOCAB];
    long steps;
    double temperature; /* sampling temperature (1 = the model): log q is the warped log-prob */
} pst_toy;

/* Row of the logits table for a prefix of n non-end tokens (n < max_len). */
int pst_toy_prefix_index(const pst_toy *toy, const int *prefix, int n);

/* Logits ~ N(0, scale²) from rng; Adam (0.9, 0.999, 1e-8); temperature 1. */
int pst_toy_init(pst_toy *toy, int vocab, int max_len, double scale, pst_rng *rng, pst_error *err);
/* log π(x | context) of a continuation x (n tokens) at temperature t (1: the model). */
double pst_toy_logprob(const pst_toy *toy, const pst_seq *context, const int *x, int n, double temperature);
/* Every continuation of `context` (NULL: none): seqs[i] = tokens (n_seqs × max_len,
 * padded with -1), lens[i], logprob[i] = log π (at temperature 1). Arrays malloc'd. */
int pst_toy_enumerate(const pst_toy *toy, const pst_seq *context, int **seqs, int **lens,
                      double **logprob, int *n_seqs, pst_error *err);
/* A pst_distribution view of toy (not owned: destroy does nothing). */
void pst_toy_distribution(pst_toy *toy, pst_distribution *d);

#ifdef __cplusplus
}
#endif

#endif
