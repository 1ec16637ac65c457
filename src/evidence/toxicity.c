/* Toxicity: a lexicon proxy for a neural classifier (Detoxify), built from
 * npm cuss 2.2.0 (data/cuss/index.js: `word: rating,` with rating 0..2).
 *
 * Matching, per token (a maximal run of letters, digits, UTF-8 bytes other
 * than typographic quotes and dashes, and the obfuscation characters * # @ $ !):
 *   1. case folding; leading and trailing '!' and '#' trimmed;
 *   2. exact lookup of the lower-cased token ("pi55" is itself an entry), then
 *      leetspeak when the token mixes letters with digits/symbols
 *      (0→o 1→i 3→e 4→a 5→s 7→t @→a $→s !→i): "sh1t", "a$$";
 *   3. lookup of the result (word boundaries by construction: "class", "Scunthorpe"
 *      are single tokens not in the lexicon);
 *   4. runs of 3+ equal letters: cut to one letter, then to two, and looked
 *      up ("shiiit" -> "shit"); failing that, every run collapsed to one
 *      letter against the lexicon collapsed the same way ("fuuuck" ~ "fuck");
 *   5. '*' or '#' inside a token ("f*ck", "f**k") is a wildcard for one letter:
 *      the highest-rated single word of the same length that agrees on the
 *      visible letters (at least two visible letters, the first one visible);
 *   6. multiword entries ("alligator bait", up to 4 words) matched over
 *      consecutive tokens, longest first.
 * Entries rated 0 ("african", "attack": not profane in most uses) are loaded
 * but never reported. Score of a text: 1 − Π over matches (1 − p(rating)),
 * p(1) = 0.5, p(2) = 0.9. */
#include "posterior/toxicity.h"
#include "evidence/scorer_internal.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#define MAX_WORD 64
#define MAX_PHRASE_WORDS 4

typedef struct {
    char *key; /* NULL = empty slot */
    size_t len;
    int rating;
} lex_slot;

typedef struct {
    lex_slot *slots;
    size_t mask; /* capacity - 1, power of two */
} lex_table;

struct pst_toxicity {
    lex_table exact;     /* word or "word word" -> rating */
    lex_table collapsed; /* single words with letter runs collapsed -> max rating */
    lex_table phrase_first; /* first words of multiword entries */
    char **words;        /* single-word entries, for wildcard matching */
    int *word_rating;
    size_t n_words, n_entries;
    int max_phrase_words;
};

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static int lex_init(lex_table *t, size_t cap, pst_error *err) {
    size_t c = 16;
    while (c < cap * 2) c *= 2;
    t->slots = pst_calloc(c, sizeof *t->slots, err);
    t->mask = c - 1;
    return t->slots ? 0 : -1;
}

static lex_slot *lex_find(const lex_table *t, const char *key, size_t n) {
    size_t i = fnv1a(key, n) & t->mask;
    for (;;) {
        lex_slot *s = &t->slots[i];
        if (!s->key || (s->len == n && memcmp(s->key, key, n) == 0)) return s;
        i = (i + 1) & t->mask;
    }
}

static int lex_get(const lex_table *t, const char *key, size_t n) {
    lex_slot *s = lex_find(t, key, n);
    return s->key ? s->rating : -1;
}

/* Inserts or raises the rating (max). */
static int lex_put(lex_table *t, const char *key, size_t n, int rating, pst_error *err) {
    lex_slot *s = lex_find(t, key, n);
    if (s->key) {
        if (rating > s->rating) s->rating = rating;
        return 0;
    }
    s->key = pst_strndup(key, n, err);
    if (!s->key) return -1;
    s->len = n;
    s->rating = rating;
    return 0;
}

static void lex_free(lex_table *t) {
    if (!t->slots) return;
    for (size_t i = 0; i <= t->mask; i++) free(t->slots[i].key);
    free(t->slots);
}

/* Collapses runs of equal letters to one letter; returns the new length. */
static size_t collapse_runs(const char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (o == 0 || out[o - 1] != in[i]) out[o++] = in[i];
    return o;
}

double pst_toxicity_rating_probability(int rating) {
    return rating >= 2 ? 0.9 : rating == 1 ? 0.5 : 0.0;
}

size_t pst_toxicity_lexicon_size(const pst_toxicity *t) { return t->n_entries; }

void pst_toxicity_free(pst_toxicity *t) {
    if (!t) return;
    lex_free(&t->exact);
    lex_free(&t->collapsed);
    lex_free(&t->phrase_first);
    for (size_t i = 0; i < t->n_words; i++) free(t->words[i]);
    free(t->words);
    free(t->word_rating);
    free(t);
}

