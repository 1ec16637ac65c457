/* Byte-level BPE training.
 *
 *   1. Every document is split into words by GPT-2's pre-tokenisation (the
 *      same split encoding uses), and distinct words are counted.
 *   2. Each distinct word starts as its bytes; count(a, b) = sum over words of
 *      freq(word) * (occurrences of the adjacent pair a b in the word).
 *   3. Repeatedly: the pair with the highest count is merged (ties: the
 *      lexicographically smallest (bytes(a), bytes(b))); in every word holding
 *      it, occurrences are replaced left to right, exactly as encoding replaces
 *      them; the counts of the pairs around each replaced occurrence are
 *      updated, touching only the words that held the pair (each pair keeps the
 *      list of words it occurs in).
 *   Stops when the vocabulary is full or no pair occurs twice.
 *
 * Ids during training: 0..255 are the bytes in GPT-2's byte order, then each
 * merge's joined token gets the next id, unless a token with the same bytes
 * was already made by another merge (then that id is reused, as
 * pst_tokenizer_from_merges does).
 */
#include <stdlib.h>
#include <string.h>

#include "posterior/tokenizer.h"
#include "text/bpe_internal.h"

typedef struct {
    uint64_t off;    /* into bytes */
    uint32_t len;
    int64_t freq;
} word_rec;

struct pst_bpe_trainer {
    pcre2_code *re;
    /* distinct words: open-addressing table of index + 1 */
    uint32_t *tab;
    size_t tab_mask;
    word_rec *words;
    size_t n_words, cap_words;
    unsigned char *bytes;
    size_t n_bytes, cap_bytes;
    pst_error *err; /* during add_text */
};

int pst_bpe_trainer_create(pst_bpe_trainer **out, pst_error *err) {
    *out = NULL;
    pst_bpe_trainer *tr = pst_calloc(1, sizeof *tr, err);
    if (!tr) return -1;
    tr->tab = pst_calloc(1 << 16, sizeof *tr->tab, err);
    if (!tr->tab || pst_bpe_compile_pattern(&tr->re, err)) {
        pst_bpe_trainer_free(tr);
        return -1;
    }
    tr->tab_mask = (1 << 16) - 1;
    *out = tr;
    return 0;
}

void pst_bpe_trainer_free(pst_bpe_trainer *tr) {
    if (!tr) return;
    if (tr->re) pcre2_code_free(tr->re);
    free(tr->tab);
    free(tr->words);
    free(tr->bytes);
    free(tr);
}

long pst_bpe_trainer_n_words(const pst_bpe_trainer *tr) { return (long)tr->n_words; }

/* The open-addressing indexes of words and pairs, one way: *tab becomes a table of cap
 * (a power of two) slots, item k stored as k + 1 at the first free slot from hash(k)
 * (linear probing; 0 is empty), *mask = cap - 1. */
static int index_rebuild(uint32_t **tab, size_t *mask, size_t cap, size_t n,
                         uint64_t (*hash)(const void *ctx, size_t k), const void *ctx, pst_error *err) {
    uint32_t *t = pst_calloc(cap, sizeof *t, err);
    if (!t) return -1;
    for (size_t k = 0; k < n; k++) {
        size_t i = hash(ctx, k) & (cap - 1);
        while (t[i]) i = (i + 1) & (cap - 1);
        t[i] = (uint32_t)k + 1;
    }
    free(*tab);
    *tab = t;
    *mask = cap - 1;
    return 0;
}

static uint64_t word_hash_at(const void *ctx, size_t w) {
    const pst_bpe_trainer *tr = ctx;
    return pst_bpe_hash_bytes(tr->bytes + tr->words[w].off, tr->words[w].len);
}

static int grow_table(pst_bpe_trainer *tr) {
    return index_rebuild(&tr->tab, &tr->tab_mask, (tr->tab_mask + 1) * 2, tr->n_words, word_hash_at, tr, tr->err);
}

