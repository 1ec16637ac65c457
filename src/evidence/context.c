/* Context-aware pointwise evidence b(x, c): the constraints of conditional DPG (thesis ch. 4),
 * where c is the context (source sentence, document, function signature) and x the
 * continuation. Every one needs a context per text; a text without one is an error.
 *   numbers-copied             b = 1 iff every number of c — written in digits, or a number
 *                              word one … ten — appears in x in digits (no number in c: b = 1)
 *   entities-from-context[:K]  b = 1 iff every entity of x (a number, or a capitalised word
 *                              that does not start a sentence, "I" excepted) occurs in c as a
 *                              word, and x has at least K distinct entities (K = 1)
 *   pep8-clean                 b = 1 iff pycodestyle finds nothing on the lines of c + x that
 *                              x wrote (the context's own lines are not x's doing; a missing
 *                              final newline is not counted: a sample ends where it stopped)
 * Numbers are compared normalised: digits with the thousands commas dropped ("1,000" = "1000"),
 * a decimal point kept ("3.5"). Words are maximal runs of ASCII letters, digits, '_' and bytes
 * ≥ 0x80 (UTF-8 letters). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/scorer_internal.h"
#include "posterior/pep8.h"

typedef enum { NUMBERS_COPIED, ENTITIES_FROM_CONTEXT, PEP8_CLEAN } context_rule;

typedef struct {
    context_rule rule;
    int min_entities; /* entities-from-context: K */
} context_impl;

/* ---- words and numbers ------------------------------------------------------- */

static int word_byte(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }

/* A set of short strings (numbers, words) in one growing buffer: "s1\0s2\0...". */
typedef struct {
    char *buf;
    size_t len, cap, n;
} string_set;

static int set_has(const string_set *s, const char *w, size_t n) {
    for (size_t o = 0; o < s->len; o += strlen(s->buf + o) + 1)
        if (strlen(s->buf + o) == n && memcmp(s->buf + o, w, n) == 0) return 1;
    return 0;
}

static int set_add(string_set *s, const char *w, size_t n, pst_error *err) {
    if (set_has(s, w, n)) return 0;
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2 + 64;
        char *b = pst_realloc(s->buf, cap, err);
        if (!b) return -1;
        s->buf = b, s->cap = cap;
    }
    memcpy(s->buf + s->len, w, n);
    s->buf[s->len + n] = 0;
    s->len += n + 1, s->n++;
    return 0;
}

static const char *const number_words[] = {"one", "two", "three", "four", "five",
                                           "six", "seven", "eight", "nine", "ten"};

/* 1 … 10 for a number word (any case), else 0. */
static int number_word_value(const char *w, size_t n) {
    for (int v = 0; v < 10; v++)
        if (strlen(number_words[v]) == n && strncasecmp(w, number_words[v], n) == 0) return v + 1;
    return 0;
}

/* The number starting at t[i] (a digit): its end, and its normalised form in out[0, *on). */
static size_t scan_number(const char *t, size_t len, size_t i, char *out, size_t *on) {
    size_t o = 0;
    while (i < len) {
        unsigned char c = (unsigned char)t[i];
        int joined = (c == ',' || c == '.') && i + 1 < len && isdigit((unsigned char)t[i + 1]) && o > 0;
        if (!isdigit(c) && !joined) break;
        if (c != ',' && o < 63) out[o++] = (char)c;
        i++;
    }
    *on = o;
    return i;
}

/* Is the word at t[start] the first of a sentence (start of text, or after . ! ? : or a
 * blank line, skipping spaces, quotes and brackets)? */
static int starts_sentence(const char *t, size_t start) {
    size_t i = start;
    while (i > 0) {
        unsigned char c = (unsigned char)t[i - 1];
        if (c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '(' || c == '[') {
            i--;
            continue;
        }
        return c == '.' || c == '!' || c == '?' || c == ':' || c == '\n';
    }
    return 1;
}

/* Collects the numbers of t (digits; number words too when with_words) and, when caps is
 * not NULL, its capitalised words that do not start a sentence. */
static int collect(const char *t, size_t len, int with_words, string_set *numbers, string_set *caps,
                   pst_error *err) {
    size_t i = 0;
    while (i < len) {
        if (!word_byte((unsigned char)t[i])) {
            i++;
            continue;
        }
        size_t start = i;
        if (isdigit((unsigned char)t[i])) {
            char num[64];
            size_t on;
            i = scan_number(t, len, i, num, &on);
            if (i < len && word_byte((unsigned char)t[i])) { /* "3rd", "x2": not a number */
                while (i < len && word_byte((unsigned char)t[i])) i++;
                continue;
            }
            if (set_add(numbers, num, on, err) < 0) return -1;
            continue;
        }
        while (i < len && word_byte((unsigned char)t[i])) i++;
        int v = with_words ? number_word_value(t + start, i - start) : 0;
        if (v) {
            char num[4];
            int on = snprintf(num, sizeof num, "%d", v);
            if (set_add(numbers, num, (size_t)on, err) < 0) return -1;
        } else if (caps && isupper((unsigned char)t[start]) && !starts_sentence(t, start) &&
                   !(i - start == 1 && t[start] == 'I')) {
            if (set_add(caps, t + start, i - start, err) < 0) return -1;
        }
    }
    return 0;
}

/* Is w[0, n) a word of t (bounded by non-word bytes)? */
static int has_word(const char *t, size_t len, const char *w, size_t n) {
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(t + i, w, n) == 0 && (i == 0 || !word_byte((unsigned char)t[i - 1])) &&
            (i + n == len || !word_byte((unsigned char)t[i + n])))
            return 1;
    return 0;
}

