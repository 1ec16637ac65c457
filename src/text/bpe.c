/* GPT-2 byte-level BPE: loading vocab.json + merges.txt, encoding, decoding,
 * special tokens, saving.
 *
 * Encoding, as in GPT-2's encoder (and its JavaScript port in npm gpt-3-encoder):
 *   1. the text is split into words by the pre-tokenisation pattern (PCRE2);
 *   2. each word's bytes become single-byte tokens;
 *   3. repeatedly, the adjacent pair with the lowest merge rank is found and
 *      every occurrence of that pair, left to right, is replaced by its merge;
 *      until no adjacent pair has a rank.
 * Tokens are held as raw bytes; GPT-2's printable byte alphabet is only used
 * when reading and writing vocab.json / merges.txt.
 *
 * Reference compatibility. The JavaScript reference keys its rank table by the
 * string "a,b", so a pair (x, y) with x + "," + y == a + "," + b gets the rank of
 * the merge (a, b): in GPT-2's table 11 merges have such an alias, e.g. the
 * pair ('",', '"') is merged into '","' like ('"', ',"'). We reproduce these
 * aliases (only where the joined token exists), and use JavaScript's \s in the
 * pattern, so our ids equal the reference's (tests/text/test_conformance.py).
 */
#include "posterior/tokenizer.h"
#include "posterior/corpus.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "text/bpe_internal.h"

/* ---- byte alphabet and pattern ---------------------------------------- */

void pst_bpe_byte_alphabet(unsigned char byte_of_rank[256], int codepoint_of_byte[256]) {
    int printable[256] = {0}, n = 0;
    for (int b = '!'; b <= '~'; b++) printable[b] = 1;
    for (int b = 0xA1; b <= 0xAC; b++) printable[b] = 1;
    for (int b = 0xAE; b <= 0xFF; b++) printable[b] = 1;
    for (int b = 0; b < 256; b++)
        if (printable[b]) {
            byte_of_rank[n++] = (unsigned char)b;
            codepoint_of_byte[b] = b;
        }
    int extra = 0;
    for (int b = 0; b < 256; b++)
        if (!printable[b]) {
            byte_of_rank[n++] = (unsigned char)b;
            codepoint_of_byte[b] = 256 + extra++;
        }
}

/* JavaScript's \s (WhiteSpace + LineTerminator): differs from PCRE2's Unicode
 * \s by including U+FEFF and excluding U+0085 and U+180E. */
#define JS_SPACE "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
                 "\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"

int pst_bpe_compile_pattern(pcre2_code **out, pst_error *err) {
    static const char pattern[] =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" JS_SPACE "\\p{L}\\p{N}]+"
        "|[" JS_SPACE "]+(?![^" JS_SPACE "])|[" JS_SPACE "]+";
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return pst_fail(err, "tokenizer: cannot compile the pre-tokenisation pattern at offset %zu: %s",
                        (size_t)off, (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if absent */
    *out = re;
    return 0;
}

int pst_bpe_pretokenize(const pcre2_code *re, const char *text, size_t len, pst_bpe_word_fn fn,
                        void *ctx, pst_error *err) {
    if (len == 0) return 0;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return pst_fail_oom(err, "PCRE2 match data");
    const PCRE2_SPTR s = (PCRE2_SPTR)text;
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        int m = pcre2_match(re, s, len, pos, 0, md, NULL);
        size_t start, end;
        if (m == PCRE2_ERROR_NOMATCH) {
            start = end = len;
        } else if (m < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(m, msg, sizeof msg);
            rc = pst_fail(err, "tokenizer: pre-tokenisation failed at byte %zu: %s", pos, (const char *)msg);
            break;
        } else {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            start = ov[0];
            end = ov[1];
            if (end <= start) { /* cannot happen: every branch consumes a character */
                rc = pst_fail(err, "tokenizer: empty pre-tokenisation match at byte %zu", start);
                break;
            }
        }
        /* bytes skipped by the search are not valid UTF-8: one word of their own */
        if (start > pos && (rc = fn(ctx, (const unsigned char *)text + pos, start - pos)) != 0) break;
        if (end > start && (rc = fn(ctx, (const unsigned char *)text + start, end - start)) != 0) break;
        pos = end;
    }
    pcre2_match_data_free(md);
    return rc;
}

size_t pst_bpe_merge_pair(int32_t *dst, const int32_t *src, size_t n, int32_t a, int32_t b, int32_t merged) {
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        if (i + 1 < n && src[i] == a && src[i + 1] == b) {
            dst[j++] = merged;
            i += 2;
        } else {
            dst[j++] = src[i++];
        }
    }
    return j;
}

uint64_t pst_bpe_hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 32;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 29;
    return h;
}

/* ---- the tokenizer ---------------------------------------------------- */

typedef struct {
    uint64_t key; /* (left id << 32) | right id; UINT64_MAX = empty */
    int32_t rank;
    int32_t merged;
} merge_slot;

struct pst_tokenizer {
    int n_vocab, cap;
    char **tok;              /* [n_vocab] raw bytes */
    uint32_t *tok_len;       /* [n_vocab] */
    unsigned char *special;  /* [n_vocab] 0 ordinary, 1 special from vocab.json, 2 added */
    int byte_id[256];        /* id of each single-byte token */
    int codepoint_of_byte[256];
    int byte_of_codepoint[324]; /* inverse of codepoint_of_byte, -1 elsewhere */
    /* ordinary tokens: raw bytes -> id (open addressing, id + 1, 0 = empty) */
    int32_t *vocab_tab;
    size_t vocab_mask;
    /* merges: pair -> (rank, merged id), including the reference's aliases */
    merge_slot *merge_tab;
    size_t merge_mask;
    int32_t *merges; /* [n_merges][2] real merges in rank order (what merges.txt lists) */
    int n_merges;
    int *specials;   /* ids of special tokens, in id order */
    int n_specials;
    pcre2_code *re;
    int heap_ok;     /* see check_heap_order */
    /* shared word cache (see shared_get); only speed depends on it */
    pthread_mutex_t cache_lock;
    struct shared_slot *sc;
    size_t sc_used;
    unsigned char *sc_bytes;
    size_t sc_nb, sc_cb;
    int32_t *sc_ids;
    size_t sc_ni, sc_ci;
};

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