int pst_toxicity_create(const char *data_dir, pst_toxicity **out, pst_error *err) {
    *out = NULL;
    char path[4096], data[4096];
    if (!data_dir || !*data_dir) {
        if (pst_data_dir(data, sizeof data, err) < 0) return -1;
        data_dir = data;
    }
    if (pst_path_join(path, sizeof path, data_dir, "cuss/index.js", err) < 0) return -1;
    char *src;
    size_t len;
    if (pst_read_file(path, &src, &len, err) < 0)
        return pst_fail_context(err, "toxicity: lexicon (npm cuss 2.2.0; set POSTERIOR_DATA or run "
                                     "scripts/bootstrap.sh)");
    pst_toxicity *t = pst_calloc(1, sizeof *t, err);
    if (!t) {
        free(src);
        return -1;
    }
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += src[i] == '\n';
    if (lex_init(&t->exact, lines, err) < 0 || lex_init(&t->collapsed, lines, err) < 0 ||
        lex_init(&t->phrase_first, lines, err) < 0 ||
        !(t->words = pst_calloc(lines, sizeof *t->words, err)) ||
        !(t->word_rating = pst_calloc(lines, sizeof *t->word_rating, err)))
        goto fail;
    /* lines look like `  word: 2,` or `  'two words': 1,` */
    size_t line_no = 0;
    for (char *p = src, *end = src + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        line_no++;
        char *q = p;
        while (q < nl && (*q == ' ' || *q == '\t')) q++;
        char *k0 = NULL, *k1 = NULL;
        if (q < nl && *q == '\'') {
            k0 = ++q;
            while (q < nl && *q != '\'') q++;
            k1 = q;
            if (q < nl) q++;
        } else if (q < nl && isalpha((unsigned char)*q)) {
            k0 = q;
            while (q < nl && (isalnum((unsigned char)*q) || *q == '_')) q++;
            k1 = q;
        }
        if (k0 && q < nl && *q == ':' && k1 > k0) {
            q++;
            while (q < nl && *q == ' ') q++;
            if (q < nl && *q >= '0' && *q <= '2') {
                int rating = *q - '0';
                size_t n = (size_t)(k1 - k0);
                char key[256];
                if (n >= sizeof key) {
                    pst_fail(err, "toxicity: %s:%zu: entry longer than %zu bytes", path, line_no,
                             sizeof key - 1);
                    goto fail;
                }
                for (size_t i = 0; i < n; i++) key[i] = (char)tolower((unsigned char)k0[i]);
                int words = 1;
                for (size_t i = 0; i < n; i++) words += key[i] == ' ';
                if (words > MAX_PHRASE_WORDS) {
                    pst_fail(err, "toxicity: %s:%zu: entry has %d words (at most %d)", path,
                             line_no, words, MAX_PHRASE_WORDS);
                    goto fail;
                }
                if (words > t->max_phrase_words) t->max_phrase_words = words;
                if (lex_put(&t->exact, key, n, rating, err) < 0) goto fail;
                if (words > 1 &&
                    lex_put(&t->phrase_first, key, (size_t)((char *)memchr(key, ' ', n) - key),
                            0, err) < 0)
                    goto fail;
                if (words == 1) {
                    char col[256];
                    size_t m = collapse_runs(key, n, col);
                    if (lex_put(&t->collapsed, col, m, rating, err) < 0) goto fail;
                    if (!(t->words[t->n_words] = pst_strndup(key, n, err))) goto fail;
                    t->word_rating[t->n_words++] = rating;
                }
                t->n_entries++;
            }
        }
        p = nl + 1;
    }
    free(src);
    if (t->n_entries < 100) {
        pst_fail(err, "toxicity: %s: only %zu entries parsed; is this npm cuss 2.2.0?", path,
                 t->n_entries);
        pst_toxicity_free(t);
        return -1;
    }
    *out = t;
    return 0;
fail:
    free(src);
    pst_toxicity_free(t);
    return -1;
}

/* ---- matching ---------------------------------------------------------- */

static int is_token_byte(unsigned char c) {
    return isalnum(c) || c >= 0x80 || c == '*' || c == '#' || c == '@' || c == '$' || c == '!';
}

/* Typographic quotes and dashes (U+2013 U+2014 U+2018 U+2019 U+201C U+201D)
 * separate words like their ASCII forms: "Fu’s" is "Fu" + "s". */
static int is_unicode_separator(const char *t, size_t pos, size_t len) {
    if (pos + 2 >= len || (unsigned char)t[pos] != 0xE2 || (unsigned char)t[pos + 1] != 0x80)
        return 0;
    unsigned char c = (unsigned char)t[pos + 2];
    return c == 0x93 || c == 0x94 || c == 0x98 || c == 0x99 || c == 0x9C || c == 0x9D;
}