/* ---- the three rules ------------------------------------------------------------ */

static int numbers_copied(const char *x, size_t xl, const char *c, double *b, pst_error *err) {
    string_set need = {0}, have = {0};
    int rc = collect(c, strlen(c), 1, &need, NULL, err);
    if (rc == 0) rc = collect(x, xl, 0, &have, NULL, err);
    *b = 1;
    for (size_t o = 0; rc == 0 && o < need.len; o += strlen(need.buf + o) + 1)
        if (!set_has(&have, need.buf + o, strlen(need.buf + o))) *b = 0;
    free(need.buf), free(have.buf);
    return rc;
}

static int entities_from_context(const char *x, size_t xl, const char *c, int k, double *b, pst_error *err) {
    string_set nums = {0}, caps = {0}, cnums = {0};
    size_t cl = strlen(c);
    int rc = collect(x, xl, 0, &nums, &caps, err);
    if (rc == 0) rc = collect(c, cl, 0, &cnums, NULL, err);
    int ok = rc == 0 && nums.n + caps.n >= (size_t)k;
    for (size_t o = 0; ok && o < nums.len; o += strlen(nums.buf + o) + 1)
        ok = set_has(&cnums, nums.buf + o, strlen(nums.buf + o));
    for (size_t o = 0; ok && o < caps.len; o += strlen(caps.buf + o) + 1)
        ok = has_word(c, cl, caps.buf + o, strlen(caps.buf + o));
    *b = ok;
    free(nums.buf), free(caps.buf), free(cnums.buf);
    return rc;
}

static int pep8_clean(const char *x, size_t xl, const char *c, double *b, pst_error *err) {
    size_t cl = strlen(c);
    int first_row = 1; /* the first row x writes on */
    for (size_t i = 0; i < cl; i++) first_row += c[i] == '\n';
    char *src = pst_malloc(cl + xl + 2, err);
    if (!src) return -1;
    memcpy(src, c, cl);
    memcpy(src + cl, x, xl);
    size_t n = cl + xl;
    if (n == 0 || src[n - 1] != '\n') src[n++] = '\n';
    pst_pep8_options o;
    pst_pep8_options_default(&o);
    pst_pep8_finding *f = NULL;
    size_t nf = 0;
    int rc = pst_pep8_check(src, n, &o, &f, &nf, err);
    *b = 1;
    for (size_t i = 0; rc == 0 && i < nf; i++)
        if (f[i].row >= first_row) *b = 0;
    pst_pep8_findings_free(f, nf);
    free(src);
    return rc;
}

static const char *const rule_names[] = {"numbers-copied", "entities-from-context", "pep8-clean"};

static int context_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                         const char *const *contexts, int want_findings, pst_score *out, pst_error *err) {
    const context_impl *im = s->impl;
    for (size_t i = 0; i < n; i++) {
        if (!contexts || !contexts[i])
            return pst_fail(err, "scorer '%s': text %zu has no context (%s compares each text with its context; "
                                 "give the contexts with the texts)", s->spec, i, rule_names[im->rule]);
        double b;
        int rc = im->rule == NUMBERS_COPIED ? numbers_copied(texts[i], lens[i], contexts[i], &b, err)
                 : im->rule == ENTITIES_FROM_CONTEXT
                     ? entities_from_context(texts[i], lens[i], contexts[i], im->min_entities, &b, err)
                     : pep8_clean(texts[i], lens[i], contexts[i], &b, err);
        if (rc < 0) return pst_fail_context(err, "scorer '%s': text %zu", s->spec, i);
        out[i].score = b;
    }
    return 0;
}

static const pst_scorer_ops context_ops = {context_score, free};

/* spec: numbers-copied | entities-from-context[:K] | pep8-clean; 0 if it is none of them
 * (*out NULL), 1 with *out built, -1 on a malformed one. */
int pst_scorer_create_context(const char *spec, size_t len, pst_scorer **out, pst_error *err) {
    *out = NULL;
    context_impl im = {NUMBERS_COPIED, 1};
    size_t e = strlen("entities-from-context");
    if (len == 14 && memcmp(spec, "numbers-copied", 14) == 0) im.rule = NUMBERS_COPIED;
    else if (len == 10 && memcmp(spec, "pep8-clean", 10) == 0) im.rule = PEP8_CLEAN;
    else if (len >= e && memcmp(spec, "entities-from-context", e) == 0 && (len == e || spec[e] == ':')) {
        im.rule = ENTITIES_FROM_CONTEXT;
        if (len > e) {
            char digits[16];
            size_t dn = len - e - 1;
            char *end;
            long k = dn > 0 && dn < sizeof digits ? (memcpy(digits, spec + e + 1, dn), digits[dn] = 0,
                                                     strtol(digits, &end, 10))
                                                  : -1;
            if (dn == 0 || dn >= sizeof digits || *end || k < 0 || k > 1000)
                return pst_fail(err, "scorer '%.*s': K must be a whole number from 0 to 1000 "
                                     "(entities-from-context:K)", (int)len, spec);
            im.min_entities = (int)k;
        }
    } else
        return 0;
    context_impl *p = pst_malloc(sizeof *p, err);
    if (p) *p = im;
    if (pst_scorer_make(spec, len, &context_ops, p, PST_SCORER_POINTWISE, out, err) < 0) return -1;
    (*out)->needs_context = 1;
    return 1;
}
