/* The enumerable toy distribution: a table-driven autoregressive model whose every
 * sequence can be listed, so P(x), Z and p are exact in tests.
 *   π(x) = Π_t softmax(logits[prefix_index(x_<t), :] / T)[x_t]
 * Token 0 ends a sequence (and is kept); at most max_len tokens per sequence. */
#include "posterior/target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOY_END 0

/* Prefixes of length t (tokens 1..vocab−1) are numbered offset(t) + Σ_i (x_i − 1)(vocab−1)^i,
 * offset(t) = Σ_{s<t} (vocab−1)^s. A walker keeps (t, rel) and steps token by token. */
typedef struct {
    int t, rel, offset, power; /* power = (vocab−1)^t */
} prefix_walker;

static void walker_start(prefix_walker *w) { w->t = 0, w->rel = 0, w->offset = 0, w->power = 1; }
static int walker_index(const prefix_walker *w) { return w->offset + w->rel; }
static void walker_push(prefix_walker *w, int token, int vocab) {
    w->rel += (token - 1) * w->power;
    w->offset += w->power;
    w->power *= vocab - 1;
    w->t++;
}

int pst_toy_prefix_index(const pst_toy *toy, const int *prefix, int n) {
    prefix_walker w;
    walker_start(&w);
    for (int i = 0; i < n; i++) walker_push(&w, prefix[i], toy->vocab);
    return walker_index(&w);
}

/* log softmax(logits[row, :] / temperature) into out[vocab] */
static void toy_log_softmax(const pst_toy *toy, int row, double temperature, double *out) {
    double z[PST_TOY_MAX_VOCAB];
    for (int v = 0; v < toy->vocab; v++) z[v] = toy->logits[row][v] / temperature;
    double lse = pst_logsumexp(z, (size_t)toy->vocab);
    for (int v = 0; v < toy->vocab; v++) out[v] = z[v] - lse;
}

int pst_toy_init(pst_toy *toy, int vocab, int max_len, double scale, pst_rng *rng, pst_error *err) {
    if (vocab < 2 || vocab > PST_TOY_MAX_VOCAB)
        return pst_fail(err, "toy: vocab %d out of range [2, %d]", vocab, PST_TOY_MAX_VOCAB);
    if (max_len < 1 || max_len > PST_TOY_MAX_LEN)
        return pst_fail(err, "toy: max_len %d out of range [1, %d]", max_len, PST_TOY_MAX_LEN);
    memset(toy, 0, sizeof *toy);
    toy->vocab = vocab;
    toy->max_len = max_len;
    for (int r = 0; r < PST_TOY_MAX_PREFIXES; r++)
        for (int v = 0; v < vocab; v++) toy->logits[r][v] = rng ? scale * pst_rng_normal(rng) : 0;
    toy->adam = 1;
    toy->beta1 = 0.9;
    toy->beta2 = 0.999;
    toy->eps = 1e-8;
    toy->temperature = 1.0;
    return 0;
}

/* The walker positioned after a context (checked by toy_check_context). */
static int toy_start(const pst_toy *toy, const pst_seq *context, prefix_walker *w) {
    walker_start(w);
    if (context)
        for (int i = 0; i < context->n; i++) walker_push(w, context->tokens[i], toy->vocab);
    return w->t < toy->max_len ? 0 : -1;
}

static int toy_check_context(const pst_toy *toy, const pst_seq *c, pst_error *err) {
    if (!c || c->n == 0) return 0;
    if (c->n >= toy->max_len)
        return pst_fail(err, "toy: context of %d tokens leaves no room (max_len %d)", c->n, toy->max_len);
    for (int i = 0; i < c->n; i++)
        if (c->tokens[i] <= TOY_END || c->tokens[i] >= toy->vocab)
            return pst_fail(err, "toy: context token %d at %d is not a non-end token of vocab %d",
                            c->tokens[i], i, toy->vocab);
    return 0;
}