static int at_token_byte(const char *t, size_t pos, size_t len) {
    return is_token_byte((unsigned char)t[pos]) && !is_unicode_separator(t, pos, len);
}

typedef struct {
    size_t start, end; /* bytes in the text (after trimming) */
    char norm[MAX_WORD + 1];
    size_t n;          /* length of norm; 0 = not a word (number, too long) */
    char raw[MAX_WORD + 1]; /* lower-cased before leetspeak ("pi55" is an entry) */
    int leet;          /* norm differs from raw */
    int wildcard;      /* norm has '*' */
    int long_run;      /* a run of 3+ equal letters */
} token;

/* Normalises text[s, e) into tok; returns 0 when it is no candidate word. */
static int make_token(const char *text, size_t s, size_t e, token *tok) {
    /* a leading '*' stays: it hides the first letter */
    while (s < e && (text[s] == '!' || text[s] == '#')) s++;
    while (e > s && (text[e - 1] == '!' || text[e - 1] == '#')) e--;
    tok->start = s;
    tok->end = e;
    tok->n = 0;
    if (e - s > MAX_WORD || e == s) return 0;
    int letters = 0, others = 0;
    for (size_t i = s; i < e; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x80) return 0; /* non-ASCII word: not in the English lexicon */
        if (isalpha(c)) letters++;
        else others++;
    }
    if (letters == 0) return 0;
    int wild = 0, run = 1, long_run = 0;
    int norm_ok = 1;
    tok->leet = others > 0;
    for (size_t i = s; i < e; i++) {
        char c = (char)tolower((unsigned char)text[i]);
        tok->raw[i - s] = c;
        if (others) {
            switch (c) {
            case '0': c = 'o'; break;
            case '1': c = 'i'; break;
            case '3': c = 'e'; break;
            case '4': c = 'a'; break;
            case '5': c = 's'; break;
            case '7': c = 't'; break;
            case '@': c = 'a'; break;
            case '$': c = 's'; break;
            case '!': c = 'i'; break;
            case '#': c = '*'; break;
            default: break;
            }
        }
        if (c == '*') wild = 1;
        else if (!isalpha((unsigned char)c)) norm_ok = 0; /* "ra8s": only the raw form */
        if (tok->n > 0 && tok->norm[tok->n - 1] == c && c != '*') {
            if (++run >= 3) long_run = 1;
        } else {
            run = 1;
        }
        tok->norm[tok->n++] = c;
    }
    tok->raw[tok->n] = 0;
    if (!norm_ok) {
        memcpy(tok->norm, tok->raw, tok->n + 1);
        wild = 0;
    }
    tok->norm[tok->n] = 0;
    tok->wildcard = wild;
    tok->long_run = long_run;
    return 1;
}

static int wildcard_rating(const pst_toxicity *t, const token *tok) {
    if (tok->norm[0] == '*') return -1;
    size_t visible = 0;
    for (size_t i = 0; i < tok->n; i++) visible += tok->norm[i] != '*';
    if (visible < 2) return -1;
    int best = -1;
    for (size_t w = 0; w < t->n_words; w++) {
        const char *word = t->words[w];
        if (strlen(word) != tok->n) continue;
        size_t i = 0;
        while (i < tok->n && (tok->norm[i] == '*' || tok->norm[i] == word[i])) i++;
        if (i == tok->n && t->word_rating[w] > best) best = t->word_rating[w];
    }
    return best;
}

static int word_rating(const pst_toxicity *t, const token *tok) {
    if (tok->n == 0) return -1;
    if (tok->wildcard) return wildcard_rating(t, tok);
    int r = tok->leet ? lex_get(&t->exact, tok->raw, tok->n) : -1;
    if (r < 0) r = lex_get(&t->exact, tok->norm, tok->n);
    if (r < 0 && tok->long_run) {
        /* runs of 3+ cut to one letter, then to two ("shiiit" -> "shit"), then
         * every run cut to one on both sides ("fuuuck" ~ "fuck") */
        char col[MAX_WORD + 1];
        for (size_t keep = 1; keep <= 2 && r < 0; keep++) {
            size_t m = 0;
            for (size_t a = 0, b; a < tok->n; a = b) {
                for (b = a; b < tok->n && tok->norm[b] == tok->norm[a];) b++;
                size_t copy = b - a >= 3 ? keep : b - a;
                for (size_t c = 0; c < copy; c++) col[m++] = tok->norm[a];
            }
            r = lex_get(&t->exact, col, m);
        }
        if (r < 0) {
            size_t m = collapse_runs(tok->norm, tok->n, col);
            r = lex_get(&t->collapsed, col, m);
        }
    }
    return r;
}

