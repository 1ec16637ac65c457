/* Token sources (include/posterior/token_source.h): token-id files, random windows of a
 * token array, and token shards through pst_loader — one shard source for MLE and for
 * pretraining with human feedback (scores of the last batch, control tokens). */
#include "posterior/token_source.h"

#include "posterior/shard.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- token-id files ------------------------------------------------------------ */

int pst_read_token_ids(const char *path, int **ids, size_t *n, pst_error *err) {
    *ids = NULL;
    *n = 0;
    char *text;
    size_t len;
    if (pst_read_file(path, &text, &len, err)) return -1;
    size_t cap = len / 2 + 1, k = 0;
    int *out = pst_malloc(cap * sizeof(int), err);
    if (!out) {
        free(text);
        return -1;
    }
    long line = 1;
    char *s = text;
    while (*s) {
        if (isspace((unsigned char)*s)) {
            line += *s++ == '\n';
            continue;
        }
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > 2147483647L || (*end && !isspace((unsigned char)*end))) {
            int w = 0;
            while (s[w] && !isspace((unsigned char)s[w]) && w < 40) w++;
            pst_fail(err, "%s: line %ld: '%.*s' is not a token id (a non-negative integer)", path,
                     line, w, s);
            free(out);
            free(text);
            return -1;
        }
        out[k++] = (int)v;
        s = end;
    }
    free(text);
    if (len == 0 || k == 0) {
        free(out);
        return pst_fail(err, "%s: no token ids", path);
    }
    *ids = out;
    *n = k;
    return 0;
}

void pst_token_source_free(pst_token_source *src) {
    if (src && src->destroy) src->destroy(src->self);
    if (src) memset(src, 0, sizeof *src);
}

/* ---- random windows of a token array ----------------------------------------------- */

#define WINDOWS_POS_MAGIC 0x534f504e49575350ull /* "PSWINPOS" */

typedef struct {
    int *ids;
    size_t n;
    int B, T;
    pst_rng rng;
} windows_source;

typedef struct {
    uint64_t magic, n, T;
    pst_rng rng;
} windows_pos;

static int windows_next(void *self, int *tokens, pst_error *err) {
    windows_source *w = self;
    (void)err;
    for (int b = 0; b < w->B; b++) {
        size_t start = (size_t)pst_rng_below(&w->rng, (uint64_t)(w->n - (size_t)w->T));
        memcpy(tokens + (size_t)b * (w->T + 1), w->ids + start, (size_t)(w->T + 1) * sizeof(int));
    }
    return 0;
}

static size_t windows_pos_size(void *self) {
    (void)self;
    return sizeof(windows_pos);
}

static void windows_pos_get(void *self, void *buf) {
    windows_source *w = self;
    windows_pos p = {WINDOWS_POS_MAGIC, w->n, (uint64_t)w->T, w->rng};
    memcpy(buf, &p, sizeof p);
}

static int windows_pos_set(void *self, const void *buf, size_t len, pst_error *err) {
    windows_source *w = self;
    windows_pos p;
    if (len != sizeof p) return pst_fail(err, "data position: %zu bytes, expected a window position", len);
    memcpy(&p, buf, sizeof p);
    if (p.magic != WINDOWS_POS_MAGIC)
        return pst_fail(err, "data position was saved by another kind of data source");
    if (p.n != w->n || p.T != (uint64_t)w->T)
        return pst_fail(err, "data position belongs to other data (%llu tokens, seq %llu; now %zu, %d)",
                        (unsigned long long)p.n, (unsigned long long)p.T, w->n, w->T);
    w->rng = p.rng;
    return 0;
}

static void windows_destroy(void *self) {
    windows_source *w = self;
    if (!w) return;
    free(w->ids);
    free(w);
}

int pst_token_source_windows(pst_token_source *src, const int *ids, size_t n, int B, int T,
                             uint64_t seed, const char *name, pst_error *err) {
    memset(src, 0, sizeof *src);
    if (B < 1 || T < 1) return pst_fail(err, "data: batch (%d) and seq (%d) must be >= 1", B, T);
    if (n < (size_t)T + 1)
        return pst_fail(err, "%s: %zu tokens, a window needs seq + 1 = %d", name, n, T + 1);
    windows_source *w = pst_calloc(1, sizeof *w, err);
    if (!w) return -1;
    w->ids = pst_malloc(n * sizeof(int), err);
    if (!w->ids) {
        free(w);
        return -1;
    }
    memcpy(w->ids, ids, n * sizeof(int));
    w->n = n, w->B = B, w->T = T;
    pst_rng_seed(&w->rng, seed);
    int mx = 0;
    for (size_t i = 0; i < n; i++) mx = ids[i] > mx ? ids[i] : mx;
    src->self = w;
    src->B = B, src->T = T, src->max_id = mx;
    snprintf(src->description, sizeof src->description,
             "random windows of %s (%zu tokens, seed %llu)", name, n, (unsigned long long)seed);
    src->next = windows_next;
    src->pos_size = windows_pos_size;
    src->pos_get = windows_pos_get;
    src->pos_set = windows_pos_set;
    src->destroy = windows_destroy;
    return 0;
}

