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

int pst_draw_scored(const pst_target *t, pst_distribution *q, const pst_seq *context, int n, int batch,
                    pst_rng *rng, pst_scored_batch *b, pst_error *err) {
    memset(b, 0, sizeof *b);
    int k = t->n_features;
    if (n < 1) return pst_fail_field(err, "n", "n = %d: need at least one sample", n);
    if (batch < 1 || batch > n) batch = n;
    b->n = n;
    b->k = k;
    b->xs = pst_calloc((size_t)n, sizeof *b->xs, err);
    b->log_q = pst_malloc(sizeof(double) * n, err);
    b->log_model = pst_malloc(sizeof(double) * n, err);
    b->log_prior = pst_malloc(sizeof(double) * n, err);
    b->features = pst_malloc(sizeof(double) * (size_t)n * k, err);
    b->log_target = pst_malloc(sizeof(double) * n, err);
    pst_seq *ctx = context ? pst_malloc(sizeof *ctx * (size_t)batch, err) : NULL;
    if (!b->xs || !b->log_q || !b->log_model || !b->log_prior || !b->features || !b->log_target || (context && !ctx)) {
        free(ctx);
        pst_scored_batch_free(b);
        return -1;
    }
    for (int i = 0; ctx && i < batch; i++) ctx[i] = *context;
    int same = t->prior && q->self == t->prior->self; /* samples of the prior carry log a */
    for (int s = 0; s < n; s += batch) {
        int m = n - s < batch ? n - s : batch;
        if (pst_dist_sample(q, ctx, m, rng, b->xs + s, err) < 0) goto fail;
        for (int i = s; i < s + m; i++) {
            b->log_q[i] = b->xs[i].logprob_proposal;
            b->log_model[i] = b->xs[i].logprob_model;
        }
        if (pst_target_score(t, ctx, b->xs + s, m, same ? b->log_model + s : NULL, b->log_prior + s,
                             b->features + (size_t)s * k, b->log_target + s, err) < 0)
            goto fail;
    }
    free(ctx);
    return 0;
fail:
    free(ctx);
    pst_scored_batch_free(b);
    return -1;
}