double pst_toy_logprob(const pst_toy *toy, const pst_seq *context, const int *x, int n, double temperature) {
    prefix_walker w;
    if (toy_start(toy, context, &w) < 0 || n < 1) return -INFINITY;
    double lp = 0, ls[PST_TOY_MAX_VOCAB];
    for (int i = 0; i < n; i++) {
        if (w.t >= toy->max_len || x[i] < 0 || x[i] >= toy->vocab) return -INFINITY;
        if (i < n - 1 && x[i] == TOY_END) return -INFINITY; /* end must be last */
        toy_log_softmax(toy, walker_index(&w), temperature, ls);
        lp += ls[x[i]];
        if (x[i] != TOY_END) walker_push(&w, x[i], toy->vocab);
    }
    /* A sequence without the end token is complete only at max_len. */
    if (x[n - 1] != TOY_END && w.t != toy->max_len) return -INFINITY;
    return lp;
}

int pst_toy_enumerate(const pst_toy *toy, const pst_seq *context, int **seqs_out, int **lens_out,
                      double **logprob_out, int *n_out, pst_error *err) {
    if (toy_check_context(toy, context, err) < 0) return -1;
    prefix_walker w0;
    toy_start(toy, context, &w0);
    int room = toy->max_len - w0.t, L = toy->max_len;
    /* count: end at length k (k = 1..room) with k−1 non-end before, plus room non-end tokens */
    long count = 0, pw = 1;
    for (int k = 1; k <= room; k++) {
        count += pw;
        pw *= toy->vocab - 1;
    }
    count += pw;
    int *seqs = pst_malloc(sizeof(int) * (size_t)count * (size_t)L, err);
    int *lens = pst_malloc(sizeof(int) * (size_t)count, err);
    double *lp = pst_malloc(sizeof(double) * (size_t)count, err);
    if (!seqs || !lens || !lp) {
        free(seqs), free(lens), free(lp);
        return -1;
    }
    int n = 0, x[PST_TOY_MAX_LEN];
    for (int k = 1; k <= room; k++) {
        /* sequences of exactly k tokens: k−1 non-end (1..vocab−1) then end, or k = room with no end */
        long combos = 1;
        for (int i = 0; i < k - 1; i++) combos *= toy->vocab - 1;
        for (int last_end = 1; last_end >= 0; last_end--) {
            if (!last_end && k != room) continue;
            long c_total = last_end ? combos : combos * (toy->vocab - 1);
            for (long c = 0; c < c_total; c++) {
                long r = c;
                int m = last_end ? k - 1 : k;
                for (int i = m - 1; i >= 0; i--) {
                    x[i] = 1 + (int)(r % (toy->vocab - 1));
                    r /= toy->vocab - 1;
                }
                if (last_end) x[k - 1] = TOY_END;
                for (int i = 0; i < L; i++) seqs[(size_t)n * L + i] = i < k ? x[i] : -1;
                lens[n] = k;
                lp[n] = pst_toy_logprob(toy, context, x, k, 1.0);
                n++;
            }
        }
    }
    *seqs_out = seqs;
    *lens_out = lens;
    *logprob_out = lp;
    *n_out = n;
    return 0;
}

/* ---- the distribution interface ---------------------------------------- */

static int toy_sample(void *self, const pst_seq *contexts, int n, pst_rng *rng, pst_sample *out,
                      pst_error *err) {
    const pst_toy *toy = self;
    for (int i = 0; i < n; i++) memset(&out[i], 0, sizeof out[i]);
    for (int i = 0; i < n; i++) {
        const pst_seq *c = contexts ? &contexts[i] : NULL;
        if (toy_check_context(toy, c, err) < 0) return pst_fail_context(err, "sample %d", i);
        prefix_walker w;
        toy_start(toy, c, &w);
        int *tok = pst_malloc(sizeof(int) * PST_TOY_MAX_LEN, err);
        if (!tok) return -1;
        double lq = 0, la = 0, ls[PST_TOY_MAX_VOCAB], lm[PST_TOY_MAX_VOCAB];
        int k = 0;
        while (w.t < toy->max_len) {
            toy_log_softmax(toy, walker_index(&w), toy->temperature, ls);
            toy_log_softmax(toy, walker_index(&w), 1.0, lm);
            double u = pst_rng_uniform(rng), acc = 0;
            int v = toy->vocab - 1;
            for (int j = 0; j < toy->vocab; j++) {
                acc += exp(ls[j]);
                if (u < acc) {
                    v = j;
                    break;
                }
            }
            tok[k++] = v;
            lq += ls[v];
            la += lm[v];
            if (v == TOY_END) break;
            walker_push(&w, v, toy->vocab);
        }
        out[i].tokens = tok;
        out[i].n_tokens = k;
        out[i].logprob_proposal = lq;
        out[i].logprob_model = la;
    }
    return 0;
}