PST_ARRAY(match_list, pst_toxic_match)

/* Whitespace or hyphens only between two tokens of a phrase. */
static int phrase_gap(const char *text, size_t a, size_t b) {
    if (b <= a) return 0;
    for (size_t i = a; i < b; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '-' && text[i] != '\r')
            return 0;
    return 1;
}

/* Reads the next token at or after *pos; 0 at the end of the text. A token
 * that is no candidate word keeps its place with n = 0 (it breaks phrases). */
static int next_token(const char *text, size_t len, size_t *pos, token *tok) {
    size_t p = *pos;
    while (p < len && !at_token_byte(text, p, len)) p++;
    if (p >= len) {
        *pos = p;
        return 0;
    }
    size_t s = p;
    while (p < len && at_token_byte(text, p, len)) p++;
    *pos = p;
    if (!make_token(text, s, p, tok)) tok->n = 0;
    return 1;
}

int pst_toxicity_find(const pst_toxicity *t, const char *text, size_t len, pst_toxic_match **out,
                      size_t *n, double *score, pst_error *err) {
    *out = NULL;
    *n = 0;
    match_list l = {0};
    double keep = 1.0; /* Π (1 − p) */
    token win[MAX_PHRASE_WORDS];
    int nwin = 0; /* tokens read ahead; more than one only for phrase candidates */
    size_t pos = 0;
    for (;;) {
        if (nwin == 0 && !next_token(text, len, &pos, &win[nwin++])) break;
        /* longest phrase starting at win[0], when some entry starts with it */
        int used = 0, rating = -1;
        if (win[0].n && !win[0].wildcard && lex_get(&t->phrase_first, win[0].norm, win[0].n) >= 0) {
            while (nwin < t->max_phrase_words && next_token(text, len, &pos, &win[nwin])) nwin++;
            for (int k = nwin; k >= 2 && used == 0; k--) {
                char key[MAX_PHRASE_WORDS * (MAX_WORD + 1)];
                size_t m = 0;
                int ok = 1;
                for (int i = 0; i < k && ok; i++) {
                    if (win[i].n == 0 || win[i].wildcard) ok = 0;
                    else if (i > 0 && !phrase_gap(text, win[i - 1].end, win[i].start)) ok = 0;
                    else {
                        if (i > 0) key[m++] = ' ';
                        memcpy(key + m, win[i].norm, win[i].n);
                        m += win[i].n;
                    }
                }
                if (!ok) continue;
                int r = lex_get(&t->exact, key, m);
                if (r >= 0) used = k, rating = r;
            }
        }
        if (!used) {
            used = 1;
            rating = word_rating(t, &win[0]);
        }
        if (rating >= 1) {
            if (match_list_push(&l, (pst_toxic_match){win[0].start, win[used - 1].end, rating}, err) < 0) {
                free(l.v);
                return -1;
            }
            keep *= 1.0 - pst_toxicity_rating_probability(rating);
        }
        if (nwin > used) memmove(win, win + used, (size_t)(nwin - used) * sizeof *win);
        nwin -= used;
    }
    *out = l.v;
    *n = l.n;
    if (score) *score = 1.0 - keep;
    return 0;
}

/* ---- the toxicity scorer --------------------------------------------------- */

static int toxicity_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                          const char *const *contexts, int want_findings, pst_score *out,
                          pst_error *err) {
    for (size_t i = 0; i < n; i++) {
        pst_toxic_match *m;
        size_t nm;
        if (pst_toxicity_find(s->impl, texts[i], lens[i], &m, &nm, &out[i].score, err) < 0)
            return pst_fail_context(err, "scorer 'toxicity': text %zu", i);
        for (size_t j = 0; want_findings && j < nm; j++)
            if (pst_score_add_finding(&out[i], "TOXIC", m[j].start, m[j].end, m[j].rating, err) < 0) {
                free(m);
                return -1;
            }
        free(m);
    }
    return 0;
}

static void toxicity_destroy(void *p) { pst_toxicity_free(p); }

static const pst_scorer_ops toxicity_ops = {toxicity_score, toxicity_destroy};

int pst_scorer_create_toxicity(const char *spec, size_t len, pst_scorer **out, pst_error *err) {
    pst_toxicity *t;
    if (pst_toxicity_create(NULL, &t, err) < 0) return -1;
    return pst_scorer_make(spec, len, &toxicity_ops, t, PST_SCORER_SCORE, out, err);
}
