/* posterior — evidence: toxicity, a lexicon proxy for a neural classifier.
 *
 * Built from npm cuss 2.2.0 (word -> rating 0..2). Thread-safe: immutable
 * after creation. docs/evidence.md: how to plug in a real classifier through
 * an external: scorer.
 */
#ifndef POSTERIOR_TOXICITY_H
#define POSTERIOR_TOXICITY_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pst_toxicity pst_toxicity;

typedef struct {
    size_t start, end; /* bytes */
    int rating;        /* cuss rating 0..2 */
} pst_toxic_match;

/* Loads the cuss lexicon: data_dir/cuss/index.js. data_dir NULL or empty: the data
 * folder of pst_data_dir (base.h: env POSTERIOR_DATA, else the compiled-in data/). */
int pst_toxicity_create(const char *data_dir, pst_toxicity **out, pst_error *err);
void pst_toxicity_free(pst_toxicity *t);
size_t pst_toxicity_lexicon_size(const pst_toxicity *t);

/* Probability-like score of a match with cuss rating r: p(0) = 0, p(1) = 0.5, p(2) = 0.9. */
double pst_toxicity_rating_probability(int rating);

/* Matches in text (case-folded, word boundaries, obfuscations, multiword);
 * *out malloc'd (NULL when none). score (may be NULL) = 1 − Π (1 − p(rating)). */
int pst_toxicity_find(const pst_toxicity *t, const char *text, size_t len, pst_toxic_match **out,
                      size_t *n, double *score, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