static int toy_score(void *self, const pst_seq *contexts, const pst_sample *xs, int n, double *logprob,
                     pst_error *err) {
    const pst_toy *toy = self;
    for (int i = 0; i < n; i++) {
        const pst_seq *c = contexts ? &contexts[i] : NULL;
        if (toy_check_context(toy, c, err) < 0) return pst_fail_context(err, "sequence %d", i);
        logprob[i] = pst_toy_logprob(toy, c, xs[i].tokens, xs[i].n_tokens, 1.0);
    }
    return 0;
}

/* ∂ log π(x) / ∂ logits[row_t, v] = 1[v = x_t] − π(v | x_<t) at every step t. */
static int toy_accumulate(void *self, const pst_seq *contexts, const pst_sample *xs, const double *coef,
                          int n, double *logprob, pst_error *err) {
    pst_toy *toy = self;
    for (int i = 0; i < n; i++) {
        const pst_seq *c = contexts ? &contexts[i] : NULL;
        if (toy_check_context(toy, c, err) < 0) return pst_fail_context(err, "sequence %d", i);
        prefix_walker w;
        toy_start(toy, c, &w);
        double lp = 0, ls[PST_TOY_MAX_VOCAB];
        for (int j = 0; j < xs[i].n_tokens; j++) {
            int x = xs[i].tokens[j], row = walker_index(&w);
            if (w.t >= toy->max_len || x < 0 || x >= toy->vocab || (x == TOY_END && j < xs[i].n_tokens - 1))
                return pst_fail(err, "toy: sequence %d is not a sequence of this toy (token %d at %d)", i, x, j);
            toy_log_softmax(toy, row, 1.0, ls);
            lp += ls[x];
            for (int v = 0; v < toy->vocab; v++) toy->grad[row][v] += coef[i] * ((v == x) - exp(ls[v]));
            if (x != TOY_END) walker_push(&w, x, toy->vocab);
        }
        if (logprob) logprob[i] = lp;
    }
    return 0;
}

/* Token-level pass: the toy's hidden state at step t is the one-hot of its prefix row
 * (width: every prefix, Σ_{t<max_len} (vocab − 1)^t), so a linear value head on it is a
 * table. Backward: ∂J/∂logits[row_t, v] = d_logprob[t]·(1[v = x_t] − π(v | x_<t)). */
static int toy_hidden_size(void *self) {
    const pst_toy *toy = self;
    int C = 0, power = 1;
    for (int t = 0; t < toy->max_len; t++) C += power, power *= toy->vocab - 1;
    return C;
}

static int toy_token_pass(void *self, const pst_seq *contexts, const pst_sample *xs, int n, int backward,
                          pst_token_fn fn, void *fn_ctx, pst_error *err) {
    pst_toy *toy = self;
    int C = toy_hidden_size(toy), rc = 0;
    float *h = pst_calloc((size_t)PST_TOY_MAX_LEN * C, sizeof(float), err);
    float *dh = pst_calloc((size_t)PST_TOY_MAX_LEN * C, sizeof(float), err);
    if (!h || !dh) rc = -1;
    for (int i = 0; i < n && rc == 0; i++) {
        const pst_seq *c = contexts ? &contexts[i] : NULL;
        float lp[PST_TOY_MAX_LEN], dl[PST_TOY_MAX_LEN] = {0};
        int rows[PST_TOY_MAX_LEN], T = xs[i].n_tokens;
        prefix_walker w;
        if (toy_check_context(toy, c, err) < 0) {
            rc = pst_fail_context(err, "sequence %d", i);
            break;
        }
        toy_start(toy, c, &w);
        memset(h, 0, sizeof(float) * (size_t)PST_TOY_MAX_LEN * C);
        memset(dh, 0, sizeof(float) * (size_t)PST_TOY_MAX_LEN * C);
        for (int j = 0; j < T && rc == 0; j++) {
            int x = xs[i].tokens[j];
            double ls[PST_TOY_MAX_VOCAB];
            if (w.t >= toy->max_len || x < 0 || x >= toy->vocab || (x == TOY_END && j < T - 1)) {
                rc = pst_fail(err, "toy: sequence %d is not a sequence of this toy (token %d at %d)", i, x, j);
                break;
            }
            rows[j] = walker_index(&w);
            toy_log_softmax(toy, rows[j], 1.0, ls);
            lp[j] = (float)ls[x];
            h[(size_t)j * C + rows[j]] = 1;
            if (x != TOY_END) walker_push(&w, x, toy->vocab);
        }
        if (rc == 0 && fn(fn_ctx, i, T, lp, h, C, backward ? dl : NULL, backward ? dh : NULL, err) != 0) rc = -1;
        for (int j = 0; backward && rc == 0 && j < T; j++) {
            double ls[PST_TOY_MAX_VOCAB];
            toy_log_softmax(toy, rows[j], 1.0, ls);
            int x = xs[i].tokens[j];
            for (int v = 0; v < toy->vocab; v++) toy->grad[rows[j]][v] += dl[j] * ((v == x) - exp(ls[v]));
        }
    }
    free(h), free(dh);
    return rc;
}