static const merge_slot *merge_find(const pst_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = mix64(key) & t->merge_mask;
    for (;;) {
        const merge_slot *s = &t->merge_tab[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        i = (i + 1) & t->merge_mask;
    }
}

/* Inserts or overwrites (a later rank for the same pair wins, as in the
 * references' dictionaries). */
static void merge_put(pst_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = mix64(key) & t->merge_mask;
    while (t->merge_tab[i].key != UINT64_MAX && t->merge_tab[i].key != key) i = (i + 1) & t->merge_mask;
    t->merge_tab[i].key = key;
    t->merge_tab[i].rank = rank;
    t->merge_tab[i].merged = merged;
}

static int vocab_find(const pst_tokenizer *t, const unsigned char *p, size_t n) {
    if (!t->vocab_tab) return -1;
    size_t i = pst_bpe_hash_bytes(p, n) & t->vocab_mask;
    for (;;) {
        int32_t v = t->vocab_tab[i];
        if (!v) return -1;
        int id = v - 1;
        if (t->tok_len[id] == n && memcmp(t->tok[id], p, n) == 0) return id;
        i = (i + 1) & t->vocab_mask;
    }
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* Adds ordinary token id to the table (capacity must allow); the first id
 * with given bytes wins. */
static void vocab_insert(pst_tokenizer *t, int id) {
    const unsigned char *p = (const unsigned char *)t->tok[id];
    size_t n = t->tok_len[id];
    size_t i = pst_bpe_hash_bytes(p, n) & t->vocab_mask;
    while (t->vocab_tab[i]) {
        int o = t->vocab_tab[i] - 1;
        if (t->tok_len[o] == n && memcmp(t->tok[o], p, n) == 0) return;
        i = (i + 1) & t->vocab_mask;
    }
    t->vocab_tab[i] = id + 1;
}

/* (Re)builds the ordinary-token table for up to `room` tokens. */
static int build_vocab_table(pst_tokenizer *t, int room, pst_error *err) {
    free(t->vocab_tab);
    size_t cap = pow2_at_least((size_t)(room > t->n_vocab ? room : t->n_vocab) * 2 + 2);
    t->vocab_tab = pst_calloc(cap, sizeof(int32_t), err);
    if (!t->vocab_tab) return -1;
    t->vocab_mask = cap - 1;
    for (int id = 0; id < t->n_vocab; id++)
        if (!t->special[id]) vocab_insert(t, id);
    return 0;
}

/* The bucket merge (long words) equals the reference's loop when no pair can
 * form after its rank has passed: each part of a merge of rank r is a byte or
 * is only ever made by merges of rank < r. Checked once per tokenizer. */
static int check_heap_order(pst_tokenizer *t, pst_error *err) {
    int32_t *made_last = pst_malloc((size_t)t->n_vocab * sizeof *made_last, err);
    if (!made_last) return -1;
    for (int i = 0; i < t->n_vocab; i++) made_last[i] = -1;
    for (size_t i = 0; i <= t->merge_mask; i++) {
        const merge_slot *m = &t->merge_tab[i];
        if (m->key != UINT64_MAX && m->rank > made_last[m->merged]) made_last[m->merged] = m->rank;
    }
    t->heap_ok = 1;
    for (size_t i = 0; i <= t->merge_mask; i++) {
        const merge_slot *m = &t->merge_tab[i];
        if (m->key == UINT64_MAX) continue;
        int a = (int)(m->key >> 32), b = (int)(m->key & 0xFFFFFFFF);
        if (made_last[a] >= m->rank || made_last[b] >= m->rank) t->heap_ok = 0;
    }
    free(made_last);
    return 0;
}

static pst_tokenizer *tokenizer_new(int cap, pst_error *err) {
    pst_tokenizer *t = pst_calloc(1, sizeof *t, err);
    if (!t) return NULL;
    if (cap < 16) cap = 16;
    t->cap = cap;
    t->tok = pst_calloc((size_t)cap, sizeof(char *), err);
    t->tok_len = pst_calloc((size_t)cap, sizeof(uint32_t), err);
    t->special = pst_calloc((size_t)cap, 1, err);
    unsigned char byte_of_rank[256];
    pst_bpe_byte_alphabet(byte_of_rank, t->codepoint_of_byte);
    for (int c = 0; c < 324; c++) t->byte_of_codepoint[c] = -1;
    for (int b = 0; b < 256; b++) t->byte_of_codepoint[t->codepoint_of_byte[b]] = b;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    pthread_mutex_init(&t->cache_lock, NULL);
    if (!t->tok || !t->tok_len || !t->special || pst_bpe_compile_pattern(&t->re, err)) {
        pst_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void pst_tokenizer_free(pst_tokenizer *t) {
    if (!t) return;
    if (t->tok)
        for (int i = 0; i < t->n_vocab; i++) free(t->tok[i]);
    free(t->tok);
    free(t->tok_len);
    free(t->special);
    free(t->vocab_tab);
    free(t->merge_tab);
    free(t->merges);
    free(t->specials);
    if (t->re) pcre2_code_free(t->re);
    free(t->sc);
    free(t->sc_bytes);
    free(t->sc_ids);
    pthread_mutex_destroy(&t->cache_lock);
    free(t);
}

/* Appends a token (copying its bytes); returns its id or -1. */
static int push_token(pst_tokenizer *t, const void *bytes, size_t n, int special, pst_error *err) {
    if (n == 0) return pst_fail(err, "tokenizer: a token cannot be the empty string");
    if (t->n_vocab == t->cap) {
        int nc = t->cap * 2;
        char **a = pst_realloc(t->tok, (size_t)nc * sizeof *a, err);
        if (a) t->tok = a;
        uint32_t *b = pst_realloc(t->tok_len, (size_t)nc * sizeof *b, err);
        if (b) t->tok_len = b;
        unsigned char *c = pst_realloc(t->special, (size_t)nc, err);
        if (c) t->special = c;
        if (!a || !b || !c) return -1;
        t->cap = nc;
    }
    char *p = pst_malloc(n + 1, err);
    if (!p) return -1;
    memcpy(p, bytes, n);
    p[n] = 0;
    int id = t->n_vocab++;
    t->tok[id] = p;
    t->tok_len[id] = (uint32_t)n;
    t->special[id] = (unsigned char)special;
    if (special) {
        int *s = pst_realloc(t->specials, (size_t)(t->n_specials + 1) * sizeof *s, err);
        if (!s) return -1;
        t->specials = s;
        t->specials[t->n_specials++] = id;
    }
    return id;
}

/* Allocates the merge table for n real merges (plus room for aliases). */
static int alloc_merges(pst_tokenizer *t, int n, pst_error *err) {
    size_t cap = pow2_at_least((size_t)n * 2 + 64);
    t->merge_tab = pst_malloc(cap * sizeof *t->merge_tab, err);
    t->merges = pst_malloc(((size_t)n * 2 + 2) * sizeof(int32_t), err);
    if (!t->merge_tab || !t->merges) return -1;
    for (size_t i = 0; i < cap; i++) t->merge_tab[i].key = UINT64_MAX;
    t->merge_mask = cap - 1;
    return 0;
}

/* Writes the GPT-2 alphabet form of raw bytes (UTF-8 of the printable code
 * points) into out (capacity >= 2n + 1). Returns its length. */
static size_t alphabet_form(const pst_tokenizer *t, const unsigned char *p, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int c = t->codepoint_of_byte[p[i]];
        if (c < 0x80) out[k++] = (char)c;
        else {
            out[k++] = (char)(0xC0 | (c >> 6));
            out[k++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[k] = 0;
    return k;
}

/* Converts the GPT-2 alphabet form back to raw bytes; -1 when s holds a
 * character outside the alphabet (then it is not an ordinary token). */
static long from_alphabet(const pst_tokenizer *t, const char *s, size_t n, unsigned char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int cp;
        if (c < 0x80) {
            cp = c;
            i++;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < n && ((unsigned char)s[i + 1] & 0xC0) == 0x80) {
            cp = ((c & 0x1F) << 6) | ((unsigned char)s[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1;
        }
        if (cp >= 324 || t->byte_of_codepoint[cp] < 0) return -1;
        out[k++] = (unsigned char)t->byte_of_codepoint[cp];
    }
    return (long)k;
}

/* The reference's aliases: a pair (x, y) with x,y == a,b as strings (in the
 * alphabet form, "," being its own character) gets the rank that "a,b" has,
 * which is the highest rank among the merges spelled so. */
static int add_reference_aliases(pst_tokenizer *t, pst_error *err) {
    int rc = -1;
    char *key = NULL, *other = NULL;
    unsigned char *xr = NULL, *yr = NULL, *jr = NULL;
    size_t cap = 0;
    for (int r = 0; r < t->n_merges; r++) {
        int a = t->merges[2 * r], b = t->merges[2 * r + 1];
        /* a comma needs to be somewhere other than between a and b */
        if (!memchr(t->tok[a], ',', t->tok_len[a]) && !memchr(t->tok[b], ',', t->tok_len[b])) continue;
        size_t need = 2 * ((size_t)t->tok_len[a] + t->tok_len[b]) + 8;
        if (need > cap) {
            cap = need * 2;
            free(key), free(other), free(xr), free(yr), free(jr);
            key = pst_malloc(cap, err), other = pst_malloc(cap, err), xr = pst_malloc(cap, err);
            yr = pst_malloc(cap, err), jr = pst_malloc(cap, err);
            if (!key || !other || !xr || !yr || !jr) goto done;
        }
        size_t la = alphabet_form(t, (const unsigned char *)t->tok[a], t->tok_len[a], key);
        key[la] = ',';
        size_t lk = la + 1 + alphabet_form(t, (const unsigned char *)t->tok[b], t->tok_len[b], key + la + 1);
        /* highest rank spelled "key": real merges (a', b') with the same key */
        int key_rank = r;
        for (size_t i = 0; i < lk; i++) {
            if (key[i] != ',' || i == la || i == 0 || i + 1 == lk) continue;
            long nx = from_alphabet(t, key, i, xr), ny = from_alphabet(t, key + i + 1, lk - i - 1, yr);
            if (nx < 0 || ny < 0) continue;
            int x = vocab_find(t, xr, (size_t)nx), y = vocab_find(t, yr, (size_t)ny);
            if (x < 0 || y < 0) continue;
            const merge_slot *m = merge_find(t, x, y);
            if (m && m->rank > key_rank) key_rank = m->rank;
        }
        for (size_t i = 0; i < lk; i++) {
            if (key[i] != ',' || i == 0 || i + 1 == lk) continue;
            long nx = from_alphabet(t, key, i, xr), ny = from_alphabet(t, key + i + 1, lk - i - 1, yr);
            if (nx < 0 || ny < 0) continue;
            int x = vocab_find(t, xr, (size_t)nx), y = vocab_find(t, yr, (size_t)ny);
            if (x < 0 || y < 0) continue;
            memcpy(jr, xr, (size_t)nx);
            memcpy(jr + nx, yr, (size_t)ny);
            int j = vocab_find(t, jr, (size_t)(nx + ny));
            if (j < 0) continue; /* the reference would emit an undefined id; skip */
            const merge_slot *m = merge_find(t, x, y);
            if (i == la || !m || m->rank < key_rank) merge_put(t, x, y, key_rank, j);
        }
    }
    rc = 0;
done:
    free(key), free(other), free(xr), free(yr), free(jr);
    return rc;
}

/* ---- loading ------------------------------------------------------------ */

/* Where the JSON text's first string holding a NUL (a raw 0 byte or the
 * escape \u0000) begins (its opening quote), or -1. cJSON keeps such a
 * string but C strings end at the NUL, so a token would silently lose its
 * tail (or be empty). */
static long json_string_with_nul(const char *buf, size_t len) {
    long open = -1;
    for (size_t i = 0; i < len; i++) {
        if (open < 0) {
            if (buf[i] == '"') open = (long)i;
        } else if (buf[i] == '"') {
            open = -1;
        } else if (buf[i] == 0) {
            return open;
        } else if (buf[i] == '\\' && i + 1 < len) {
            if (buf[i + 1] == 'u' && i + 6 <= len && memcmp(buf + i + 2, "0000", 4) == 0) return open;
            i++;
        }
    }
    return -1;
}

/* The keys of a token -> id JSON object are tokens: not empty (an empty
 * token would match everywhere and consume nothing), no NUL character. */
static int check_token_keys(const char *path, const char *buf, size_t len, const cJSON *root,
                            pst_error *err) {
    long at = json_string_with_nul(buf, len);
    if (at < 0) {
        for (const cJSON *e = root->child; e; e = e->next)
            if (!e->string || !e->string[0])
                return pst_fail(err, "%s: key \"\" (id %g): a token cannot be the empty string", path,
                                cJSON_IsNumber(e) ? e->valuedouble : -1.0);
        return 0;
    }
    char shown[64];
    size_t k = 0;
    for (size_t i = (size_t)at; i < len && k + 8 < sizeof shown; i++) {
        if (buf[i] == 0) k += (size_t)sprintf(shown + k, "\\u0000");
        else shown[k++] = buf[i];
        if (i > (size_t)at && buf[i] == '"' && buf[i - 1] != '\\') break;
    }
    shown[k] = 0;
    return pst_fail(err, "%s: key %s holds a NUL character, which a token cannot contain", path, shown);
}

typedef struct {
    char *a, *b; /* alphabet forms, pointing into the merges file buffer */
    int line;
} merge_line;

static int parse_merges(const char *path, char *buf, size_t len, merge_line **out, int *n_out,
                        pst_error *err) {
    int cap = 1024, n = 0, line = 0;
    merge_line *m = pst_malloc((size_t)cap * sizeof *m, err);
    if (!m) return -1;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        if (e > p && e[-1] == '\r') e[-1] = 0, e--;
        *e = 0;
        if (!(line == 1 && strncmp(p, "#version", 8) == 0) && e > p) {
            char *a = p;
            while (*a == ' ' || *a == '\t') a++;
            char *sp = a;
            while (*sp && *sp != ' ' && *sp != '\t') sp++;
            char *b = sp;
            while (*b == ' ' || *b == '\t') b++;
            char *be = b;
            while (*be && *be != ' ' && *be != '\t') be++;
            char *rest = be;
            while (*rest == ' ' || *rest == '\t') rest++;
            if (*a) { /* blank lines are skipped */
                if (sp == a || be == b || *rest) {
                    free(m);
                    return pst_fail(err, "%s:%d: expected two tokens separated by a space", path, line);
                }
                *sp = 0;
                *be = 0;
                if (n == cap) {
                    merge_line *nm = pst_realloc(m, (size_t)cap * 2 * sizeof *m, err);
                    if (!nm) {
                        free(m);
                        return -1;
                    }
                    m = nm;
                    cap *= 2;
                }
                m[n].a = a;
                m[n].b = b;
                m[n].line = line;
                n++;
            }
        }
        p = nl ? nl + 1 : end;
    }
    *out = m;
    *n_out = n;
    return 0;
}

/* *out = by_id[n]: the token string of each id of vocab.json's object root (ids must
 * be the integers 0..n-1, each given once). */
static int vocab_by_id(const char *path, const cJSON *root, int n, char ***out, pst_error *err) {
    char **by_id = pst_calloc((size_t)n, sizeof *by_id, err);
    if (!by_id) return -1;
    for (cJSON *e = root->child; e; e = e->next) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!cJSON_IsNumber(e) || v < 0 || v >= n || v != (double)(int)v) {
            free(by_id);
            return pst_fail(err, "%s: token '%s' has id %s; ids must be the integers 0..%d", path, e->string,
                            cJSON_IsNumber(e) ? "out of range" : "that is not a number", n - 1);
        }
        if (by_id[(int)v]) {
            pst_fail(err, "%s: id %d is given to both '%s' and '%s'", path, (int)v, by_id[(int)v], e->string);
            free(by_id);
            return -1;
        }
        by_id[(int)v] = e->string;
    }
    *out = by_id;
    return 0;
}

/* The vocabulary, id by id: an entry is ordinary when it is one byte or the join of a
 * merge (looked up in a hash of the merge products, in alphabet form: a followed by b);
 * anything else (<|endoftext|>) is special, kept verbatim. raw is scratch of at least
 * the longest entry's bytes. */
static int add_vocab_tokens(pst_tokenizer *t, char *const *by_id, int n, const merge_line *ml, int nml,
                            unsigned char *raw, pst_error *err) {
    size_t pcap = pow2_at_least((size_t)nml * 2 + 2);
    struct {
        uint64_t h;
        int32_t line; /* index into ml + 1 */
    } *prod = pst_calloc(pcap, 16, err);
    if (!prod) return -1;
    for (int i = 0; i < nml; i++) {
        size_t la = strlen(ml[i].a), lb = strlen(ml[i].b);
        char *j = (char *)raw;
        memcpy(j, ml[i].a, la);
        memcpy(j + la, ml[i].b, lb);
        uint64_t h = pst_bpe_hash_bytes((unsigned char *)j, la + lb);
        size_t s = h & (pcap - 1);
        while (prod[s].line) s = (s + 1) & (pcap - 1);
        prod[s].h = h;
        prod[s].line = i + 1;
    }
    int rc = 0;
    for (int id = 0; id < n && rc >= 0; id++) {
        const char *k = by_id[id];
        size_t kl = strlen(k);
        long rl = from_alphabet(t, k, kl, raw);
        int ordinary = 0;
        if (rl == 1) ordinary = 1;
        else if (rl > 1) {
            uint64_t h = pst_bpe_hash_bytes((const unsigned char *)k, kl);
            for (size_t s = h & (pcap - 1); prod[s].line; s = (s + 1) & (pcap - 1)) {
                const merge_line *m = &ml[prod[s].line - 1];
                size_t la = strlen(m->a);
                if (prod[s].h == h && la < kl && strncmp(k, m->a, la) == 0 && strcmp(k + la, m->b) == 0) {
                    ordinary = 1;
                    break;
                }
            }
        }
        rc = ordinary ? push_token(t, raw, (size_t)rl, 0, err) : push_token(t, k, kl, 1, err); /* id or -1 */
        if (rc >= 0 && ordinary && rl == 1) t->byte_id[raw[0]] = id;
    }
    free(prod);
    return rc < 0 ? -1 : 0;
}

/* The merges in rank order: each side and their join must be vocabulary tokens. */
static int add_merges(pst_tokenizer *t, const merge_line *ml, int nml, unsigned char *raw,
                      const char *merges_txt_path, const char *vocab_json_path, pst_error *err) {
    if (alloc_merges(t, nml, err)) return -1;
    for (int i = 0; i < nml; i++) {
        long la = from_alphabet(t, ml[i].a, strlen(ml[i].a), raw);
        long lb = la < 0 ? -1 : from_alphabet(t, ml[i].b, strlen(ml[i].b), raw + la);
        if (la < 0 || lb < 0)
            return pst_fail(err, "%s:%d: '%s %s' has a character outside GPT-2's byte alphabet",
                            merges_txt_path, ml[i].line, ml[i].a, ml[i].b);
        int a = vocab_find(t, raw, (size_t)la), b = vocab_find(t, raw + la, (size_t)lb);
        int j = vocab_find(t, raw, (size_t)(la + lb));
        if (a < 0 || b < 0 || j < 0)
            return pst_fail(err, "%s:%d: '%s' is not in %s", merges_txt_path, ml[i].line,
                            a < 0 ? ml[i].a : b < 0 ? ml[i].b : "the joined token", vocab_json_path);
        t->merges[2 * i] = a;
        t->merges[2 * i + 1] = b;
        merge_put(t, a, b, i, j);
    }
    t->n_merges = nml;
    return 0;
}

int pst_tokenizer_load(pst_tokenizer **out, const char *vocab_json_path, const char *merges_txt_path,
                       pst_error *err) {
    *out = NULL;
    char *vbuf = NULL, *mbuf = NULL;
    size_t vlen, mlen;
    cJSON *root = NULL;
    merge_line *ml = NULL;
    int nml = 0;
    pst_tokenizer *t = NULL;
    unsigned char *raw = NULL;
    char **by_id = NULL;
    int rc = -1;

    if (pst_read_file(vocab_json_path, &vbuf, &vlen, err)) goto done;
    if (pst_read_file(merges_txt_path, &mbuf, &mlen, err)) goto done;
    if (parse_merges(merges_txt_path, mbuf, mlen, &ml, &nml, err)) goto done;
    root = cJSON_ParseWithLength(vbuf, vlen);
    if (!root || !cJSON_IsObject(root)) {
        pst_fail(err, "%s: not a JSON object of token -> id", vocab_json_path);
        goto done;
    }
    if (check_token_keys(vocab_json_path, vbuf, vlen, root, err)) goto done;
    int n = cJSON_GetArraySize(root);
    if (n < 256) {
        pst_fail(err, "%s: %d entries, but a byte-level vocabulary has at least the 256 bytes",
                 vocab_json_path, n);
        goto done;
    }
    if (vocab_by_id(vocab_json_path, root, n, &by_id, err)) goto done;
    t = tokenizer_new(n + 8, err);
    raw = t ? pst_malloc(vlen + mlen + 16, err) : NULL;
    if (!raw || add_vocab_tokens(t, by_id, n, ml, nml, raw, err)) goto done;
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) {
            pst_fail(err, "%s: byte 0x%02X has no single-byte token ('%s' in GPT-2's alphabet)",
                     vocab_json_path, b, "see bytes_to_unicode");
            goto done;
        }
    if (build_vocab_table(t, n, err) || add_merges(t, ml, nml, raw, merges_txt_path, vocab_json_path, err) ||
        add_reference_aliases(t, err) || check_heap_order(t, err))
        goto done;
    *out = t;
    t = NULL;
    rc = 0;
done:
    if (rc) pst_fail_context(err, "loading tokenizer");
    pst_tokenizer_free(t);
    cJSON_Delete(root);
    free(by_id);
    free(raw);
    free(ml);
    free(vbuf);
    free(mbuf);
    return rc;
}

int pst_tokenizer_load_dir(pst_tokenizer **out, const char *dir, pst_error *err) {
    char vp[4096], mp[4096], ap[4096];
    *out = NULL;
    if (pst_path_join(vp, sizeof vp, dir, "vocab.json", err) ||
        pst_path_join(mp, sizeof mp, dir, "merges.txt", err) ||
        pst_path_join(ap, sizeof ap, dir, "added_tokens.json", err))
        return -1;
    pst_tokenizer *t;
    if (pst_tokenizer_load(&t, vp, mp, err)) return -1;
    if (pst_file_exists(ap)) {
        char *buf;
        size_t len;
        if (pst_read_file(ap, &buf, &len, err)) {
            pst_tokenizer_free(t);
            return -1;
        }
        cJSON *root = cJSON_ParseWithLength(buf, len);
        int bad = !root || !cJSON_IsObject(root);
        if (!bad && check_token_keys(ap, buf, len, root, err)) bad = 2;
        free(buf);
        /* entries in id order; each id must be the next free one */
        for (int want = t->n_vocab; !bad;) {
            cJSON *hit = NULL;
            for (cJSON *e = root->child; e; e = e->next)
                if (cJSON_IsNumber(e) && e->valuedouble == want) hit = e;
            if (!hit) break;
            if (pst_tokenizer_is_special(t, pst_tokenizer_token_id(t, hit->string))) {
                pst_fail(err, "%s: '%s' is already a special token", ap, hit->string);
                bad = 2;
                break;
            }
            if (push_token(t, hit->string, strlen(hit->string), 2, err) < 0) {
                bad = 2;
                break;
            }
            want++;
        }
        if (!bad) {
            int added = 0;
            for (int i = 0; i < t->n_vocab; i++) added += t->special[i] == 2;
            if (added != cJSON_GetArraySize(root)) {
                pst_fail(err, "%s: ids must continue the vocabulary without gaps from %d", ap,
                         t->n_vocab - added);
                bad = 2;
            }
        }
        if (bad == 1) pst_fail(err, "%s: not a JSON object of token -> id", ap);
        cJSON_Delete(root);
        if (bad) {
            pst_tokenizer_free(t);
            return -1;
        }
    }
    *out = t;
    return 0;
}

int pst_tokenizer_from_merges(pst_tokenizer **out, const int32_t *merge_pairs, int n_merges,
                              const char *const *specials, int n_specials, pst_error *err) {
    *out = NULL;
    pst_tokenizer *t = tokenizer_new(256 + n_merges + 1 + n_specials, err);
    if (!t) return -1;
    unsigned char byte_of_rank[256];
    int cp[256];
    pst_bpe_byte_alphabet(byte_of_rank, cp);
    for (int i = 0; i < 256; i++) {
        if (push_token(t, &byte_of_rank[i], 1, 0, err) < 0) goto fail;
        t->byte_id[byte_of_rank[i]] = i;
    }
    if (alloc_merges(t, n_merges, err) || build_vocab_table(t, 256 + n_merges, err)) goto fail;
    for (int k = 0; k < n_merges; k++) {
        int a = merge_pairs[2 * k], b = merge_pairs[2 * k + 1];
        if (a < 0 || b < 0 || a >= t->n_vocab || b >= t->n_vocab) {
            pst_fail(err, "merge %d joins ids %d and %d, but only ids below %d exist", k, a, b, t->n_vocab);
            goto fail;
        }
        size_t la = t->tok_len[a], lb = t->tok_len[b];
        char *j = pst_malloc(la + lb, err);
        if (!j) goto fail;
        memcpy(j, t->tok[a], la);
        memcpy(j + la, t->tok[b], lb);
        int id = vocab_find(t, (unsigned char *)j, la + lb); /* made before: reuse */
        if (id < 0) {
            id = push_token(t, j, la + lb, 0, err);
            if (id >= 0) vocab_insert(t, id);
        }
        free(j);
        if (id < 0) goto fail;
        t->merges[2 * k] = a;
        t->merges[2 * k + 1] = b;
        merge_put(t, a, b, k, id);
    }
    t->n_merges = n_merges;
    if (push_token(t, "<|endoftext|>", 13, 1, err) < 0) goto fail;
    for (int i = 0; i < n_specials; i++) {
        if (!specials[i][0] || !strcmp(specials[i], "<|endoftext|>")) continue;
        int dup = 0;
        for (int k = 0; k < i; k++) dup |= !strcmp(specials[k], specials[i]);
        if (!dup && push_token(t, specials[i], strlen(specials[i]), 1, err) < 0) goto fail;
    }
    if (add_reference_aliases(t, err) || check_heap_order(t, err)) goto fail;
    *out = t;
    return 0;
fail:
    pst_tokenizer_free(t);
    return -1;
}

/* ---- saving --------------------------------------------------------------- */

int pst_tokenizer_save_dir(const pst_tokenizer *t, const char *dir, pst_error *err) {
    char path[4096];
    int rc = -1;
    cJSON *vocab = cJSON_CreateObject(), *added = cJSON_CreateObject();
    char *vjson = NULL, *ajson = NULL, *merges = NULL, *form = NULL;
    size_t maxlen = 0;
    for (int id = 0; id < t->n_vocab; id++)
        if (t->tok_len[id] > maxlen) maxlen = t->tok_len[id];
    form = pst_malloc(4 * maxlen + 16, err);
    if (!form) goto done;
    if (!vocab || !added) {
        pst_fail_oom(err, dir);
        goto done;
    }
    int n_added = 0;
    for (int id = 0; id < t->n_vocab; id++) {
        cJSON *into = t->special[id] == 2 ? added : vocab;
        n_added += t->special[id] == 2;
        if (t->special[id]) {
            memcpy(form, t->tok[id], t->tok_len[id]);
            form[t->tok_len[id]] = 0;
        } else {
            alphabet_form(t, (const unsigned char *)t->tok[id], t->tok_len[id], form);
        }
        if (!cJSON_AddNumberToObject(into, form, id)) {
            pst_fail_oom(err, dir);
            goto done;
        }
    }
    vjson = cJSON_PrintUnformatted(vocab);
    ajson = cJSON_PrintUnformatted(added);
    size_t cap = 32;
    for (int k = 0; k < t->n_merges; k++)
        cap += 4 * ((size_t)t->tok_len[t->merges[2 * k]] + t->tok_len[t->merges[2 * k + 1]]) + 2;
    merges = pst_malloc(cap, err);
    if (!merges) goto done;
    if (!vjson || !ajson) {
        pst_fail_oom(err, dir);
        goto done;
    }
    size_t m = (size_t)sprintf(merges, "#version: 0.2\n");
    for (int k = 0; k < t->n_merges; k++) {
        int a = t->merges[2 * k], b = t->merges[2 * k + 1];
        m += alphabet_form(t, (const unsigned char *)t->tok[a], t->tok_len[a], merges + m);
        merges[m++] = ' ';
        m += alphabet_form(t, (const unsigned char *)t->tok[b], t->tok_len[b], merges + m);
        merges[m++] = '\n';
    }
    if (pst_mkdir_p(dir, err)) goto done;
    if (pst_path_join(path, sizeof path, dir, "vocab.json", err) ||
        pst_write_file_atomic(path, vjson, strlen(vjson), err))
        goto done;
    if (pst_path_join(path, sizeof path, dir, "merges.txt", err) ||
        pst_write_file_atomic(path, merges, m, err))
        goto done;
    if (pst_path_join(path, sizeof path, dir, "added_tokens.json", err)) goto done;
    if (n_added) {
        if (pst_write_file_atomic(path, ajson, strlen(ajson), err)) goto done;
    } else if (pst_file_exists(path) && remove(path) != 0) {
        pst_fail(err, "%s: cannot remove the stale file", path);
        goto done;
    }
    rc = 0;
done:
    cJSON_Delete(vocab);
    cJSON_Delete(added);
    free(vjson);
    free(ajson);
    free(merges);
    free(form);
    return rc;
}

/* ---- queries ------------------------------------------------------------ */

int pst_tokenizer_vocab_size(const pst_tokenizer *t) { return t->n_vocab; }
int pst_tokenizer_n_merges(const pst_tokenizer *t) { return t->n_merges; }

int pst_tokenizer_is_special(const pst_tokenizer *t, int id) {
    return id >= 0 && id < t->n_vocab && t->special[id] != 0;
}

const char *pst_tokenizer_token_bytes(const pst_tokenizer *t, int id, size_t *len) {
    if (id < 0 || id >= t->n_vocab) return NULL;
    if (len) *len = t->tok_len[id];
    return t->tok[id];
}

/* A special token by its exact text; else an ordinary token by its vocab.json
 * spelling (GPT-2's alphabet, e.g. "Ġthe"); else by its raw bytes. */
int pst_tokenizer_token_id(const pst_tokenizer *t, const char *token) {
    size_t n = strlen(token);
    for (int i = 0; i < t->n_specials; i++) {
        int id = t->specials[i];
        if (t->tok_len[id] == n && memcmp(t->tok[id], token, n) == 0) return id;
    }
    unsigned char stackbuf[256] = {0};
    unsigned char *raw = n < sizeof stackbuf ? stackbuf : malloc(n + 1);
    if (!raw) return -1;
    long rl = from_alphabet(t, token, n, raw);
    int id = rl >= 0 ? vocab_find(t, raw, (size_t)rl) : -1;
    if (raw != stackbuf) free(raw);
    if (id >= 0) return id;
    return vocab_find(t, (const unsigned char *)token, n);
}

int pst_tokenizer_add_special(pst_tokenizer *t, const char *token, pst_error *err) {
    if (!token || !token[0]) return pst_fail(err, "tokenizer: a special token cannot be empty");
    size_t n = strlen(token);
    for (int i = 0; i < t->n_specials; i++) {
        int id = t->specials[i];
        if (t->tok_len[id] == n && memcmp(t->tok[id], token, n) == 0) return id;
    }
    return push_token(t, token, n, 2, err);
}

/* ---- encoding ------------------------------------------------------------- */

typedef struct {
    const unsigned char *p; /* into the caller's text, alive for the call */
    uint64_t h;
    uint32_t len, off, n;   /* ids at cache_ids[off .. off + n) */
} cache_slot;

typedef struct {
    pst_tokenizer *t;
    pst_error *err;
    int *ids;
    size_t n_ids, cap_ids;
    /* per-call word cache */
    cache_slot *slots;
    size_t cache_mask, cache_used;
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
    int use_local; /* texts shorter than LOCAL_CACHE_MIN use only the shared cache */
    /* scratch for one word */
    int32_t *sym, *tmp;
    size_t sym_cap;
    /* bucket queue for long words (bpe_buckets) */
    int32_t *next, *prev, *bucket_head, *entry_pos, *entry_next, *batch;
    size_t long_cap;
} enc_ctx;

#define CACHE_MAX_WORD 64      /* longer words are not cached */
#define LOCAL_CACHE_MIN 4096    /* bytes of text below which a per-call cache does not pay */
#define CACHE_MAX_SLOTS (1u << 20)
#define NAIVE_MAX_SYMBOLS 256  /* longer words use the bucket queue */

static int push_ids(enc_ctx *c, const int32_t *ids, size_t n) {
    if (c->n_ids + n > c->cap_ids) {
        size_t nc = c->cap_ids ? c->cap_ids : 1024;
        while (nc < c->n_ids + n) nc *= 2;
        int *a = pst_realloc(c->ids, nc * sizeof *a, c->err);
        if (!a) return -1;
        c->ids = a;
        c->cap_ids = nc;
    }
    memcpy(c->ids + c->n_ids, ids, n * sizeof *ids);
    c->n_ids += n;
    return 0;
}

/* The reference's loop, for short words: find the lowest-ranked adjacent pair
 * (the last such pair on a tie, as the reference does), replace all its
 * occurrences left to right, repeat. Returns the new symbol count. */
static size_t bpe_naive(const pst_tokenizer *t, int32_t *sym, size_t n, int32_t *tmp) {
    while (n > 1) {
        int32_t best_rank = INT32_MAX, ba = -1, bb = -1, bm = -1;
        for (size_t i = 0; i + 1 < n; i++) {
            const merge_slot *m = merge_find(t, sym[i], sym[i + 1]);
            if (m && m->rank <= best_rank) {
                best_rank = m->rank;
                ba = sym[i];
                bb = sym[i + 1];
                bm = m->merged;
            }
        }
        if (ba < 0) break;
        size_t j = pst_bpe_merge_pair(tmp, sym, n, ba, bb, bm);
        memcpy(sym, tmp, j * sizeof *sym);
        n = j;
    }
    return n;
}

/* Long words: a bucket queue of candidate pairs by rank. When every merge's
 * parts are bytes or made only by lower-ranked merges (check_heap_order;
 * true of learned tables, GPT-2's and ours), a merge only creates pairs of
 * higher rank, so ranks can be taken in increasing order, each bucket's
 * positions left to right (that is the reference's loop: all occurrences of
 * the lowest-ranked pair, left to right, then the next rank). Entries are
 * checked when taken (the pair may have changed). O(n log n) worst case for
 * the per-bucket sorts, cache-friendly, memory 5 ints per byte. */
static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static size_t bpe_buckets(enc_ctx *c, int32_t *sym, size_t n) {
    const pst_tokenizer *t = c->t;
    int32_t *next = c->next, *prev = c->prev, *head = c->bucket_head;
    int32_t *epos = c->entry_pos, *enext = c->entry_next, *batch = c->batch;
    int32_t ne = 0, lo = INT32_MAX;
#define PUSH(rank, pos) (epos[ne] = (pos), enext[ne] = head[rank], head[rank] = ne++, lo = (rank) < lo ? (rank) : lo)
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const merge_slot *m = merge_find(t, sym[i], sym[i + 1]);
        if (m) PUSH(m->rank, (int32_t)i);
    }
    for (int32_t r = lo; r < t->n_merges; r++) {
        if (head[r] < 0) continue;
        size_t nb = 0;
        for (int32_t e = head[r]; e >= 0; e = enext[e]) batch[nb++] = epos[e];
        head[r] = -1;
        qsort(batch, nb, sizeof *batch, cmp_i32);
        for (size_t q = 0; q < nb; q++) {
            int32_t i = batch[q];
            if (sym[i] < 0 || next[i] < 0) continue; /* merged away, or now last */
            int32_t j = next[i];
            const merge_slot *m = merge_find(t, sym[i], sym[j]);
            if (!m || m->rank != r) continue; /* the pair here changed */
            sym[i] = m->merged;
            sym[j] = -1;
            next[i] = next[j];
            if (next[j] >= 0) prev[next[j]] = i;
            if (prev[i] >= 0) {
                const merge_slot *l = merge_find(t, sym[prev[i]], sym[i]);
                if (l && l->rank > r) PUSH(l->rank, prev[i]);
            }
            if (next[i] >= 0) {
                const merge_slot *h = merge_find(t, sym[i], sym[next[i]]);
                if (h && h->rank > r) PUSH(h->rank, i);
            }
        }
    }
#undef PUSH
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) sym[k++] = sym[i];
    return k;
}

static int ensure_scratch(enc_ctx *c, size_t n, int heap) {
    if (n > c->sym_cap) {
        size_t nc = c->sym_cap ? c->sym_cap : 256;
        while (nc < n) nc *= 2;
        int32_t *a = pst_realloc(c->sym, nc * sizeof *a, c->err);
        if (a) c->sym = a;
        int32_t *b = pst_realloc(c->tmp, nc * sizeof *b, c->err);
        if (b) c->tmp = b;
        if (!a || !b) return -1;
        c->sym_cap = nc;
    }
    if (heap && !c->bucket_head) {
        size_t nr = c->t->n_merges > 0 ? (size_t)c->t->n_merges : 1;
        c->bucket_head = pst_malloc(nr * sizeof *c->bucket_head, c->err);
        if (!c->bucket_head) return -1;
        memset(c->bucket_head, 0xFF, nr * sizeof *c->bucket_head); /* -1: empty */
    }
    if (heap && n > c->long_cap) {
        free(c->next), free(c->prev), free(c->entry_pos), free(c->entry_next), free(c->batch);
        c->next = pst_malloc(n * sizeof *c->next, c->err);
        c->prev = pst_malloc(n * sizeof *c->prev, c->err);
        c->entry_pos = pst_malloc(3 * n * sizeof *c->entry_pos, c->err);  /* n - 1 pairs + 2 per merge */
        c->entry_next = pst_malloc(3 * n * sizeof *c->entry_next, c->err);
        c->batch = pst_malloc(3 * n * sizeof *c->batch, c->err);
        c->long_cap = (c->next && c->prev && c->entry_pos && c->entry_next && c->batch) ? n : 0;
        if (!c->long_cap) return -1;
    }
    return 0;
}

static int cache_grow(enc_ctx *c) {
    size_t ncap = c->slots ? (c->cache_mask + 1) * 2 : 256;
    cache_slot *ns = pst_calloc(ncap, sizeof *ns, c->err);
    if (!ns) return -1;
    for (size_t i = 0; c->slots && i <= c->cache_mask; i++) {
        if (!c->slots[i].p) continue;
        size_t k = c->slots[i].h & (ncap - 1);
        while (ns[k].p) k = (k + 1) & (ncap - 1);
        ns[k] = c->slots[i];
    }
    free(c->slots);
    c->slots = ns;
    c->cache_mask = ncap - 1;
    return 0;
}

/* Shared word cache: the merges of words (up to CACHE_MAX_WORD bytes) found
 * by earlier encode calls, up to SHARED_MAX_WORDS words, guarded by a mutex
 * and consulted when the per-call cache misses; many short documents then
 * don't redo the same words. */
#define SHARED_SLOTS (1u << 16)
#define SHARED_MAX_WORDS (1u << 15)

struct shared_slot {
    uint64_t h;
    uint32_t word_off, len, ids_off, n; /* len 0: empty */
};

/* Copies the cached ids of word w into out and returns their count; 0 on a miss. */
static size_t shared_get(pst_tokenizer *t, uint64_t h, const unsigned char *w, size_t n, int32_t *out) {
    size_t k = 0;
    pthread_mutex_lock(&t->cache_lock);
    if (t->sc)
        for (size_t i = h & (SHARED_SLOTS - 1); t->sc[i].len; i = (i + 1) & (SHARED_SLOTS - 1)) {
            const struct shared_slot *s = &t->sc[i];
            if (s->h == h && s->len == n && memcmp(t->sc_bytes + s->word_off, w, n) == 0) {
                k = s->n;
                memcpy(out, t->sc_ids + s->ids_off, k * sizeof *out);
                break;
            }
        }
    pthread_mutex_unlock(&t->cache_lock);
    return k;
}

static int grow_buf(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 1 << 16;
    while (nc < need) nc *= 2;
    void *b = realloc(*buf, nc * elem);
    if (!b) return -1;
    *buf = b;
    *cap = nc;
    return 0;
}

/* Remembers word w -> ids; silently does nothing when full or out of memory. */
static void shared_put(pst_tokenizer *t, uint64_t h, const unsigned char *w, size_t n, const int32_t *ids,
                       size_t k) {
    pthread_mutex_lock(&t->cache_lock);
    if (!t->sc) t->sc = calloc(SHARED_SLOTS, sizeof *t->sc);
    if (t->sc && t->sc_used < SHARED_MAX_WORDS &&
        !grow_buf((void **)&t->sc_bytes, &t->sc_cb, t->sc_nb + n, 1) &&
        !grow_buf((void **)&t->sc_ids, &t->sc_ci, t->sc_ni + k, sizeof *t->sc_ids)) {
        size_t i = h & (SHARED_SLOTS - 1);
        int found = 0;
        for (; t->sc[i].len; i = (i + 1) & (SHARED_SLOTS - 1)) {
            const struct shared_slot *s = &t->sc[i];
            if (s->h == h && s->len == n && memcmp(t->sc_bytes + s->word_off, w, n) == 0) {
                found = 1;
                break;
            }
        }
        if (!found) {
            memcpy(t->sc_bytes + t->sc_nb, w, n);
            memcpy(t->sc_ids + t->sc_ni, ids, k * sizeof *ids);
            t->sc[i] = (struct shared_slot){h, (uint32_t)t->sc_nb, (uint32_t)n, (uint32_t)t->sc_ni, (uint32_t)k};
            t->sc_nb += n;
            t->sc_ni += k;
            t->sc_used++;
        }
    }
    pthread_mutex_unlock(&t->cache_lock);
}

static int encode_word(void *vc, const unsigned char *w, size_t n) {
    enc_ctx *c = vc;
    const pst_tokenizer *t = c->t;
    if (n == 1) {
        int32_t id = t->byte_id[w[0]];
        return push_ids(c, &id, 1);
    }
    cache_slot *slot = NULL;
    uint64_t h = 0;
    if (n <= CACHE_MAX_WORD) {
        h = pst_bpe_hash_bytes(w, n);
        if (c->slots) {
            size_t i = h & c->cache_mask;
            for (; c->slots[i].p; i = (i + 1) & c->cache_mask) {
                cache_slot *s = &c->slots[i];
                if (s->h == h && s->len == n && memcmp(s->p, w, n) == 0)
                    return push_ids(c, c->cache_ids + s->off, s->n);
            }
            slot = &c->slots[i];
        }
    }
    if (ensure_scratch(c, n, n > NAIVE_MAX_SYMBOLS && t->heap_ok)) return -1;
    size_t k = n <= CACHE_MAX_WORD ? shared_get(c->t, h, w, n, c->sym) : 0;
    if (!k) {
        for (size_t i = 0; i < n; i++) c->sym[i] = t->byte_id[w[i]];
        int heap = n > NAIVE_MAX_SYMBOLS && t->heap_ok;
        k = heap ? bpe_buckets(c, c->sym, n) : bpe_naive(t, c->sym, n, c->tmp);
        if (n <= CACHE_MAX_WORD) shared_put(c->t, h, w, n, c->sym, k);
    }
    if (push_ids(c, c->sym, k)) return -1;
    if (n <= CACHE_MAX_WORD && c->use_local && c->cache_used < CACHE_MAX_SLOTS) {
        if (!slot || (c->cache_used + 1) * 2 > c->cache_mask + 1) {
            if (cache_grow(c)) return -1;
            size_t i = h & c->cache_mask;
            while (c->slots[i].p) i = (i + 1) & c->cache_mask;
            slot = &c->slots[i];
        }
        int32_t *a = pst_grow(c->cache_ids, &c->cache_cap, c->cache_n + k, sizeof *a, 4096, c->err);
        if (!a) return -1;
        c->cache_ids = a;
        memcpy(c->cache_ids + c->cache_n, c->sym, k * sizeof *c->sym);
        slot->p = w;
        slot->h = h;
        slot->len = (uint32_t)n;
        slot->off = (uint32_t)c->cache_n;
        slot->n = (uint32_t)k;
        c->cache_n += k;
        c->cache_used++;
    }
    return 0;
}

/* Earliest special token at or after pos (longest on a tie); -1 if none.
 * next_at[k] caches where special k next occurs (SIZE_MAX: not again). */
static int find_special(const pst_tokenizer *t, const char *text, size_t len, size_t pos,
                        size_t *next_at, size_t *at) {
    int best = -1;
    size_t best_at = SIZE_MAX;
    for (int k = 0; k < t->n_specials; k++) {
        int id = t->specials[k];
        if (next_at[k] != SIZE_MAX && next_at[k] < pos) {
            const char *f = memmem(text + pos, len - pos, t->tok[id], t->tok_len[id]);
            next_at[k] = f ? (size_t)(f - text) : SIZE_MAX;
        }
        if (next_at[k] < best_at || (next_at[k] == best_at && best >= 0 && t->tok_len[id] > t->tok_len[best])) {
            best = id;
            best_at = next_at[k];
        }
    }
    *at = best_at;
    return best_at == SIZE_MAX ? -1 : best;
}

int pst_tokenizer_encode(pst_tokenizer *t, const char *text, size_t len, int allow_special, int **ids,
                         size_t *n_ids, pst_error *err) {
    *ids = NULL;
    *n_ids = 0;
    enc_ctx c = {.t = t, .err = err, .use_local = len >= LOCAL_CACHE_MIN};
    size_t *next_at = NULL;
    int rc = -1;
    if (!text && len) {
        pst_fail(err, "tokenizer: encode given NULL text of length %zu", len);
        goto done;
    }
    if (!text) text = ""; /* len == 0 */
    c.cap_ids = len / 3 + 16;
    c.ids = pst_malloc(c.cap_ids * sizeof *c.ids, err);
    if (!c.ids) goto done;
    size_t pos = 0;
    if (allow_special && t->n_specials) {
        next_at = pst_malloc((size_t)t->n_specials * sizeof *next_at, err);
        if (!next_at) goto done;
        for (int k = 0; k < t->n_specials; k++) {
            const char *f = memmem(text, len, t->tok[t->specials[k]], t->tok_len[t->specials[k]]);
            next_at[k] = f ? (size_t)(f - text) : SIZE_MAX;
        }
        for (;;) {
            size_t at;
            int sp = find_special(t, text, len, pos, next_at, &at);
            size_t end = sp < 0 ? len : at;
            if (pst_bpe_pretokenize(t->re, text + pos, end - pos, encode_word, &c, err)) goto done;
            if (sp < 0) break;
            int32_t id = sp;
            if (push_ids(&c, &id, 1)) goto done;
            pos = at + t->tok_len[sp];
        }
    } else if (pst_bpe_pretokenize(t->re, text, len, encode_word, &c, err)) goto done;
    *ids = c.ids;
    *n_ids = c.n_ids;
    c.ids = NULL;
    rc = 0;
done:
    free(c.ids);
    free(c.slots);
    free(c.cache_ids);
    free(c.sym);
    free(c.tmp);
    free(c.next);
    free(c.prev);
    free(c.bucket_head);
    free(c.entry_pos);
    free(c.entry_next);
    free(c.batch);
    free(next_at);
    return rc;
}

int pst_tokenizer_decode(const pst_tokenizer *t, const int *ids, size_t n_ids, char **text, size_t *len,
                         pst_error *err) {
    *text = NULL;
    if (len) *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return pst_fail(err, "token id %d (position %zu) is outside the vocabulary 0..%d", ids[i], i,
                            t->n_vocab - 1);
        total += t->tok_len[ids[i]];
    }
    char *out = pst_malloc(total + 1, err);
    if (!out) return -1;
    size_t k = 0;
    for (size_t i = 0; i < n_ids; i++) {
        memcpy(out + k, t->tok[ids[i]], t->tok_len[ids[i]]);
        k += t->tok_len[ids[i]];
    }
    out[k] = 0;
    *text = out;
    if (len) *len = k;
    return 0;
}

int pst_tokenizer_open_flags(pst_tokenizer **out, const char *model_dir, const char *vocab_json_path,
                             const char *merges_txt_path, pst_error *err) {
    *out = NULL;
    if (vocab_json_path && merges_txt_path) return pst_tokenizer_load(out, vocab_json_path, merges_txt_path, err);
    if (vocab_json_path || merges_txt_path)
        return pst_fail_field(err, vocab_json_path ? "merges" : "vocab",
                              "--vocab and --merges go together (got only --%s)",
                              vocab_json_path ? "vocab" : "merges");
    if (!model_dir)
        return pst_fail_field(err, "model", "no tokenizer given: use --model DIR (or gpt2), or --vocab and --merges");
    return pst_tokenizer_open(out, model_dir, err);
}
