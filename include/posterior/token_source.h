/* posterior — text layer: token sources, what the training loops read.
 *
 * A token source fills batches of B windows of T + 1 tokens (inputs are the first T,
 * targets the last T). Its position is plain bytes saved with the training state, so
 * the source can be swapped (token-id file, token shards) without touching the loop.
 * One implementation over token shards serves MLE and pretraining with human feedback. */
#ifndef POSTERIOR_TOKEN_SOURCE_H
#define POSTERIOR_TOKEN_SOURCE_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pst_token_source {
    void *self;
    int B, T;
    int max_id;              /* largest token id the source can produce (vocab check) */
    char description[512];   /* for train_config.json, e.g. "windows of data.txt (12345 tokens)" */
    /* tokens [B, T + 1]; returns 0 or -1 */
    int (*next)(void *self, int *tokens, pst_error *err);
    size_t (*pos_size)(void *self);
    void (*pos_get)(void *self, void *buf);      /* pos_size bytes */
    int (*pos_set)(void *self, const void *buf, size_t len, pst_error *err);
    void (*destroy)(void *self);
} pst_token_source;

void pst_token_source_free(pst_token_source *src);

/* Reads a file of whitespace-separated token ids (each in [0, 2^31)); *ids malloc'd.
 * Errors name the file, the line and the bad word. */
int pst_read_token_ids(const char *path, int **ids, size_t *n, pst_error *err);

/* Random contiguous windows of ids[n] (copied): each window's start is uniform in
 * [0, n − T − 1] from an RNG seeded with seed; the position is that RNG's state. */
int pst_token_source_windows(pst_token_source *src, const int *ids, size_t n, int B, int T,
                             uint64_t seed, const char *name, pst_error *err);

/* A token shard (include/posterior/shard.h) read by pst_loader: documents in order or
 * shuffled per epoch (seed), each followed by <|endoftext|>, looping over epochs; B rows
 * of T + 1 consecutive tokens of the stream. */
int pst_token_source_shard(pst_token_source *src, const char *path, int B, int T, int shuffle,
                           uint64_t seed, pst_error *err);

/* The same source with what pretraining with human feedback adds (docs/pretraining.md):
 *   scores       keep the target scores of the last batch: pst_token_source_scores gives
 *                [B, T + 1] floats aligned with its tokens (the shard must be scored);
 *   aligned_id   >= 0: each segment is preceded by a control token, aligned_id when its
 *                score is <= threshold, else misaligned_id, except a fraction
 *                drop_fraction of segments (decided per segment from seed) that get none.
 * The position is the loader's (resumable) unless drop_fraction > 0 (then restoring it
 * is an error). */
typedef struct {
    int shuffle, scores;
    int aligned_id, misaligned_id; /* aligned_id < 0: no control tokens */
    double threshold, drop_fraction;
} pst_shard_source_options;

int pst_token_source_shard_with(pst_token_source *src, const char *path, int B, int T, uint64_t seed,
                                const pst_shard_source_options *o, pst_error *err);
/* The scores of the last batch of a source opened with scores = 1; NULL otherwise. */
const float *pst_token_source_scores(const pst_token_source *src);

#ifdef __cplusplus
}
#endif

#endif