static void toy_zero_grad(void *self) {
    pst_toy *toy = self;
    memset(toy->grad, 0, sizeof toy->grad);
}

/* SGD: θ += lr·g.  Adam: m = β1 m + (1−β1) g, v = β2 v + (1−β2) g², θ += lr·m̂/(√v̂ + ε). */
static int toy_step(void *self, double lr, pst_error *err) {
    pst_toy *toy = self;
    toy->steps++;
    double c1 = 1 - pow(toy->beta1, (double)toy->steps), c2 = 1 - pow(toy->beta2, (double)toy->steps);
    double *th = &toy->logits[0][0], *g = &toy->grad[0][0];
    double *m = &toy->m[0][0], *v = &toy->v[0][0];
    size_t n = sizeof toy->logits / sizeof(double);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(g[i])) return pst_fail(err, "toy: non-finite gradient");
        if (toy->adam) {
            m[i] = toy->beta1 * m[i] + (1 - toy->beta1) * g[i];
            v[i] = toy->beta2 * v[i] + (1 - toy->beta2) * g[i] * g[i];
            th[i] += lr * (m[i] / c1) / (sqrt(v[i] / c2) + toy->eps);
        } else {
            th[i] += lr * g[i];
        }
    }
    return 0;
}

static void toy_destroy(void *self) { free(self); }

static int toy_clone(void *self, pst_distribution *out, pst_error *err) {
    pst_toy *copy = pst_calloc(1, sizeof *copy, err);
    if (!copy) return -1;
    *copy = *(pst_toy *)self;
    pst_toy_distribution(copy, out);
    out->owned = 1;
    return 0;
}

/* The toy's whole state is a flat struct of doubles: saved as one binary file. */
static int toy_save(void *self, const char *dir, pst_error *err) {
    char path[4096];
    if (pst_mkdir_p(dir, err) < 0 || pst_path_join(path, sizeof path, dir, "toy.bin", err) < 0) return -1;
    return pst_write_file_atomic(path, self, sizeof(pst_toy), err);
}

static int toy_load(void *self, const char *dir, pst_error *err) {
    char path[4096], *data;
    size_t len;
    if (pst_path_join(path, sizeof path, dir, "toy.bin", err) < 0) return -1;
    if (pst_read_file(path, &data, &len, err) < 0) return -1;
    if (len != sizeof(pst_toy)) {
        free(data);
        return pst_fail(err, "%s: %zu bytes, expected %zu for a toy model", path, len, sizeof(pst_toy));
    }
    memcpy(self, data, sizeof(pst_toy));
    free(data);
    return 0;
}

static const pst_distribution_ops toy_ops = {
    .name = "toy", .sample = toy_sample, .score = toy_score, .accumulate = toy_accumulate, .zero_grad = toy_zero_grad,
    .step = toy_step, .clone = toy_clone, .save = toy_save, .load = toy_load, .destroy = toy_destroy,
    .hidden_size = toy_hidden_size, .token_pass = toy_token_pass};

void pst_toy_distribution(pst_toy *toy, pst_distribution *d) {
    *d = (pst_distribution){.ops = &toy_ops, .self = toy, .owned = 0};
}

void pst_distribution_free(pst_distribution *d) {
    if (!d) return;
    if (d->owned && d->ops && d->ops->destroy) d->ops->destroy(d->self);
    memset(d, 0, sizeof *d);
}