static int count_word(void *ctx, const unsigned char *w, size_t n) {
    pst_bpe_trainer *tr = ctx;
    if (n > UINT32_MAX) return pst_fail(tr->err, "tokenizer train: a word of %zu bytes is too long", n);
    size_t i = pst_bpe_hash_bytes(w, n) & tr->tab_mask;
    for (; tr->tab[i]; i = (i + 1) & tr->tab_mask) {
        word_rec *r = &tr->words[tr->tab[i] - 1];
        if (r->len == n && memcmp(tr->bytes + r->off, w, n) == 0) {
            r->freq++;
            return 0;
        }
    }
    if (tr->n_words >= UINT32_MAX - 1) return pst_fail(tr->err, "tokenizer train: too many distinct words");
    word_rec *a = pst_grow(tr->words, &tr->cap_words, tr->n_words + 1, sizeof *a, 1 << 14, tr->err);
    if (!a) return -1;
    tr->words = a;
    unsigned char *b = pst_grow(tr->bytes, &tr->cap_bytes, tr->n_bytes + n, 1, 1 << 20, tr->err);
    if (!b) return -1;
    tr->bytes = b;
    memcpy(tr->bytes + tr->n_bytes, w, n);
    tr->words[tr->n_words] = (word_rec){tr->n_bytes, (uint32_t)n, 1};
    tr->n_bytes += n;
    tr->tab[i] = (uint32_t)++tr->n_words;
    if (tr->n_words * 2 > tr->tab_mask + 1) return grow_table(tr);
    return 0;
}

int pst_bpe_trainer_add_text(pst_bpe_trainer *tr, const char *text, size_t len, pst_error *err) {
    tr->err = err;
    return pst_bpe_pretokenize(tr->re, text, len, count_word, tr, err);
}

/* ---- merging -------------------------------------------------------------- */

typedef struct {
    int32_t a, b;
    int64_t count;
    uint32_t *where; /* words holding (or having held) the pair; may repeat */
    uint32_t n_where, cap_where;
} pair_rec;

typedef struct {
    pst_error *err;
    pair_rec *pairs;
    size_t n_pairs, cap_pairs;
    uint32_t *tab; /* pair index + 1 */
    size_t tab_mask;
    /* tokens: bytes of each id */
    unsigned char **tok;
    uint32_t *tok_len;
    int n_tok, cap_tok;
    uint32_t *tok_tab; /* id + 1, by bytes */
    size_t tok_mask;
} train_state;

static uint64_t pair_hash(int32_t a, int32_t b) {
    uint64_t x = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    return x;
}

static uint64_t pair_hash_at(const void *ctx, size_t p) {
    const train_state *s = ctx;
    return pair_hash(s->pairs[p].a, s->pairs[p].b);
}

static int pair_table_grow(train_state *s) {
    size_t cap = s->tab ? (s->tab_mask + 1) * 2 : 1 << 16;
    return index_rebuild(&s->tab, &s->tab_mask, cap, s->n_pairs, pair_hash_at, s, s->err);
}

/* Index of pair (a, b), created with count 0 if absent; -1 on error. */
static long pair_get(train_state *s, int32_t a, int32_t b) {
    size_t i = pair_hash(a, b) & s->tab_mask;
    for (; s->tab[i]; i = (i + 1) & s->tab_mask) {
        pair_rec *p = &s->pairs[s->tab[i] - 1];
        if (p->a == a && p->b == b) return (long)s->tab[i] - 1;
    }
    pair_rec *np = pst_grow(s->pairs, &s->cap_pairs, s->n_pairs + 1, sizeof *np, 1 << 14, s->err);
    if (!np) return -1;
    s->pairs = np;
    s->pairs[s->n_pairs] = (pair_rec){a, b, 0, NULL, 0, 0};
    s->tab[i] = (uint32_t)++s->n_pairs;
    if (s->n_pairs * 2 > s->tab_mask + 1 && pair_table_grow(s)) return -1;
    return (long)s->n_pairs - 1;
}

