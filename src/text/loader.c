/* Batch loader: B×T (+1) windows of a shard's token stream.
 *
 * The stream of one epoch is its documents in an order (the shard's, or a
 * permutation drawn from the seed for that epoch), each followed by
 * <|endoftext|>:  d0 EOT d1 EOT ... .  Batch k covers stream positions
 * [k·B·T, (k+1)·B·T] inclusive; row b's inputs are tokens[b·T .. b·T+T) and its
 * targets tokens[b·T+1 .. b·T+T] (llm.c's layout). Every position carries the
 * score and global index of its segment and its document index; an EOT carries
 * segment -1 and score NaN, and belongs to the document it ends. With control
 * tokens (conditional training) the first token of every segment is preceded
 * by <|aligned|> (score <= threshold) or <|misaligned|>:  A s0 M s1 EOT ... .
 */
#include "posterior/shard.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The epoch's document order: identity, or Fisher–Yates driven by
 * pst_rng_split(pst_rng(seed), epoch). */
struct pst_loader_order {
    uint64_t epoch; /* whose order docs is */
    uint64_t docs[]; /* [n_documents] */
};

static void make_order(pst_loader *l, uint64_t epoch) {
    uint64_t n = l->shard->n_documents;
    for (uint64_t i = 0; i < n; i++) l->order->docs[i] = i;
    if (l->pos.shuffle && n > 1) {
        pst_rng base, rng;
        pst_rng_seed(&base, l->pos.seed);
        rng = pst_rng_split(&base, epoch);
        for (uint64_t i = n - 1; i > 0; i--) {
            uint64_t j = pst_rng_below(&rng, i + 1);
            uint64_t t = l->order->docs[i];
            l->order->docs[i] = l->order->docs[j];
            l->order->docs[j] = t;
        }
    }
    l->order->epoch = epoch;
}

static uint64_t document_at(pst_loader *l, const pst_loader_pos *p) {
    if (l->order->epoch != p->epoch) make_order(l, p->epoch);
    return l->order->docs[p->doc_cursor];
}

/* Segment holding token t of document d: the last s in the document's segment
 * range with segment_offsets[s] <= t (empty segments are skipped). */
