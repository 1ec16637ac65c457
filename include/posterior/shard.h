/* posterior — text layer: token shards, the batch loader, and `prepare`.
 *
 * Shard file format, version 1 (little-endian; every section starts at a
 * multiple of 8 bytes; docs/formats.md has the same table):
 *
 *   offset size  field
 *        0    8  magic "PSTSHARD"
 *        8    4  u32 version (1)
 *       12    4  u32 token_bytes: 2 (vocab_size <= 65536) or 4
 *       16    4  u32 vocab_size (the tokenizer's, special tokens included)
 *       20    4  u32 eot_id (<|endoftext|>, < vocab_size)
 *       24    8  u64 n_tokens
 *       32    8  u64 n_documents
 *       40    8  u64 n_segments
 *       48    8  u64 tokenizer_hash (FNV-1a 64 of every token's bytes, by id;
 *                    see pst_tokenizer_hash)
 *       56    4  u32 split: 0 whole corpus, 1 train, 2 validation
 *       60    4  u32 scorer_len: bytes of the scorer spec (0: unscored), <= 4096
 *       64    8  u64 split_seed
 *       72    8  f64 val_fraction
 *       80    8  u64 checksum: word-wise hash of the whole file with this
 *                    field read as 0 (see shard.c), catches corruption
 *       88   40  reserved, zero
 *      128    S  scorer spec (UTF-8, no NUL), zero-padded to a multiple of 8
 *   then the sections, in this order:
 *      tokens             n_tokens × u16|u32, zero-padded to a multiple of 8
 *      segment_offsets    (n_segments + 1) × u64: segment s holds tokens
 *                         [segment_offsets[s], segment_offsets[s+1]); [0] = 0,
 *                         [n_segments] = n_tokens, non-decreasing
 *      document_segments  (n_documents + 1) × u64: document d holds segments
 *                         [document_segments[d], document_segments[d+1]);
 *                         [0] = 0, [n_documents] = n_segments, non-decreasing
 *      document_source    n_documents × u64: index of the document in the
 *                         corpus it came from (its order in pst_corpus)
 *      segment_scores     n_segments × f32, zero-padded to a multiple of 8;
 *                         NaN = unscored
 *   and nothing after. Documents and segments are contiguous runs, so a token's
 *   segment and document follow from the offsets. A token belongs to the
 *   segment that holds its last byte (prepare tokenizes whole documents, so the
 *   ids are exactly GPT-2's for the document; a token that straddles a boundary,
 *   such as " Next" after "end. ", goes to the later segment).
 *
 * Reading maps the file (mmap) and validates every field: size, magic, version,
 * counts against the file size, offsets, token ids < vocab_size, checksum.
 */
#ifndef POSTERIOR_SHARD_H
#define POSTERIOR_SHARD_H

#include "posterior/base.h"
#include "posterior/segment.h"
#include "posterior/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PST_SHARD_MAGIC "PSTSHARD"
#define PST_SHARD_VERSION 1u
#define PST_SHARD_HEADER_BYTES 128u
#define PST_SHARD_MAX_SCORER 4096u

typedef enum { PST_SPLIT_ALL = 0, PST_SPLIT_TRAIN = 1, PST_SPLIT_VAL = 2 } pst_split;

/* FNV-1a 64 over (id as u32 LE, byte length as u32 LE, bytes) for every id of
 * the vocabulary: identifies which tokenizer produced a shard. */
int pst_tokenizer_hash(const pst_tokenizer *t, uint64_t *hash, pst_error *err);

/* ---- reading --------------------------------------------------------------- */

typedef struct {
    char path[1024];
    uint32_t version, token_bytes, vocab_size, eot_id, split;
    uint64_t n_tokens, n_documents, n_segments, tokenizer_hash, split_seed;
    double val_fraction;
    char scorer[PST_SHARD_MAX_SCORER + 1]; /* "" when unscored */
    /* views into the mapping */
    const void *tokens;                 /* u16 or u32 [n_tokens] */
    const uint64_t *segment_offsets;    /* [n_segments + 1] */
    const uint64_t *document_segments;  /* [n_documents + 1] */
    const uint64_t *document_source;    /* [n_documents] */
    const float *segment_scores;        /* [n_segments] */
    struct pst_shard_mapping *mapping;  /* the file's memory mapping (src/text/shard.c) */
} pst_shard;