static int pair_add(train_state *s, int32_t a, int32_t b, int64_t delta, uint32_t word, int note) {
    long p = pair_get(s, a, b);
    if (p < 0) return -1;
    pair_rec *r = &s->pairs[p];
    r->count += delta;
    if (note && !(r->n_where && r->where[r->n_where - 1] == word)) {
        if (r->n_where == r->cap_where) {
            uint32_t nc = r->cap_where ? r->cap_where * 2 : 4;
            uint32_t *w = pst_realloc(r->where, (size_t)nc * sizeof *w, s->err);
            if (!w) return -1;
            r->where = w;
            r->cap_where = nc;
        }
        r->where[r->n_where++] = word;
    }
    return 0;
}

/* lexicographic order of (bytes(a), bytes(b)): < 0 when pair p sorts before q */
static int tok_cmp(const train_state *s, int32_t x, int32_t y) {
    uint32_t lx = s->tok_len[x], ly = s->tok_len[y];
    int c = memcmp(s->tok[x], s->tok[y], lx < ly ? lx : ly);
    return c ? c : (lx < ly ? -1 : lx > ly ? 1 : 0);
}

static int pair_before(const train_state *s, const pair_rec *p, const pair_rec *q) {
    int c = tok_cmp(s, p->a, q->a);
    return c ? c < 0 : tok_cmp(s, p->b, q->b) < 0;
}

static int tok_find(const train_state *s, const unsigned char *p, size_t n) {
    size_t i = pst_bpe_hash_bytes(p, n) & s->tok_mask;
    for (; s->tok_tab[i]; i = (i + 1) & s->tok_mask) {
        int id = (int)s->tok_tab[i] - 1;
        if (s->tok_len[id] == n && memcmp(s->tok[id], p, n) == 0) return id;
    }
    return -1;
}

static int tok_add(train_state *s, unsigned char *bytes, uint32_t n) {
    if (s->n_tok == s->cap_tok) {
        int nc = s->cap_tok * 2;
        unsigned char **a = pst_realloc(s->tok, (size_t)nc * sizeof *a, s->err);
        if (a) s->tok = a;
        uint32_t *l = pst_realloc(s->tok_len, (size_t)nc * sizeof *l, s->err);
        if (l) s->tok_len = l;
        if (!a || !l) return -1;
        s->cap_tok = nc;
    }
    int id = s->n_tok++;
    s->tok[id] = bytes;
    s->tok_len[id] = n;
    size_t i = pst_bpe_hash_bytes(bytes, n) & s->tok_mask;
    while (s->tok_tab[i]) i = (i + 1) & s->tok_mask;
    s->tok_tab[i] = (uint32_t)id + 1;
    return id;
}

/* Special tokens the vocabulary holds: <|endoftext|> and each distinct, non-empty other. */
static int count_special_tokens(const char *const *specials, int n_specials) {
    int n = 1; /* <|endoftext|> */
    for (int i = 0; i < n_specials; i++) {
        int dup = !specials[i][0] || !strcmp(specials[i], "<|endoftext|>");
        for (int k = 0; k < i; k++) dup |= !strcmp(specials[k], specials[i]);
        n += !dup;
    }
    return n;
}

/* Learning the merges: the tokens and pair counts (s), each word's symbols (sym, nsym)
 * and the last merge that touched it (stamp), the merges learned in order. */
typedef struct {
    train_state s;
    const pst_bpe_trainer *tr;
    size_t W;               /* words */
    int32_t **sym;          /* [W] symbols of each word */
    uint32_t *nsym;         /* [W] */
    uint32_t *stamp;        /* [W] */
    int32_t *merges;        /* [2 cap_merges] (a, b) pairs */
    int n_merges, cap_merges;
} merge_run;

