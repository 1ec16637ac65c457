/* posterior — evidence layer: scorers b(x), φ(x), r(x).
 *
 * A scorer maps a batch of texts (and optional contexts) to numbers. Every
 * scorer gives, per text x:
 *   score     s(x): the scorer's scalar (toxicity probability, PII findings
 *             per character, PEP8 violations per character, b(x) for a
 *             pointwise constraint, Σφ for a feature set, what an external
 *             process answers);
 *   log_b     log b(x) for pointwise constraints (b ∈ {0,1}: 0 or -inf);
 *             NAN for scorers that are not pointwise;
 *   features  φ(x) ∈ R^k, k = pst_scorer_n_features (for a pointwise scorer
 *             φ = (b), for a plain score φ = (s), for features:FILE the file's
 *             k named features);
 *   segments  per-segment scores when the text is split by a pst_segmenter;
 *   findings  typed byte spans (PII, toxic words, PEP8 violations) where the
 *             scorer has them.
 *
 * Specs (one short string, usable from every CLI command):
 *   pep8                     PEP8 violations per character (pycodestyle 2.10 port)
 *   pii, pii:EMAIL,PHONE     PII findings per character (all types, or those listed)
 *   toxicity                 lexicon toxicity proxy, 1 − Π(1 − p) over matches
 *   contains:W[,W...]        b = 1 if any word/phrase occurs (case-insensitive,
 *                            on word boundaries)
 *   regex:PATTERN            b = 1 if the PCRE2 pattern matches
 *   length:MIN:MAX           b = 1 if MIN ≤ characters ≤ MAX (empty = unbounded)
 *   features:FILE            φ ∈ {0,1}^k from a file of `NAME = SPEC` lines
 *   external:CMD             a process speaking JSON lines (see external.c)
 *   rm:DIR                   a reward model r(x) (posterior/reward_model.h; `posterior rm train`)
 *   below:T:SPEC, above:T:SPEC  b = [s(x) < T], b = [s(x) > T] (pointwise)
 *   not:SPEC                 b = 1 − b_SPEC (SPEC pointwise)
 *   A&B&...                  product of pointwise scorers, b = Π b_i
 * Context-aware (pointwise b(x, c); every text needs its context, else an error):
 *   numbers-copied           every number of c (digits, or one … ten) is in x in digits
 *   entities-from-context[:K]  every entity of x (number, capitalised word not starting a
 *                            sentence) occurs in c, and x has at least K of them (K = 1)
 *   pep8-clean               no pycodestyle finding on the lines of c + x that x wrote
 * A factor starting with regex:, external: or rm: takes the rest of the spec, so
 * it must be the last factor of a product. docs/evidence.md has the details.
 *
 * Thread safety: a scorer is immutable after creation except the external
 * scorer, which serialises access to its process with a mutex; any scorer may
 * be called from several threads at once.
 */
#ifndef POSTERIOR_SCORER_H
#define POSTERIOR_SCORER_H

#include "posterior/base.h"
#include "posterior/segment.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pst_scorer pst_scorer;

typedef enum {
    PST_SCORER_SCORE = 0,     /* real-valued score s(x); log_b is NAN */
    PST_SCORER_POINTWISE = 1, /* b(x) ∈ {0,1}; score = b, log_b = log b */
    PST_SCORER_FEATURES = 2   /* φ(x) ∈ R^k; score = Σ φ_i */
} pst_scorer_kind;

/* A typed span [start, end) in bytes; type is "EMAIL", "TOXIC", "E225",
 * "MATCH", ...; rating is scorer-specific (toxicity: the cuss rating). */
typedef struct {
    char type[16];
    size_t start, end;
    double rating;
} pst_finding;

typedef struct {
    double score;
    double log_b;           /* NAN unless the scorer is pointwise */
    double *features;       /* [k], malloc'd (NULL when k == 0) */
    size_t n_features;
    pst_span *segments;     /* [n_segments] byte spans (when segmented) */
    double *segment_scores; /* [n_segments] */
    size_t n_segments;
    pst_finding *findings;  /* [n_findings], sorted by start */
    size_t n_findings;
} pst_score;

typedef struct {
    int segmented;            /* 0: no per-segment scores */
    pst_segmenter segmenter;  /* used when segmented */
    int findings;             /* 1: fill findings */
} pst_score_options;

/* Parses a spec and builds the scorer. Errors name the spec and what is wrong.
 * Specs nested deeper than 100 levels (not:, below:, above:, features files) are refused. */
int pst_scorer_create(const char *spec, pst_scorer **out, pst_error *err);
/* Same, with the timeout of its external: scorers (seconds per batch, > 0) set
 * from the start, so their start-up probe honours it; pst_scorer_create uses
 * PST_SCORER_DEFAULT_TIMEOUT. */
#define PST_SCORER_DEFAULT_TIMEOUT 60.0
int pst_scorer_create_timeout(const char *spec, double timeout, pst_scorer **out, pst_error *err);
void pst_scorer_free(pst_scorer *s);

const char *pst_scorer_spec(const pst_scorer *s);
pst_scorer_kind pst_scorer_kind_of(const pst_scorer *s);
/* k (an external: scorer learns it at creation from its answer to the empty text). */
size_t pst_scorer_n_features(const pst_scorer *s);
/* 1 when s (or a part of it) is context-aware and refuses a text without its context
 * (numbers-copied, entities-from-context, pep8-clean); python-compiles takes one optionally. */
int pst_scorer_needs_context(const pst_scorer *s);
/* Name of feature i (the spec, or the NAME from a features file). */
const char *pst_scorer_feature_name(const pst_scorer *s, size_t i);
/* Timeout for one batch of the external: scorers in s (default 60 s), parts of
 * products, not:/below:/above: and feature files included; no effect on others. */
void pst_scorer_set_timeout(pst_scorer *s, double seconds);

/* Scores n texts. lens may be NULL (strlen); contexts may be NULL or hold NULLs.
 * out[n] is filled (zeroed first); free each with pst_score_clear. opt may be NULL
 * (no segments, no findings). Texts are bytes: invalid UTF-8 and NUL bytes are
 * allowed; "characters" below means UTF-8 lead bytes (each invalid byte is one). */
int pst_scorer_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                     const char *const *contexts, const pst_score_options *opt, pst_score *out,
                     pst_error *err);
void pst_score_clear(pst_score *r);

/* Fast paths for training loops: only the numbers.
 *   scores[n]; log_b[n] (pointwise scorers only, else error); phi[n * k] row-major. */
int pst_scorer_scores(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                      const char *const *contexts, double *scores, pst_error *err);
int pst_scorer_log_b(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                     const char *const *contexts, double *log_b, pst_error *err);
int pst_scorer_features(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                        const char *const *contexts, double *phi, pst_error *err);

/* Number of characters (UTF-8 lead bytes; an invalid byte counts as one). */
size_t pst_utf8_chars(const char *text, size_t len);

#ifdef __cplusplus
}
#endif

#endif
