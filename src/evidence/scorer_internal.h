/* Private to src/evidence: how a scorer implementation plugs into scorer.c. */
#ifndef POSTERIOR_EVIDENCE_SCORER_INTERNAL_H
#define POSTERIOR_EVIDENCE_SCORER_INTERNAL_H

#include "posterior/scorer.h"

typedef struct {
    /* Scores texts[0, n): fills out[i].score for every i; out[i].features
     * (malloc'd, n_features = k) only for PST_SCORER_FEATURES scorers; out[i]
     * findings when want_findings. lens is never NULL; contexts may be NULL. */
    int (*score)(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                 const char *const *contexts, int want_findings, pst_score *out,
                 pst_error *err);
    void (*destroy)(void *impl);
} pst_scorer_ops;

struct pst_scorer {
    const pst_scorer_ops *ops;
    void *impl;
    char *spec;
    pst_scorer_kind kind;
    size_t k;            /* feature dimension */
    char **names;        /* [k] feature names, NULL for k <= 1 (the spec is the name) */
    /* segment score = findings starting in the segment / characters of the
     * segment (PII, PEP8: needs the whole document, e.g. for E3 blank lines) */
    int segment_from_findings;
    double timeout;      /* external: seconds per batch */
    pst_scorer **parts;  /* composites: their parts (owned by impl), for settings */
    size_t n_parts;
    int needs_context;   /* b(x, c): every text must come with its context (context.c) */
};

/* What parsing a spec carries down: the timeout of external: scorers (their
 * start-up probe honours it), the nesting depth (not:, below:, above:),
 * refused beyond PST_SCORER_MAX_DEPTH, and whether we are inside a features
 * file (which cannot include another, at any depth). */
typedef struct {
    double timeout;
    int depth;
    int in_features;
} pst_spec_ctx;
#define PST_SCORER_MAX_DEPTH 100

/* Allocates a scorer shell (spec copied); the caller sets ops/impl/kind/k. */
pst_scorer *pst_scorer_new(const char *spec, size_t spec_len, pst_error *err);
/* Frees the scorers v[0, n) and the array v (a composite's parts). */
void pst_scorers_free(pst_scorer **v, size_t n);
/* The one way to build a scorer around its implementation: a shell of spec owning impl,
 * with ops and kind (k = 1), into *out; returns 0. impl NULL (its allocation failed, err
 * says so) or a failure here: impl is destroyed with ops->destroy, *out is NULL, -1. */
int pst_scorer_make(const char *spec, size_t spec_len, const pst_scorer_ops *ops, void *impl,
                    pst_scorer_kind kind, pst_scorer **out, pst_error *err);

/* Appends a finding to r (type truncated to 15 bytes). */
int pst_score_add_finding(pst_score *r, const char *type, size_t start, size_t end, double rating,
                          pst_error *err);
/* Appends all of src's findings to dst (a composite collecting its parts'). */
int pst_score_append_findings(pst_score *dst, const pst_score *src, pst_error *err);

/* Constructors, one per spec family (spec is the full text of this factor). */
int pst_scorer_create_contains(const char *spec, size_t len, const char *words, size_t wlen,
                               pst_scorer **out, pst_error *err);
int pst_scorer_create_regex(const char *spec, size_t len, const char *pattern, size_t plen,
                            pst_scorer **out, pst_error *err);
int pst_scorer_create_length(const char *spec, size_t len, const char *args, size_t alen,
                             pst_scorer **out, pst_error *err);
/* Context-aware rules b(x, c) (context.c): numbers-copied, entities-from-context[:K],
 * pep8-clean. Returns 0 when spec is none of them (*out NULL), 1 when built, -1 on error. */
int pst_scorer_create_context(const char *spec, size_t len, pst_scorer **out, pst_error *err);
/* python-compiles (python_syntax.c): b(x) = 1 iff Python 3.11's compile() accepts c + x. */
int pst_scorer_create_python_compiles(const char *spec, size_t len, pst_scorer **out, pst_error *err);
int pst_scorer_create_features(const char *spec, size_t len, const char *path,
                               const pst_spec_ctx *ctx, pst_scorer **out, pst_error *err);
int pst_scorer_create_external(const char *spec, size_t len, const char *cmd, double timeout,
                               pst_scorer **out, pst_error *err);
/* types: "EMAIL,PHONE" (NULL = all) */
int pst_scorer_create_pii(const char *spec, size_t len, const char *types, pst_scorer **out,
                          pst_error *err);
int pst_scorer_create_toxicity(const char *spec, size_t len, pst_scorer **out, pst_error *err);
/* rm:DIR, a reward model r(x) (reward_model.c) */
int pst_scorer_create_rm(const char *spec, size_t len, const char *dir, pst_scorer **out, pst_error *err);

/* Parses one spec of the given length (used by features files). */
int pst_scorer_create_n(const char *spec, size_t len, const pst_spec_ctx *ctx, pst_scorer **out,
                        pst_error *err);

#endif
