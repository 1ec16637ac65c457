/* Energy-based targets in log space:
 *   pointwise       log P(x) = log a(x) + Σ_j log b_j(x)
 *   distributional  log P(x) = log a(x) + λ·φ(x)
 *   KL-RL           log P(x) = log a(x) + r(x)/β
 * Conditional targets are the same with a(x|c) and evidence given c. */
#include "posterior/target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"pointwise", "distributional", "klrl"};

const char *pst_target_kind_name(pst_target_kind kind) {
    return kind >= 0 && kind <= PST_TARGET_KLRL ? kind_names[kind] : "unknown";
}

int pst_target_kind_parse(const char *name, pst_target_kind *kind, pst_error *err) {
    for (int i = 0; i <= PST_TARGET_KLRL; i++)
        if (name && strcmp(name, kind_names[i]) == 0) {
            *kind = (pst_target_kind)i;
            return 0;
        }
    return pst_fail(err, "unknown target kind '%s' (pointwise, distributional or klrl)",
                    name ? name : "(null)");
}

double pst_target_log_evidence(const pst_target *t, const double *f) {
    double e = 0;
    switch (t->kind) {
    case PST_TARGET_POINTWISE:
        for (int j = 0; j < t->n_features; j++) e += f[j] > 0 ? log(f[j]) : f[j] == 0 ? -INFINITY : NAN;
        return e;
    case PST_TARGET_DISTRIBUTIONAL:
        for (int j = 0; j < t->n_features; j++) e += t->lambda[j] * f[j];
        return e;
    case PST_TARGET_KLRL:
        return f[0] / t->beta;
    }
    return NAN;
}

int pst_target_score(const pst_target *t, const pst_seq *contexts, const pst_sample *xs, int n,
                     const double *log_prior_known, double *log_prior, double *features,
                     double *log_target, pst_error *err) {
    int k = t->n_features;
    if (k < 1 || k > PST_TARGET_MAX_FEATURES)
        return pst_fail(err, "target: %d features (1..%d supported)", k, PST_TARGET_MAX_FEATURES);
    if (t->kind == PST_TARGET_KLRL && !(t->beta > 0))
        return pst_fail(err, "target: KL-RL needs beta > 0 (got %g)", t->beta);
    if (log_prior_known) {
        memcpy(log_prior, log_prior_known, sizeof(double) * (size_t)n);
    } else {
        if (!t->prior || !t->prior->ops || !t->prior->ops->score) return pst_fail(err, "target: no prior to score samples");
        if (pst_dist_score(t->prior, contexts, xs, n, log_prior, err) < 0)
            return pst_fail_context(err, "target: scoring the prior");
    }
    double *f = features ? features : pst_malloc(sizeof(double) * (size_t)n * k, err);
    if (!f) return -1;
    int rc = t->evidence(t->evidence_ctx, contexts, xs, n, f, err);
    if (rc == 0)
        for (int i = 0; i < n; i++) {
            log_target[i] = log_prior[i] + pst_target_log_evidence(t, f + (size_t)i * k);
            if (isnan(log_target[i])) {
                rc = pst_fail(err, "target: log P of sample %d is NaN (evidence %g; b must be >= 0)", i,
                              f[(size_t)i * k]);
                break;
            }
        }
    if (!features) free(f);
    return rc;
}

void pst_scored_batch_free(pst_scored_batch *b) {
    if (!b) return;
    if (b->xs) pst_sample_free(b->xs, b->n);
    free(b->xs), free(b->log_q), free(b->log_model), free(b->log_prior), free(b->features), free(b->log_target);
    memset(b, 0, sizeof *b);
}

/* b's arrays for n samples of k features, zeroed (rows another rank draws stay 0 until
 * they are merged); ctx[batch] = *context when there is one. */
static int scored_open(pst_scored_batch *b, int n, int k, int batch, const pst_seq *context, pst_seq **ctx,
                       pst_error *err) {
    memset(b, 0, sizeof *b);
    b->n = n;
    b->k = k;
    b->xs = pst_calloc((size_t)n, sizeof *b->xs, err);
    b->log_q = pst_calloc((size_t)n, sizeof(double), err);
    b->log_model = pst_calloc((size_t)n, sizeof(double), err);
    b->log_prior = pst_calloc((size_t)n, sizeof(double), err);
    b->features = pst_calloc((size_t)n * k + 1, sizeof(double), err);
    b->log_target = pst_calloc((size_t)n, sizeof(double), err);
    *ctx = context ? pst_malloc(sizeof **ctx * (size_t)batch, err) : NULL;
    if (!b->xs || !b->log_q || !b->log_model || !b->log_prior || !b->features || !b->log_target || (context && !*ctx)) {
        pst_scored_batch_free(b);
        return -1;
    }
    for (int i = 0; *ctx && i < batch; i++) (*ctx)[i] = *context;
    return 0;
}

/* Rows [s + lo, s + lo + cnt) of the batch [s, s + m): drawn (all m rows of one call when
 * whole, else sample_rows) and scored under t. */