static void merge_run_close(merge_run *r) {
    train_state *s = &r->s;
    for (size_t p = 0; p < s->n_pairs; p++) free(s->pairs[p].where);
    free(s->pairs);
    free(s->tab);
    for (int i = 0; i < s->n_tok; i++) free(s->tok[i]);
    free(s->tok);
    free(s->tok_len);
    free(s->tok_tab);
    for (size_t w = 0; r->sym && w < r->W; w++) free(r->sym[w]);
    free(r->sym);
    free(r->nsym);
    free(r->stamp);
    free(r->merges);
}

/* The 256 byte tokens (in GPT-2's alphabet order), every word as byte symbols and the
 * counts of its adjacent pairs, room for target learned tokens. */
static int merge_run_open(merge_run *r, int target, pst_error *err) {
    train_state *s = &r->s;
    const pst_bpe_trainer *tr = r->tr;
    size_t W = r->W = tr->n_words;
    unsigned char byte_of_rank[256];
    int cp[256], rank_of_byte[256];
    pst_bpe_byte_alphabet(byte_of_rank, cp);
    for (int i = 0; i < 256; i++) rank_of_byte[byte_of_rank[i]] = i;
    s->cap_tok = 256 + target + 16;
    s->tok = pst_malloc((size_t)s->cap_tok * sizeof *s->tok, err);
    s->tok_len = pst_malloc((size_t)s->cap_tok * sizeof *s->tok_len, err);
    size_t tcap = 1024;
    while (tcap < (size_t)s->cap_tok * 4) tcap *= 2;
    s->tok_tab = pst_calloc(tcap, sizeof *s->tok_tab, err);
    s->tok_mask = tcap - 1;
    r->sym = pst_calloc(W ? W : 1, sizeof *r->sym, err);
    r->nsym = pst_calloc(W ? W : 1, sizeof *r->nsym, err);
    r->stamp = pst_calloc(W ? W : 1, sizeof *r->stamp, err);
    r->cap_merges = target * 2 + 1;
    r->merges = pst_malloc(((size_t)target * 4 + 2) * sizeof *r->merges, err);
    if (!s->tok || !s->tok_len || !s->tok_tab || !r->sym || !r->nsym || !r->stamp || !r->merges ||
        pair_table_grow(s))
        return -1;
    for (int i = 0; i < 256; i++) {
        unsigned char *b = pst_malloc(1, err);
        if (!b) return -1;
        b[0] = byte_of_rank[i];
        if (tok_add(s, b, 1) < 0) {
            free(b);
            return -1;
        }
    }
    for (size_t w = 0; w < W; w++) {
        const word_rec *wr = &tr->words[w];
        int32_t *x = r->sym[w] = pst_malloc((size_t)wr->len * sizeof **r->sym, err);
        if (!x) return -1;
        r->nsym[w] = wr->len;
        for (uint32_t i = 0; i < wr->len; i++) x[i] = rank_of_byte[tr->bytes[wr->off + i]];
        for (uint32_t i = 0; i + 1 < wr->len; i++)
            if (pair_add(s, x[i], x[i + 1], wr->freq, (uint32_t)w, 1)) return -1;
    }
    return 0;
}

/* The most frequent pair (counted at least twice); ties to the lexicographically
 * smallest. -1 when none. */
static long best_pair(const train_state *s) {
    long best = -1;
    for (size_t p = 0; p < s->n_pairs; p++) {
        const pair_rec *r = &s->pairs[p];
        if (r->count < 2) continue;
        if (best < 0 || r->count > s->pairs[best].count ||
            (r->count == s->pairs[best].count && pair_before(s, r, &s->pairs[best])))
            best = (long)p;
    }
    return best;
}

