/* Targets over text: scorers (include/posterior/scorer.h) applied to decoded samples,
 * and a target bundle loaded from a JSON spec (prior + scorers + λ / β). */
#include "posterior/scorer.h"
#include "posterior/target.h"
#include "posterior/tokenizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pst_text_evidence {
    pst_target_kind kind;
    pst_tokenizer *tok;
    int n_scorers;
    pst_scorer **scorers;
    int *offset;    /* [n_scorers + 1] first feature of scorer j */
    char **names;   /* [n_features] */
    int n_features;
};

void pst_text_evidence_free(pst_text_evidence *e) {
    if (!e) return;
    for (int j = 0; j < e->n_scorers; j++) pst_scorer_free(e->scorers[j]);
    for (int j = 0; j < e->n_features; j++) free(e->names[j]);
    free(e->scorers), free(e->offset), free(e->names);
    if (e->tok) pst_tokenizer_free(e->tok);
    free(e);
}

int pst_text_evidence_n_features(const pst_text_evidence *e) { return e->n_features; }

int pst_text_evidence_feature_range(const pst_text_evidence *e, int j, double *lo, double *hi) {
    for (int s = 0; s < e->n_scorers; s++)
        if (j >= e->offset[s] && j < e->offset[s + 1] && pst_scorer_kind_of(e->scorers[s]) == PST_SCORER_POINTWISE) {
            *lo = 0, *hi = 1;
            return 1;
        }
    return 0;
}
const char *pst_text_evidence_feature_name(const pst_text_evidence *e, int j) {
    return j >= 0 && j < e->n_features ? e->names[j] : "?";
}
pst_tokenizer *pst_text_evidence_tokenizer(const pst_text_evidence *e) { return e->tok; }

int pst_text_evidence_create(pst_target_kind kind, char *const *specs, int n, const char *tokenizer_dir,
                             pst_text_evidence **out, pst_error *err) {
    *out = NULL;
    if (n < 1) return pst_fail(err, "target: no scorer given");
    if (kind == PST_TARGET_KLRL && n != 1)
        return pst_fail(err, "target: a klrl target takes one scorer (its score is the reward), got %d", n);
    pst_text_evidence *e = pst_calloc(1, sizeof *e, err);
    if (!e) return -1;
    e->kind = kind;
    e->scorers = pst_calloc((size_t)n, sizeof *e->scorers, err);
    e->offset = pst_calloc((size_t)n + 1, sizeof(int), err);
    if (!e->scorers || !e->offset) {
        pst_text_evidence_free(e);
        return -1;
    }
    if (pst_tokenizer_load_dir(&e->tok, tokenizer_dir, err) < 0) {
        pst_text_evidence_free(e);
        return pst_fail_context(err, "target: tokenizer of '%s'", tokenizer_dir);
    }
    for (int j = 0; j < n; j++) {
        if (pst_scorer_create(specs[j], &e->scorers[j], err) < 0) {
            e->n_scorers = j;
            pst_text_evidence_free(e);
            return pst_fail_context(err, "target: scorer %d '%s'", j, specs[j]);
        }
        e->n_scorers = j + 1;
        int k = 1;
        if (kind == PST_TARGET_POINTWISE && pst_scorer_kind_of(e->scorers[j]) != PST_SCORER_POINTWISE) {
            pst_text_evidence_free(e);
            return pst_fail(err, "target: scorer '%s' is not pointwise (b in {0,1}); wrap it, e.g. below:T:%s",
                            specs[j], specs[j]);
        }
        if (kind == PST_TARGET_DISTRIBUTIONAL) {
            size_t nf = pst_scorer_n_features(e->scorers[j]);
            if (nf == 0) { /* an external scorer fixes k with its first answer */
                const char *empty = "";
                double s;
                if (pst_scorer_scores(e->scorers[j], 1, &empty, NULL, NULL, &s, err) < 0) {
                    pst_text_evidence_free(e);
                    return pst_fail_context(err, "target: scorer '%s'", specs[j]);
                }
                nf = pst_scorer_n_features(e->scorers[j]);
            }
            k = (int)nf;
        }
        e->offset[j + 1] = e->offset[j] + k;
    }
    e->n_features = e->offset[n];
    if (e->n_features < 1 || e->n_features > PST_TARGET_MAX_FEATURES) {
        int nf = e->n_features;
        pst_text_evidence_free(e);
        return pst_fail(err, "target: %d features (1..%d supported)", nf, PST_TARGET_MAX_FEATURES);
    }
    e->names = pst_calloc((size_t)e->n_features, sizeof(char *), err);
    if (!e->names) {
        pst_text_evidence_free(e);
        return -1;
    }
    for (int j = 0; j < n; j++)
        for (int f = e->offset[j]; f < e->offset[j + 1]; f++) {
            const char *nm = kind == PST_TARGET_DISTRIBUTIONAL
                                 ? pst_scorer_feature_name(e->scorers[j], (size_t)(f - e->offset[j]))
                                 : pst_scorer_spec(e->scorers[j]);
            e->names[f] = strdup(nm ? nm : specs[j]);
        }
    *out = e;
    return 0;
}