static int draw_rows(const pst_target *t, pst_distribution *q, const pst_seq *ctx, int s, int m, int lo, int cnt,
                     int whole, pst_rng *rng, pst_scored_batch *b, pst_error *err) {
    int k = b->k, same = t->prior && q->self == t->prior->self; /* samples of the prior carry log a */
    int rc = whole ? pst_dist_sample(q, ctx, m, rng, b->xs + s, err)
                   : pst_dist_sample_rows(q, ctx, m, lo, cnt, rng, b->xs + s + lo, err);
    if (rc < 0) return -1;
    for (int i = s + lo; i < s + lo + cnt; i++) {
        b->log_q[i] = b->xs[i].logprob_proposal;
        b->log_model[i] = b->xs[i].logprob_model;
    }
    if (cnt == 0) return 0;
    return pst_target_score(t, ctx, b->xs + s + lo, cnt, same ? b->log_model + s + lo : NULL, b->log_prior + s + lo,
                            b->features + (size_t)(s + lo) * k, b->log_target + s + lo, err);
}

int pst_draw_scored(const pst_target *t, pst_distribution *q, const pst_seq *context, int n, int batch,
                    pst_rng *rng, pst_scored_batch *b, pst_error *err) {
    return pst_draw_scored_split(t, q, context, n, batch, rng, NULL, b, err);
}

/* This rank's rows [*lo, *hi) of a batch of m split over N ranks. */
static void rank_rows(int m, int rank, int N, int *lo, int *hi) {
    *lo = (int)((long)m * rank / N);
    *hi = (int)((long)m * (rank + 1) / N);
}

/* Every rank's rows to every rank: the numbers, then the tokens, each one allreduce of
 * zeros and this rank's values (x + 0 = x: exact copies). */
static int merge_rows(pst_scored_batch *b, int batch, const pst_comm *c, pst_error *err) {
    int n = b->n, k = b->k, W = 5 + k, rc = -1;
    double *num = pst_calloc((size_t)n * W, sizeof(double), err), *tok = NULL;
    char *mine = pst_calloc((size_t)n, 1, err);
    if (!num || !mine) goto done;
    for (int s = 0, lo, hi; s < n; s += batch) {
        rank_rows(n - s < batch ? n - s : batch, c->rank, c->size, &lo, &hi);
        memset(mine + s + lo, 1, (size_t)(hi - lo));
    }
    for (int i = 0; i < n; i++) {
        if (!mine[i]) continue;
        double *r = num + (size_t)i * W;
        r[0] = b->log_q[i], r[1] = b->log_model[i], r[2] = b->log_prior[i], r[3] = b->log_target[i];
        r[4] = b->xs[i].n_tokens;
        memcpy(r + 5, b->features + (size_t)i * k, sizeof(double) * k);
    }
    if (pst_comm_allreduce_sum_f64(c, num, (size_t)n * W, err) < 0) goto done;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)num[(size_t)i * W + 4];
    tok = pst_calloc(total + 1, sizeof(double), err);
    if (!tok) goto done;
    for (size_t i = 0, at = 0; i < (size_t)n; at += (size_t)num[i * W + 4], i++)
        for (int j = 0; mine[i] && j < b->xs[i].n_tokens; j++) tok[at + j] = b->xs[i].tokens[j];
    if (pst_comm_allreduce_sum_f64(c, tok, total, err) < 0) goto done;
    for (size_t i = 0, at = 0; i < (size_t)n; at += (size_t)b->xs[i].n_tokens, i++) {
        const double *r = num + i * W;
        if (mine[i]) continue;
        b->log_q[i] = r[0], b->log_model[i] = r[1], b->log_prior[i] = r[2], b->log_target[i] = r[3];
        memcpy(b->features + i * k, r + 5, sizeof(double) * k);
        b->xs[i] = (pst_sample){.n_tokens = (int)r[4], .logprob_proposal = r[0], .logprob_model = r[1]};
        b->xs[i].tokens = pst_malloc(sizeof(int) * (size_t)(r[4] > 0 ? r[4] : 1), err);
        if (!b->xs[i].tokens) goto done;
        for (int j = 0; j < b->xs[i].n_tokens; j++) b->xs[i].tokens[j] = (int)tok[at + j];
    }
    rc = 0;
done:
    free(num), free(mine), free(tok);
    return rc;
}

int pst_draw_scored_split(const pst_target *t, pst_distribution *q, const pst_seq *context, int n, int batch,
                          pst_rng *rng, const pst_comm *comm, pst_scored_batch *b, pst_error *err) {
    memset(b, 0, sizeof *b);
    int N = comm && comm->mpi ? comm->size : 1, rank = N > 1 ? comm->rank : 0;
    if (n < 1) return pst_fail_field(err, "n", "n = %d: need at least one sample", n);
    if (N > 1 && !pst_dist_data_parallel(q))
        return pst_fail(err, "the model '%s' cannot be sampled by rows: it does not run data parallel", pst_dist_name(q));
    if (batch < 1 || batch > n) batch = n;
    pst_seq *ctx = NULL;
    if (scored_open(b, n, t->n_features, batch, context, &ctx, err) < 0) return -1;
    for (int s = 0; s < n; s += batch) {
        int m = n - s < batch ? n - s : batch, lo, hi;
        rank_rows(m, rank, N, &lo, &hi);
        if (draw_rows(t, q, ctx, s, m, lo, hi - lo, N < 2, rng, b, err) < 0) goto fail;
    }
    if (N > 1 && merge_rows(b, batch, comm, err) < 0) goto fail;
    free(ctx);
    return 0;
fail:
    free(ctx);
    pst_scored_batch_free(b);
    return -1;
}