/* The token a·b: found, or added (*learned counts it); the merge (a, b) recorded. */
static int record_merge(merge_run *r, int32_t a, int32_t b, int *learned, pst_error *err) {
    train_state *s = &r->s;
    uint32_t la = s->tok_len[a], lb = s->tok_len[b];
    unsigned char *joined = pst_malloc((size_t)la + lb, err);
    if (!joined) return -1;
    memcpy(joined, s->tok[a], la);
    memcpy(joined + la, s->tok[b], lb);
    int c = tok_find(s, joined, (size_t)la + lb);
    if (c >= 0) {
        free(joined);
    } else {
        c = tok_add(s, joined, la + lb);
        if (c < 0) {
            free(joined);
            return -1;
        }
        (*learned)++;
    }
    if (r->n_merges == r->cap_merges) {
        r->cap_merges *= 2;
        int32_t *m = pst_realloc(r->merges, (size_t)r->cap_merges * 2 * sizeof *m, err);
        if (!m) return -1;
        r->merges = m;
    }
    r->merges[2 * r->n_merges] = a;
    r->merges[2 * r->n_merges + 1] = b;
    r->n_merges++;
    return c;
}

/* Applies the merge (a, b) -> c to every word that holds the pair (its word list is
 * taken: words get re-noted for their new pairs), moving their pair counts. */
static int apply_merge(merge_run *r, long best, int32_t a, int32_t b, int32_t c) {
    train_state *s = &r->s;
    uint32_t *where = s->pairs[best].where, n_where = s->pairs[best].n_where;
    s->pairs[best].where = NULL;
    s->pairs[best].n_where = s->pairs[best].cap_where = 0;
    int rc = 0;
    for (uint32_t k = 0; k < n_where && rc == 0; k++) {
        uint32_t w = where[k];
        if (r->stamp[w] == (uint32_t)r->n_merges) continue;
        r->stamp[w] = (uint32_t)r->n_merges;
        int32_t *x = r->sym[w];
        uint32_t n = r->nsym[w];
        int64_t f = r->tr->words[w].freq;
        int has = 0;
        for (uint32_t i = 0; i + 1 < n && !has; i++) has = x[i] == a && x[i + 1] == b;
        if (!has) continue;
        for (uint32_t i = 0; i + 1 < n && rc == 0; i++) rc = pair_add(s, x[i], x[i + 1], -f, w, 0);
        if (rc) break;
        r->nsym[w] = n = (uint32_t)pst_bpe_merge_pair(x, x, n, a, b, c);
        for (uint32_t i = 0; i + 1 < n && rc == 0; i++)
            rc = pair_add(s, x[i], x[i + 1], f, w, x[i] == c || x[i + 1] == c);
    }
    free(where);
    return rc ? -1 : 0;
}

int pst_bpe_trainer_finish(pst_bpe_trainer *tr, int vocab_size, const char *const *specials, int n_specials,
                           pst_tokenizer **out, pst_error *err) {
    *out = NULL;
    int n_special_tokens = count_special_tokens(specials, n_specials);
    int target = vocab_size - 256 - n_special_tokens; /* tokens to learn */
    if (target < 0)
        return pst_fail_field(err, "vocab_size", "tokenizer train: vocab_size %d is too small: the 256 bytes and %d special "
                             "token(s) alone need %d", vocab_size, n_special_tokens, 256 + n_special_tokens);
    merge_run r = {.s = {.err = err}, .tr = tr};
    int rc = -1, learned = 0;
    if (merge_run_open(&r, target, err)) goto done;
    while (learned < target) {
        long best = best_pair(&r.s);
        if (best < 0) break;
        int32_t a = r.s.pairs[best].a, b = r.s.pairs[best].b;
        int c = record_merge(&r, a, b, &learned, err);
        if (c < 0 || apply_merge(&r, best, a, b, c)) goto done;
    }
    rc = pst_tokenizer_from_merges(out, r.merges, r.n_merges, specials, n_specials, err);
done:
    merge_run_close(&r);
    return rc;
}