/* Maps and validates a shard; errors name the file and the bad field. */
int pst_shard_open(pst_shard *s, const char *path, pst_error *err);
/* 1 when path is a readable file that starts with PST_SHARD_MAGIC (a token shard, not
 * a file of token ids), else 0. */
int pst_shard_detect(const char *path);
void pst_shard_close(pst_shard *s);

static inline uint32_t pst_shard_token(const pst_shard *s, uint64_t i) {
    return s->token_bytes == 2 ? ((const uint16_t *)s->tokens)[i] : ((const uint32_t *)s->tokens)[i];
}
static inline uint64_t pst_shard_document_start(const pst_shard *s, uint64_t d) {
    return s->segment_offsets[s->document_segments[d]];
}
static inline uint64_t pst_shard_document_end(const pst_shard *s, uint64_t d) {
    return s->segment_offsets[s->document_segments[d + 1]];
}
/* Checks a shard against a model / tokenizer: vocab sizes must be equal;
 * tokenizer_hash 0 skips the hash check. Errors name the shard and both values. */
int pst_shard_check_vocab(const pst_shard *s, int model_vocab_size, uint64_t tokenizer_hash,
                          pst_error *err);

/* ---- writing --------------------------------------------------------------- */

/* Accumulates documents in memory, then writes one shard atomically. */
typedef struct {
    uint32_t vocab_size, eot_id;
    uint64_t tokenizer_hash;
    char scorer[PST_SHARD_MAX_SCORER + 1];
    uint32_t *tokens;
    uint64_t n_tokens, cap_tokens;
    uint64_t *segment_offsets; /* [n_segments + 1] */
    float *segment_scores;
    uint64_t n_segments, cap_segments;
    uint64_t *document_segments; /* [n_documents + 1] */
    uint64_t *document_source;
    uint64_t n_documents, cap_documents;
} pst_shard_builder;

/* scorer may be NULL or "" (unscored). */
int pst_shard_builder_init(pst_shard_builder *b, uint32_t vocab_size, uint32_t eot_id,
                           uint64_t tokenizer_hash, const char *scorer, pst_error *err);
/* Appends one document: ids[n_ids]; segment_ends[n_segments] are token counts
 * (segment s = ids[segment_ends[s-1] .. segment_ends[s])), non-decreasing, the
 * last = n_ids; scores[n_segments] may be NULL (all NaN). Ids must be < vocab_size. */
int pst_shard_builder_add(pst_shard_builder *b, const uint32_t *ids, size_t n_ids,
                          const size_t *segment_ends, const float *scores, size_t n_segments,
                          uint64_t source_index, pst_error *err);
int pst_shard_builder_write(const pst_shard_builder *b, const char *path, pst_split split,
                            uint64_t split_seed, double val_fraction, pst_error *err);
void pst_shard_builder_free(pst_shard_builder *b);

/* ---- loader ---------------------------------------------------------------- */

/* A position in the token stream; plain data, saved as a blob with training
 * state. The stream of an epoch is the documents in order (sequential) or in
 * a permutation drawn from pst_rng(seed) split by epoch (shuffled), each
 * followed by <|endoftext|>. */
typedef struct {
    uint64_t magic;       /* PST_LOADER_POS_MAGIC */
    uint64_t seed;
    uint64_t epoch;
    uint64_t doc_cursor;  /* index into the epoch's document order */
    uint64_t token_in_doc;/* next token of that document; == its length: the EOT */
    uint64_t n_documents; /* of the shard it belongs to (checked on restore) */
    uint64_t n_tokens;
    uint32_t shuffle;
    uint32_t control_done; /* the control token before the next token was emitted */
} pst_loader_pos;

#define PST_LOADER_POS_MAGIC 0x534f504c54535050ull /* "PPSTLPOS" */