char *pst_text_evidence_decode(const pst_text_evidence *e, const int *ids, int n, size_t *len, pst_error *err) {
    int *keep = pst_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1), err);
    if (!keep) {
        return NULL;
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!pst_tokenizer_is_special(e->tok, ids[i])) keep[m++] = ids[i];
    char *text = NULL;
    size_t tl = 0;
    int rc = pst_tokenizer_decode(e->tok, keep, (size_t)m, &text, &tl, err);
    free(keep);
    if (rc < 0) return NULL;
    if (len) *len = tl;
    return text;
}

int pst_text_evidence_eval(void *ctx, const pst_seq *contexts, const pst_sample *xs, int n, double *out,
                           pst_error *err) {
    pst_text_evidence *e = ctx;
    int K = e->n_features, rc = -1;
    char **texts = pst_calloc((size_t)(n > 0 ? n : 1), sizeof(char *), err);
    char **ctexts = contexts ? pst_calloc((size_t)(n > 0 ? n : 1), sizeof(char *), err) : NULL;
    size_t *lens = pst_malloc(sizeof(size_t) * (size_t)(n > 0 ? n : 1), err);
    double *buf = pst_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * (size_t)K, err);
    if (!texts || (contexts && !ctexts) || !lens || !buf) goto done;
    for (int i = 0; i < n; i++) {
        if (!(texts[i] = pst_text_evidence_decode(e, xs[i].tokens, xs[i].n_tokens, &lens[i], err))) goto done;
        if (ctexts && contexts[i].n > 0 &&
            !(ctexts[i] = pst_text_evidence_decode(e, contexts[i].tokens, contexts[i].n, NULL, err)))
            goto done;
    }
    for (int j = 0; j < e->n_scorers; j++) {
        int k = e->offset[j + 1] - e->offset[j];
        const char *const *tx = (const char *const *)texts, *const *cx = (const char *const *)ctexts;
        int r;
        if (e->kind == PST_TARGET_POINTWISE) r = pst_scorer_log_b(e->scorers[j], (size_t)n, tx, lens, cx, buf, err);
        else if (e->kind == PST_TARGET_DISTRIBUTIONAL)
            r = pst_scorer_features(e->scorers[j], (size_t)n, tx, lens, cx, buf, err);
        else r = pst_scorer_scores(e->scorers[j], (size_t)n, tx, lens, cx, buf, err);
        if (r < 0) {
            pst_fail_context(err, "scorer '%s'", pst_scorer_spec(e->scorers[j]));
            goto done;
        }
        for (int i = 0; i < n; i++)
            for (int f = 0; f < k; f++) {
                double v = buf[(size_t)i * k + f];
                out[(size_t)i * K + e->offset[j] + f] = e->kind == PST_TARGET_POINTWISE ? exp(v) : v;
            }
    }
    rc = 0;
done:
    for (int i = 0; i < n && texts; i++) free(texts[i]);
    for (int i = 0; i < n && ctexts; i++) free(ctexts[i]);
    free(texts), free(ctexts), free(lens), free(buf);
    return rc;
}

/* ---- bundles ----------------------------------------------------------------- */

void pst_target_bundle_free(pst_target_bundle *b) {
    if (!b) return;
    pst_text_evidence_free(b->evidence);
    pst_distribution_free(&b->prior);
    pst_target_spec_free(&b->spec);
    memset(b, 0, sizeof *b);
}

/* The spec of the first scorer that refuses a text without its context; NULL if none. */
static const char *context_scorer(const pst_text_evidence *e) {
    for (int j = 0; j < e->n_scorers; j++)
        if (pst_scorer_needs_context(e->scorers[j])) return pst_scorer_spec(e->scorers[j]);
    return NULL;
}

int pst_target_bundle_require_contexts(const pst_target_bundle *b, int n_contexts, pst_error *err) {
    const char *needs = context_scorer(b->evidence);
    if (needs && n_contexts == 0)
        return pst_fail_field(err, "prompts", "target: scorer '%s' compares each sample with its context, and no "
                                              "context was given (a prompts file, one context per line)", needs);
    return 0;
}

int pst_target_bundle_check_context(const pst_target_bundle *b, int n_tokens, int max_new_tokens, pst_error *err) {
    const pst_gpt2 *m = pst_gpt2_distribution_model((pst_distribution *)&b->prior);
    int room = m ? m->config.n_positions - max_new_tokens : n_tokens;
    if (n_tokens > room)
        return pst_fail(err, "the context has %d tokens; with %d new tokens it does not fit the model's context "
                             "window (n_positions %d): at most %d tokens per context",
                        n_tokens, max_new_tokens, m->config.n_positions, room > 0 ? room : 0);
    return 0;
}

