/* Exact references on the enumerable toy, shared by the target and train tests:
 * every sequence listed with log a(x), so Z, p, KL, TVD and moments are sums. */
#ifndef POSTERIOR_TESTS_TOY_EXACT_H
#define POSTERIOR_TESTS_TOY_EXACT_H

#include "check.h"
#include "posterior/target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int n;          /* number of sequences */
    int *seqs;      /* [n, max_len], -1 padded */
    int *lens;
    double *log_a;  /* log-prob under the toy it was enumerated from */
    pst_sample *xs; /* views of seqs as samples (tokens point into seqs) */
    int code_to_index[7776];
    int vocab, max_len;
} toy_space;

static inline int toy_code(const int *tok, int n, int vocab) {
    int c = 0, p = 1;
    for (int i = 0; i < n; i++, p *= vocab + 1) c += (tok[i] + 1) * p;
    return c;
}

static inline void toy_space_init(toy_space *s, const pst_toy *toy, const pst_seq *ctx) {
    pst_error err;
    memset(s, 0, sizeof *s);
    if (pst_toy_enumerate(toy, ctx, &s->seqs, &s->lens, &s->log_a, &s->n, &err) < 0) {
        fprintf(stderr, "enumerate: %s\n", err.msg);
        exit(1);
    }
    s->vocab = toy->vocab;
    s->max_len = toy->max_len;
    s->xs = calloc((size_t)s->n, sizeof(pst_sample));
    for (int i = 0; i < 7776; i++) s->code_to_index[i] = -1;
    for (int i = 0; i < s->n; i++) {
        s->xs[i].tokens = s->seqs + (size_t)i * toy->max_len;
        s->xs[i].n_tokens = s->lens[i];
        s->xs[i].logprob_model = s->xs[i].logprob_proposal = s->log_a[i];
        s->code_to_index[toy_code(s->xs[i].tokens, s->lens[i], s->vocab)] = i;
    }
}

static inline void toy_space_free(toy_space *s) {
    free(s->seqs), free(s->lens), free(s->log_a), free(s->xs);
}

static inline int toy_space_index(const toy_space *s, const pst_sample *x) {
    return s->code_to_index[toy_code(x->tokens, x->n_tokens, s->vocab)];
}

/* log-probs of every sequence under another toy (same vocab / max_len). */
static inline void toy_space_logprobs(const toy_space *s, const pst_toy *toy, const pst_seq *ctx,
                                      double *out) {
    for (int i = 0; i < s->n; i++) out[i] = pst_toy_logprob(toy, ctx, s->xs[i].tokens, s->lens[i], 1.0);
}

/* Exact normalised p from log P over the space: p[i] = exp(log_P[i] − log Z). Returns log Z. */
static inline double exact_normalise(const double *log_P, int n, double *p) {
    double lz = pst_logsumexp(log_P, (size_t)n);
    for (int i = 0; i < n; i++) p[i] = exp(log_P[i] - lz);
    return lz;
}

/* KL(p‖π) = Σ p (log p − log π) */
static inline double exact_kl(const double *p, const double *log_pi, int n) {
    double s = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > 0) s += p[i] * (log(p[i]) - log_pi[i]);
    return s;
}

static inline double exact_tvd(const double *p, const double *log_pi, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs(p[i] - exp(log_pi[i]));
    return 0.5 * s;
}

/* Chi-square goodness of fit of counts [n] against probabilities [n] (bins with
 * expected count < 5 are pooled); returns the Wilson–Hilferty z score, which is
 * ~N(0,1) under the null: z > 3.7 rejects at p ≈ 1e-4. */
static inline double chi_square_z(const long *counts, const double *prob, int n, long total, int *df_out) {
    double chi = 0, pool_e = 0;
    long pool_o = 0;
    int bins = 0;
    if (df_out) *df_out = 0;
    for (int i = 0; i < n; i++) {
        double e = prob[i] * total;
        if (e < 5) {
            pool_e += e;
            pool_o += counts[i];
            if (e == 0 && counts[i] > 0) return INFINITY; /* impossible outcome seen */
            continue;
        }
        chi += (counts[i] - e) * (counts[i] - e) / e;
        bins++;
    }
    if (pool_e >= 5) {
        chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        bins++;
    }
    int df = bins - 1;
    if (df_out) *df_out = df;
    if (df < 1) return 0;
    double h = 2.0 / (9.0 * df);
    return (cbrt(chi / df) - (1 - h)) / sqrt(h);
}

/* Evidence callbacks on token ids, closed form. */
typedef struct {
    int token;   /* b(x) = 1 when x contains this token */
} toy_contains;

static inline int toy_contains_fn(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out,
                                  pst_error *err) {
    const toy_contains *tc = ctx;
    for (int i = 0; i < n; i++) {
        out[i] = 0;
        for (int j = 0; j < xs[i].n_tokens; j++)
            if (xs[i].tokens[j] == tc->token) out[i] = 1;
    }
    return 0;
}

/* φ(x) = (contains 1, length / max_len) */
static inline int toy_two_features_fn(void *ctx, const pst_seq *c, const pst_sample *xs, int n,
                                      double *out, pst_error *err) {
    for (int i = 0; i < n; i++) {
        out[2 * i] = 0;
        for (int j = 0; j < xs[i].n_tokens; j++)
            if (xs[i].tokens[j] == 1) out[2 * i] = 1;
        out[2 * i + 1] = xs[i].n_tokens / 5.0;
    }
    return 0;
}

/* r(x) = number of tokens equal to 2 minus 0.5·length */
static inline int toy_reward_fn(void *ctx, const pst_seq *c, const pst_sample *xs, int n, double *out,
                                pst_error *err) {
    for (int i = 0; i < n; i++) {
        double r = -0.5 * xs[i].n_tokens;
        for (int j = 0; j < xs[i].n_tokens; j++) r += xs[i].tokens[j] == 2;
        out[i] = r;
    }
    return 0;
}

static inline void free_samples(pst_sample *xs, int n) {
    for (int i = 0; i < n; i++) free(xs[i].tokens);
}

#endif