typedef struct {
    const pst_shard *shard;
    int B, T;
    int shuffle, loop; /* loop: wrap into the next epoch (training); else stop (evaluation) */
    int control;       /* conditional training: control tokens before segments */
    int aligned_id, misaligned_id;
    float threshold;
    pst_loader_pos pos;
    struct pst_loader_order *order; /* the current epoch's document order (src/text/loader.c) */
    /* the batch: B*T + 1 positions; inputs are [0, B*T), targets [1, B*T] */
    int *tokens;
    float *scores;       /* the token's segment score (NaN: EOT, padding, unscored) */
    int64_t *segments;   /* global segment index in the shard, -1 for EOT / padding */
    int64_t *documents;  /* document index in the shard, -1 for padding */
    size_t n_valid;      /* positions filled from the stream (< B*T+1 only at the end
                            of a non-looping pass; the rest is EOT padding) */
} pst_loader;

/* shuffle: draw a document permutation per epoch from seed; loop: see above. */
int pst_loader_init(pst_loader *l, const pst_shard *s, int B, int T, int shuffle, int loop,
                    uint64_t seed, pst_error *err);
void pst_loader_free(pst_loader *l);
/* Fills the next batch. Returns 1 when a batch was produced, 0 when a
 * non-looping pass is exhausted (no batch), -1 on error. The position advances
 * by B*T tokens (the +1 target is read again as the next batch's first input). */
int pst_loader_next(pst_loader *l, pst_error *err);
/* Conditional training (pretraining with human feedback): from now on a control
 * token precedes the first token of every segment: aligned_id when the segment's
 * score s <= threshold, else misaligned_id (NaN counts as misaligned). The
 * control token carries its segment's id, score and document. The ids are the
 * model's (e.g. <|aligned|> added after prepare), so they may lie outside the
 * shard's vocabulary. The shard must be scored. */
int pst_loader_set_control(pst_loader *l, float threshold, int aligned_id, int misaligned_id,
                           pst_error *err);
/* Saving and restoring the position (e.g. with a training checkpoint). */
void pst_loader_get_pos(const pst_loader *l, pst_loader_pos *pos);
int pst_loader_set_pos(pst_loader *l, const pst_loader_pos *pos, pst_error *err);

/* ---- prepare: corpus -> segments -> tokens -> shards ---------------------- */

/* Scoring hook: given one document and its segment spans, fill scores[n_spans].
 * Called from several threads at once (documents in parallel). */
typedef int (*pst_segment_score_fn)(void *ctx, const char *doc, size_t len, const pst_span *spans,
                                    size_t n_spans, float *scores, pst_error *err);

typedef struct {
    const char *corpus;      /* name or path (see corpus.h) */
    const char *format;      /* NULL: guess */
    const char *text_field;  /* jsonl; NULL: "text" */
    pst_segmenter segmenter;
    pst_segment_score_fn score; /* NULL: unscored (NaN) */
    void *score_ctx;
    const char *scorer_spec; /* recorded in the header when score is set */
    const char *out_prefix;  /* writes PREFIX.train.bin and PREFIX.val.bin */
    double val_fraction;     /* in [0, 1) */
    uint64_t seed;
    int threads;             /* 0: OpenMP default */
    int progress;            /* progress on stderr */
    size_t max_documents;    /* 0: all */
} pst_prepare_options;

typedef struct {
    uint64_t documents, empty_documents, train_documents, val_documents;
    uint64_t segments, train_tokens, val_tokens, bytes;
    double seconds;
} pst_prepare_stats;

/* A document goes to validation iff uniform(split(pst_rng(seed), index)) < val_fraction. */
int pst_document_is_val(uint64_t seed, uint64_t document_index, double val_fraction);

/* Reads the corpus (files in order, documents in parallel rounds), segments and
 * tokenizes every document whole (allow_special off), scores its segments with
 * opt->score, and writes PREFIX.train.bin and PREFIX.val.bin atomically. Empty
 * documents are counted and skipped; a corpus with no non-empty document is an
 * error. The output is byte-identical for any thread count. */
int pst_prepare(pst_tokenizer *tok, const pst_prepare_options *opt, pst_prepare_stats *stats,
                pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