int pst_target_bundle_open(pst_target_spec *spec, const pst_gpt2_policy_options *o, pst_target_bundle *b,
                           pst_error *err) {
    memset(b, 0, sizeof *b);
    b->spec = *spec;
    memset(spec, 0, sizeof *spec);
    if (pst_gpt2_distribution_load(b->spec.prior, o, &b->prior, err) < 0) goto fail;
    if (pst_text_evidence_create(b->spec.kind, b->spec.scorers, b->spec.n_scorers, b->spec.prior, &b->evidence,
                                 err) < 0)
        goto fail;
    const char *needs = context_scorer(b->evidence);
    if (needs && !b->spec.conditional) {
        pst_fail_field(err, "conditional", "target: scorer '%s' compares each sample with its context; the target "
                                           "must be conditional (\"conditional\": true), with contexts", needs);
        goto fail;
    }
    int k = pst_text_evidence_n_features(b->evidence);
    if (b->spec.kind == PST_TARGET_DISTRIBUTIONAL && b->spec.n_features != k) {
        pst_fail(err, "target: the scorers give %d features but \"moments\" has %d values", k, b->spec.n_features);
        goto fail;
    }
    b->spec.n_features = k;
    /* E_p[φ] of a pointwise feature (φ ∈ {0,1}) lies in [0, 1] */
    for (int j = 0; b->spec.kind == PST_TARGET_DISTRIBUTIONAL && j < b->evidence->n_scorers; j++) {
        int f = b->evidence->offset[j];
        double mu = b->spec.moments[f];
        if (pst_scorer_kind_of(b->evidence->scorers[j]) == PST_SCORER_POINTWISE && !(mu >= 0 && mu <= 1)) {
            pst_fail(err, "target: \"moments\"[%d] is %g, outside [0, 1], the range of E_p[phi] for the 0/1 feature "
                     "'%s'", f, mu, b->evidence->names[f]);
            goto fail;
        }
    }
    pst_target *t = &b->target;
    t->kind = b->spec.kind;
    t->n_features = k;
    t->evidence = pst_text_evidence_eval;
    t->evidence_ctx = b->evidence;
    t->prior = &b->prior;
    t->beta = b->spec.beta;
    memcpy(t->lambda, b->spec.lambda, sizeof t->lambda);
    memcpy(t->moments, b->spec.moments, sizeof t->moments);
    for (int j = 0; j < k; j++) t->bounded[j] = pst_text_evidence_feature_range(b->evidence, j, &t->feature_lo[j], &t->feature_hi[j]);
    return 0;
fail:
    pst_target_bundle_free(b);
    return -1;
}

int pst_target_bundle_load(const char *path, const pst_gpt2_policy_options *o, pst_target_bundle *b,
                           pst_error *err) {
    pst_target_spec spec;
    memset(b, 0, sizeof *b);
    if (pst_target_spec_load(path, &spec, err) < 0) return -1;
    if (pst_target_bundle_open(&spec, o, b, err) < 0) return pst_fail_context(err, "%s", path);
    return 0;
}

int pst_target_bundle_contexts(const pst_target_bundle *b, const char *path, int max_new_tokens, pst_seq **contexts,
                               long **lines, int *n, pst_error *err) {
    *contexts = NULL, *n = 0;
    if (lines) *lines = NULL;
    pst_prompts p;
    if (pst_prompts_read(path, &p, err) < 0) return -1;
    pst_seq *c = pst_calloc((size_t)p.n, sizeof *c, err);
    int rc = c ? 0 : -1, k = 0;
    for (; rc == 0 && k < p.n; k++) {
        int *ids = NULL;
        size_t nid = 0;
        if (pst_tokenizer_encode(pst_text_evidence_tokenizer(b->evidence), p.text[k], strlen(p.text[k]), 1, &ids, &nid,
                                 err) < 0)
            rc = pst_fail_context(err, "%s:%ld", path, p.line[k]);
        else if (nid == 0)
            rc = pst_fail(err, "%s:%ld: the prompt encodes to no token", path, p.line[k]);
        else if (pst_target_bundle_check_context(b, (int)nid, max_new_tokens, err) < 0)
            rc = pst_fail_context(err, "%s:%ld", path, p.line[k]);
        c[k].tokens = ids, c[k].n = (int)nid;
    }
    if (rc == 0 && lines) { /* the prompts' line numbers pass to the caller */
        *lines = p.line;
        p.line = NULL;
    }
    pst_prompts_free(&p);
    if (rc) {
        pst_contexts_free(c, k);
        return -1;
    }
    *contexts = c, *n = k;
    return 0;
}

void pst_contexts_free(pst_seq *contexts, int n) {
    for (int i = 0; contexts && i < n; i++) free((int *)contexts[i].tokens);
    free(contexts);
}