static uint64_t segment_of(const pst_shard *s, uint64_t d, uint64_t t) {
    uint64_t lo = s->document_segments[d], hi = s->document_segments[d + 1]; /* [lo, hi) */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (s->segment_offsets[mid] <= t) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Reads the stream position *p into slot i and advances *p; returns 1 when a
 * non-looping pass is exhausted. */
static int read_one(pst_loader *l, pst_loader_pos *p, size_t i) {
    const pst_shard *s = l->shard;
    if (p->doc_cursor == s->n_documents) {
        if (!l->loop) return 1;
        p->epoch++;
        p->doc_cursor = 0;
        p->token_in_doc = 0;
    }
    uint64_t d = document_at(l, p);
    uint64_t start = pst_shard_document_start(s, d), len = pst_shard_document_end(s, d) - start;
    l->documents[i] = (int64_t)d;
    if (p->token_in_doc < len) {
        uint64_t t = start + p->token_in_doc;
        uint64_t seg = segment_of(s, d, t);
        float score = s->segment_scores[seg];
        l->segments[i] = (int64_t)seg;
        l->scores[i] = score;
        if (l->control && !p->control_done && t == s->segment_offsets[seg]) {
            /* s <= t: aligned; NaN compares false: misaligned */
            l->tokens[i] = score <= l->threshold ? l->aligned_id : l->misaligned_id;
            p->control_done = 1;
            return 0;
        }
        l->tokens[i] = (int)pst_shard_token(s, t);
        p->control_done = 0;
        p->token_in_doc++;
    } else {
        l->tokens[i] = (int)s->eot_id;
        l->segments[i] = -1;
        l->scores[i] = NAN;
        p->doc_cursor++;
        p->token_in_doc = 0;
    }
    return 0;
}

int pst_loader_init(pst_loader *l, const pst_shard *s, int B, int T, int shuffle, int loop,
                    uint64_t seed, pst_error *err) {
    memset(l, 0, sizeof *l);
    if (B <= 0 || T <= 0 || (int64_t)B * T > (1 << 30))
        return pst_fail(err, "loader: batch %d x %d out of range", B, T);
    if (s->n_documents == 0) return pst_fail(err, "%s: shard holds no documents", s->path);
    l->shard = s;
    l->B = B;
    l->T = T;
    l->shuffle = shuffle;
    l->loop = loop;
    size_t n = (size_t)B * T + 1;
    l->order = pst_malloc(sizeof *l->order + s->n_documents * sizeof *l->order->docs, err);
    l->tokens = pst_malloc(n * sizeof *l->tokens, err);
    l->scores = pst_malloc(n * sizeof *l->scores, err);
    l->segments = pst_malloc(n * sizeof *l->segments, err);
    l->documents = pst_malloc(n * sizeof *l->documents, err);
    if (!l->order || !l->tokens || !l->scores || !l->segments || !l->documents) {
        pst_loader_free(l);
        return -1;
    }
    l->pos.magic = PST_LOADER_POS_MAGIC;
    l->pos.seed = seed;
    l->pos.shuffle = shuffle ? 1 : 0;
    l->pos.n_documents = s->n_documents;
    l->pos.n_tokens = s->n_tokens;
    make_order(l, 0);
    return 0;
}

void pst_loader_free(pst_loader *l) {
    free(l->order);
    free(l->tokens);
    free(l->scores);
    free(l->segments);
    free(l->documents);
    memset(l, 0, sizeof *l);
}

int pst_loader_next(pst_loader *l, pst_error *err) {
    size_t bt = (size_t)l->B * l->T, i = 0;
    while (i < bt && read_one(l, &l->pos, i) == 0) i++;
    /* the +1 target: read without moving the position */
    pst_loader_pos peek = l->pos;
    if (i == bt && read_one(l, &peek, i) == 0) i++;
    l->n_valid = i;
    if (i < 2) return 0; /* nothing left to predict */
    for (size_t k = i; k <= bt; k++) {
        l->tokens[k] = (int)l->shard->eot_id;
        l->segments[k] = -1;
        l->documents[k] = -1;
        l->scores[k] = NAN;
    }
    (void)err;
    return 1;
}

int pst_loader_set_control(pst_loader *l, float threshold, int aligned_id, int misaligned_id,
                           pst_error *err) {
    if (!l->shard->scorer[0])
        return pst_fail(err, "%s: conditional training needs a scored shard (one prepared with a scorer)", l->shard->path);
    if (aligned_id < 0 || misaligned_id < 0 || aligned_id == misaligned_id)
        return pst_fail(err, "loader: control token ids %d and %d must be distinct and >= 0", aligned_id,
                        misaligned_id);
    if (isnan(threshold)) return pst_fail(err, "loader: the control threshold is NaN");
    l->control = 1;
    l->threshold = threshold;
    l->aligned_id = aligned_id;
    l->misaligned_id = misaligned_id;
    return 0;
}

void pst_loader_get_pos(const pst_loader *l, pst_loader_pos *pos) { *pos = l->pos; }

int pst_loader_set_pos(pst_loader *l, const pst_loader_pos *pos, pst_error *err) {
    const pst_shard *s = l->shard;
    if (pos->magic != PST_LOADER_POS_MAGIC)
        return pst_fail(err, "loader: saved position is not a loader position (bad magic)");
    if (pos->n_documents != s->n_documents || pos->n_tokens != s->n_tokens)
        return pst_fail(err, "%s: saved loader position belongs to another shard "
                             "(%llu documents / %llu tokens, this one has %llu / %llu)",
                        s->path, (unsigned long long)pos->n_documents, (unsigned long long)pos->n_tokens,
                        (unsigned long long)s->n_documents, (unsigned long long)s->n_tokens);
    if (pos->doc_cursor > s->n_documents || pos->shuffle > 1 || pos->control_done > 1)
        return pst_fail(err, "loader: saved position out of range (document %llu of %llu)",
                        (unsigned long long)pos->doc_cursor, (unsigned long long)s->n_documents);
    pst_loader_pos old = l->pos;
    l->pos = *pos;
    make_order(l, pos->epoch);
    uint64_t len = 0;
    if (pos->doc_cursor < s->n_documents) {
        uint64_t d = l->order->docs[pos->doc_cursor];
        len = pst_shard_document_end(s, d) - pst_shard_document_start(s, d);
    }
    if (pos->token_in_doc > len) {
        l->pos = old;
        make_order(l, old.epoch);
        return pst_fail(err, "loader: saved position out of range (token %llu of a %llu-token document)",
                        (unsigned long long)pos->token_in_doc, (unsigned long long)len);
    }
    l->shuffle = (int)pos->shuffle;
    return 0;
}