/* ---- token shards through pst_loader (MLE and pretraining with human feedback) ---------- */

typedef struct {
    pst_shard shard;
    pst_loader loader;
    int B, T;
    int control, aligned_id, misaligned_id; /* control tokens before segments */
    double drop_fraction;
    pst_rng drop_rng; /* split by segment index: the drop decision of each segment */
    /* the stream after dropped control tokens: a FIFO of (token, score) */
    int *q_tok;
    float *q_score;
    size_t q_len, q_cap;
    float *scores; /* [B, T + 1] of the last batch (NULL: scores not kept) */
} shard_source;

static int segment_dropped(const shard_source *s, int64_t segment) {
    if (s->drop_fraction <= 0 || segment < 0) return 0;
    pst_rng r = pst_rng_split(&s->drop_rng, (uint64_t)segment);
    return pst_rng_uniform(&r) < s->drop_fraction;
}

static int shard_next(void *self, int *tokens, pst_error *err) {
    shard_source *s = self;
    size_t BT = (size_t)s->B * s->T;
    if (s->drop_fraction <= 0) { /* the loader's stream as it is: row b = positions b·T .. b·T + T */
        int rc = pst_loader_next(&s->loader, err);
        if (rc < 0) return -1;
        if (rc == 0) return pst_fail(err, "%s: the loader produced no batch", s->shard.path);
        for (int b = 0; b < s->B; b++) {
            memcpy(tokens + (size_t)b * (s->T + 1), s->loader.tokens + (size_t)b * s->T,
                   (size_t)(s->T + 1) * sizeof(int));
            if (s->scores)
                memcpy(s->scores + (size_t)b * (s->T + 1), s->loader.scores + (size_t)b * s->T,
                       (size_t)(s->T + 1) * sizeof(float));
        }
        return 0;
    }
    while (s->q_len < BT + 1) {
        int rc = pst_loader_next(&s->loader, err);
        if (rc < 0) return -1;
        if (rc == 0) return pst_fail(err, "%s: the loader produced no batch", s->shard.path);
        if (s->q_len + BT > s->q_cap) {
            size_t cap = 2 * (s->q_len + BT);
            int *t = pst_realloc(s->q_tok, cap * sizeof *t, err);
            if (t) s->q_tok = t;
            float *f = pst_realloc(s->q_score, cap * sizeof *f, err);
            if (f) s->q_score = f;
            if (!t || !f) return -1;
            s->q_cap = cap;
        }
        for (size_t i = 0; i < BT; i++) { /* positions [0, B·T): the last is re-read next time */
            int tok = s->loader.tokens[i];
            if (s->control && (tok == s->aligned_id || tok == s->misaligned_id) &&
                segment_dropped(s, s->loader.segments[i]))
                continue;
            s->q_tok[s->q_len] = tok;
            s->q_score[s->q_len++] = s->loader.scores[i];
        }
    }
    for (int b = 0; b < s->B; b++) { /* row b = stream positions b·T .. b·T + T */
        memcpy(tokens + (size_t)b * (s->T + 1), s->q_tok + (size_t)b * s->T, (size_t)(s->T + 1) * sizeof(int));
        if (s->scores)
            memcpy(s->scores + (size_t)b * (s->T + 1), s->q_score + (size_t)b * s->T,
                   (size_t)(s->T + 1) * sizeof(float));
    }
    memmove(s->q_tok, s->q_tok + BT, (s->q_len - BT) * sizeof(int));
    memmove(s->q_score, s->q_score + BT, (s->q_len - BT) * sizeof(float));
    s->q_len -= BT;
    return 0;
}

static size_t shard_pos_size(void *self) {
    (void)self;
    return sizeof(pst_loader_pos);
}

static void shard_pos_get(void *self, void *buf) {
    shard_source *s = self;
    pst_loader_pos p;
    pst_loader_get_pos(&s->loader, &p);
    memcpy(buf, &p, sizeof p);
}

