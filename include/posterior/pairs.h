/* posterior — preference pairs: human (or oracle) judgements "chosen is better than
 * rejected" for a prompt, the data a reward model and DPO learn from.
 *
 * Format (docs/formats.md): JSON lines, one pair per line,
 *     {"prompt": "...", "chosen": "...", "rejected": "...", "tie": false}
 * "prompt" may be "" (unconditional); "tie" is optional (default false; a tie counts
 * as ½ for each side in the Bradley–Terry loss). Blank lines are ignored.
 */
#ifndef POSTERIOR_PAIRS_H
#define POSTERIOR_PAIRS_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *prompt, *chosen, *rejected; /* NUL-ended UTF-8, owned by the set */
    int tie;
    long line; /* 1-based line in the file it was read from (0 when made in memory) */
} pst_pair;

/* A line that was skipped while reading, and why. */
typedef struct {
    long line;
    char reason[200];
} pst_pair_skip;

typedef struct {
    pst_pair *pairs;
    size_t n;
    size_t skipped;        /* lines skipped (malformed, empty or identical texts) */
    pst_pair_skip *skips;  /* [skipped] */
} pst_pair_set;

/* Reads a pairs file. A malformed line (not a JSON object, a missing or non-string
 * field, "tie" not a boolean) or a pair whose chosen or rejected text is empty, or
 * whose two texts are identical, is skipped and recorded in out->skips; the rest is
 * kept. Fails when the file cannot be read or no pair is left. */
int pst_pairs_read(const char *path, pst_pair_set *out, pst_error *err);
/* Writes "path:LINE: reason" for each skipped line to f (e.g. stderr). */
void pst_pair_set_print_skips(const pst_pair_set *s, const char *path, FILE *f);
void pst_pair_set_free(pst_pair_set *s);

/* One pair as one JSON line (no newline); malloc'd, NULL when out of memory.
 * Texts are written as valid UTF-8 (pst_json_quote). */
char *pst_pair_to_json(const pst_pair *p, pst_error *err);
/* Writes pairs[0, n) as a pairs file, atomically (temporary file + rename). */
int pst_pairs_write(const char *path, const pst_pair *pairs, size_t n, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
