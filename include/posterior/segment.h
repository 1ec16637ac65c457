/* posterior — text layer: splitting documents into segments (sentences or lines).
 *
 * Segments partition the document: spans are contiguous, in order, cover
 * [0, len) exactly, and each carries the whitespace that follows it. Shared by
 * `posterior prepare` (per-segment scores stored in shards) and by scorers that
 * report per-segment scores.
 */
#ifndef POSTERIOR_SEGMENT_H
#define POSTERIOR_SEGMENT_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t start, end; /* byte offsets, [start, end) */
} pst_span;

typedef enum {
    PST_SEGMENT_DOCUMENT = 0, /* the whole text is one segment */
    PST_SEGMENT_SENTENCE = 1, /* rule-based sentence splitter (like spaCy's sentencizer) */
    PST_SEGMENT_LINE = 2      /* one segment per line, the newline included */
} pst_segmenter;

/* Parses "document" | "sentence" | "line"; -1 with a message otherwise. */
int pst_segmenter_parse(const char *name, pst_segmenter *out, pst_error *err);
/* *spans is malloc'd; an empty text gives zero segments. */
int pst_segment(pst_segmenter kind, const char *text, size_t len, pst_span **spans,
                size_t *n_spans, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