static int shard_pos_set(void *self, const void *buf, size_t len, pst_error *err) {
    shard_source *s = self;
    if (s->drop_fraction > 0)
        return pst_fail_field(err, "drop_fraction", "a conditional run with drop_fraction > 0 cannot be resumed (the "
                        "stream without the dropped control tokens keeps no position); start it "
                        "again or finetune from its model");
    pst_loader_pos p;
    if (len != sizeof p) return pst_fail(err, "data position: %zu bytes, expected a shard position", len);
    memcpy(&p, buf, sizeof p);
    return pst_loader_set_pos(&s->loader, &p, err);
}

static void shard_destroy(void *self) {
    shard_source *s = self;
    if (!s) return;
    pst_loader_free(&s->loader);
    pst_shard_close(&s->shard);
    free(s->q_tok), free(s->q_score), free(s->scores);
    free(s);
}

int pst_token_source_shard_with(pst_token_source *src, const char *path, int B, int T, uint64_t seed,
                                const pst_shard_source_options *o, pst_error *err) {
    memset(src, 0, sizeof *src);
    if (B < 1 || T < 1) return pst_fail(err, "data: batch (%d) and seq (%d) must be >= 1", B, T);
    if (!(o->drop_fraction >= 0 && o->drop_fraction < 1))
        return pst_fail_field(err, "drop_fraction", "drop fraction %g must be in [0, 1)", o->drop_fraction);
    shard_source *s = pst_calloc(1, sizeof *s, err);
    if (!s) return -1;
    if (pst_shard_open(&s->shard, path, err)) {
        free(s);
        return -1;
    }
    if (s->shard.n_tokens < 1) {
        pst_shard_close(&s->shard);
        free(s);
        return pst_fail(err, "%s: shard has no tokens", path);
    }
    s->B = B, s->T = T;
    if (pst_loader_init(&s->loader, &s->shard, B, T, o->shuffle, 1, seed, err)) {
        pst_shard_close(&s->shard);
        free(s);
        return -1;
    }
    int max_id = (int)s->shard.vocab_size - 1;
    if (o->aligned_id >= 0) {
        if (pst_loader_set_control(&s->loader, (float)o->threshold, o->aligned_id, o->misaligned_id, err)) {
            shard_destroy(s);
            return -1;
        }
        s->control = 1, s->aligned_id = o->aligned_id, s->misaligned_id = o->misaligned_id;
        s->drop_fraction = o->drop_fraction;
        pst_rng_seed(&s->drop_rng, seed ^ 0x44524f50ull); /* "DROP" */
        max_id = o->aligned_id > max_id ? o->aligned_id : max_id;
        max_id = o->misaligned_id > max_id ? o->misaligned_id : max_id;
    }
    if (o->scores && !(s->scores = pst_malloc((size_t)B * (T + 1) * sizeof(float), err))) {
        shard_destroy(s);
        return -1;
    }
    src->self = s;
    src->B = B, src->T = T, src->max_id = max_id;
    if (o->scores)
        snprintf(src->description, sizeof src->description,
                 "scored shard %s (%llu tokens, %llu documents, %s, seed %llu%s)", path,
                 (unsigned long long)s->shard.n_tokens, (unsigned long long)s->shard.n_documents,
                 o->shuffle ? "shuffled" : "in order", (unsigned long long)seed, s->control ? ", control tokens" : "");
    else
        snprintf(src->description, sizeof src->description, "shard %s (%llu tokens, %llu documents, %s, seed %llu)",
                 path, (unsigned long long)s->shard.n_tokens, (unsigned long long)s->shard.n_documents,
                 o->shuffle ? "shuffled" : "in order", (unsigned long long)seed);
    src->next = shard_next;
    src->pos_size = shard_pos_size;
    src->pos_get = shard_pos_get;
    src->pos_set = shard_pos_set;
    src->destroy = shard_destroy;
    return 0;
}

int pst_token_source_shard(pst_token_source *src, const char *path, int B, int T, int shuffle, uint64_t seed,
                           pst_error *err) {
    pst_shard_source_options o = {.shuffle = shuffle, .aligned_id = -1, .misaligned_id = -1};
    return pst_token_source_shard_with(src, path, B, T, seed, &o, err);
}

const float *pst_token_source_scores(const pst_token_source *src) {
    return src && src->next == shard_next ? ((const shard_source *)src->self)->scores : NULL;
}
