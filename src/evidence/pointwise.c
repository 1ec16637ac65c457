/* Pointwise constraints b(x) ∈ {0,1} and feature sets φ(x):
 *   contains:W[,W...]  b = 1 if any word/phrase occurs: case-insensitive, on
 *                      Unicode word boundaries, spaces in a phrase match any
 *                      run of whitespace;
 *   regex:PATTERN      b = 1 if the PCRE2 pattern (UTF mode, invalid UTF-8
 *                      tolerated) matches anywhere;
 *   length:MIN:MAX     b = 1 if MIN ≤ characters(x) ≤ MAX (empty bound = none);
 *   features:FILE      φ_i(x) = score of the i-th spec of FILE, Σφ as the score.
 * Findings: each match of contains:/regex: as a "MATCH" span. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/scorer_internal.h"

/* ---- contains: and regex: (one compiled PCRE2 pattern) ------------------ */

typedef struct {
    pcre2_code *code;
    int jit;
} regex_impl;

static void regex_destroy(void *p) {
    regex_impl *r = p;
    if (!r) return;
    pcre2_code_free(r->code);
    free(r);
}

static int regex_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                       const char *const *contexts, int want_findings, pst_score *out,
                       pst_error *err) {
    regex_impl *r = s->impl;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->code, NULL);
    if (!md) return pst_fail_oom(err, "PCRE2 match data");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *t = texts[i];
        size_t len = lens[i], pos = 0;
        out[i].score = 0;
        while (pos <= len) {
            int m = r->jit ? pcre2_jit_match(r->code, (PCRE2_SPTR)t, len, pos, 0, md, NULL)
                           : pcre2_match(r->code, (PCRE2_SPTR)t, len, pos, 0, md, NULL);
            if (m == PCRE2_ERROR_NOMATCH) break;
            if (m < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(m, msg, sizeof msg);
                rc = pst_fail(err, "scorer '%s': text %zu: matching failed at byte %zu: %s",
                              s->spec, i, pos, (char *)msg);
                break;
            }
            out[i].score = 1;
            if (!want_findings) break;
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[1] > ov[0] &&
                (rc = pst_score_add_finding(&out[i], "MATCH", ov[0], ov[1], 1.0, err)) < 0)
                break;
            pos = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
            while (pos < len && ((unsigned char)t[pos] & 0xC0) == 0x80) pos++;
        }
    }
    pcre2_match_data_free(md);
    return rc;
}

static const pst_scorer_ops regex_ops = {regex_score, regex_destroy};

static int make_regex(const char *spec, size_t len, const char *pattern, size_t plen,
                      uint32_t flags, pst_scorer **out, pst_error *err) {
    int ec;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, plen,
                                     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | flags, &ec, &off, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return pst_fail(err, "scorer '%.*s': pattern does not compile at offset %zu: %s",
                        (int)len, spec, (size_t)off, (char *)msg);
    }
    regex_impl *r = pst_calloc(1, sizeof *r, err);
    if (!r) {
        pcre2_code_free(code);
        return -1;
    }
    r->code = code;
    r->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    return pst_scorer_make(spec, len, &regex_ops, r, PST_SCORER_POINTWISE, out, err);
}

int pst_scorer_create_regex(const char *spec, size_t len, const char *pattern, size_t plen,
                            pst_scorer **out, pst_error *err) {
    if (plen == 0) return pst_fail(err, "scorer '%.*s': empty pattern", (int)len, spec);
    return make_regex(spec, len, pattern, plen, 0, out, err);
}

/* contains:W1,W2 -> (?<!\w)(?:W1|W2)(?!\w), each word escaped, spaces -> \s+ */
int pst_scorer_create_contains(const char *spec, size_t len, const char *words, size_t wlen,
                               pst_scorer **out, pst_error *err) {
    char *pat = pst_malloc(wlen * 3 + 32, err);
    if (!pat) return -1;
    size_t o = 0, n_words = 0;
    o += (size_t)sprintf(pat, "(?<!\\w)(?:");
    for (size_t i = 0; i <= wlen;) {
        size_t j = i;
        while (j < wlen && words[j] != ',') j++;
        size_t a = i, b = j;
        while (a < b && isspace((unsigned char)words[a])) a++;
        while (b > a && isspace((unsigned char)words[b - 1])) b--;
        if (a == b) {
            free(pat);
            return pst_fail(err, "scorer '%.*s': empty word at offset %zu of the word list "
                            "(contains:WORD[,WORD...])", (int)len, spec, i);
        }
        if (n_words++) pat[o++] = '|';
        for (size_t k = a; k < b; k++) {
            unsigned char c = (unsigned char)words[k];
            if (isspace(c)) {
                if (!isspace((unsigned char)words[k - 1])) o += (size_t)sprintf(pat + o, "\\s+");
            } else if (c < 0x80 && !isalnum(c)) {
                pat[o++] = '\\';
                pat[o++] = (char)c;
            } else {
                pat[o++] = (char)c;
            }
        }
        i = j + 1;
    }
    o += (size_t)sprintf(pat + o, ")(?!\\w)");
    int rc = make_regex(spec, len, pat, o, PCRE2_CASELESS | PCRE2_UCP, out, err);
    free(pat);
    return rc;
}

/* ---- length:MIN:MAX ------------------------------------------------------ */

typedef struct {
    size_t min, max;
} length_impl;

static int length_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                        const char *const *contexts, int want_findings, pst_score *out,
                        pst_error *err) {
    length_impl *l = s->impl;
    for (size_t i = 0; i < n; i++) {
        size_t c = pst_utf8_chars(texts[i], lens[i]);
        out[i].score = c >= l->min && c <= l->max;
    }
    return 0;
}

static const pst_scorer_ops length_ops = {length_score, free};

static int parse_bound(const char *spec, size_t len, const char *a, const char *b, size_t dflt,
                       size_t *out, pst_error *err) {
    if (a == b) {
        *out = dflt;
        return 0;
    }
    size_t v = 0;
    for (const char *p = a; p < b; p++) {
        if (!isdigit((unsigned char)*p) || v > (SIZE_MAX - 9) / 10)
            return pst_fail(err, "scorer '%.*s': bound '%.*s' is not a non-negative integer "
                            "(length:MIN:MAX, either may be empty)", (int)len, spec,
                            (int)(b - a), a);
        v = v * 10 + (size_t)(*p - '0');
    }
    *out = v;
    return 0;
}

int pst_scorer_create_length(const char *spec, size_t len, const char *args, size_t alen,
                             pst_scorer **out, pst_error *err) {
    const char *end = args + alen;
    const char *colon = memchr(args, ':', alen);
    if (!colon)
        return pst_fail(err, "scorer '%.*s': expected length:MIN:MAX (characters; either bound "
                        "may be empty)", (int)len, spec);
    length_impl l;
    if (parse_bound(spec, len, args, colon, 0, &l.min, err) < 0 ||
        parse_bound(spec, len, colon + 1, end, SIZE_MAX, &l.max, err) < 0)
        return -1;
    if (l.min > l.max)
        return pst_fail(err, "scorer '%.*s': MIN %zu is greater than MAX %zu", (int)len, spec,
                        l.min, l.max);
    length_impl *li = pst_malloc(sizeof *li, err);
    if (li) *li = l;
    return pst_scorer_make(spec, len, &length_ops, li, PST_SCORER_POINTWISE, out, err);
}

/* ---- features:FILE ------------------------------------------------------- */

typedef struct {
    pst_scorer **child; /* [k] */
    size_t k;
} features_impl;

static void features_destroy(void *p) {
    features_impl *f = p;
    if (!f) return;
    pst_scorers_free(f->child, f->k);
    free(f);
}

static int features_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                          const char *const *contexts, int want_findings, pst_score *out,
                          pst_error *err) {
    features_impl *f = s->impl;
    pst_score *tmp = pst_calloc(n, sizeof *tmp, err);
    if (!tmp) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        out[i].features = pst_calloc(f->k, sizeof(double), err);
        out[i].n_features = f->k;
        if (!out[i].features) rc = -1;
    }
    for (size_t j = 0; j < f->k && rc == 0; j++) {
        pst_scorer *ch = f->child[j];
        memset(tmp, 0, n * sizeof *tmp);
        if (ch->ops->score(ch, n, texts, lens, contexts, want_findings, tmp, err) < 0)
            rc = pst_fail_context(err, "scorer '%s': feature '%s'", s->spec, s->names[j]);
        for (size_t i = 0; i < n; i++) {
            if (rc == 0) {
                out[i].features[j] = tmp[i].score;
                out[i].score += tmp[i].score;
                rc = pst_score_append_findings(&out[i], &tmp[i], err);
            }
            pst_score_clear(&tmp[i]);
        }
    }
    free(tmp);
    return rc;
}

static const pst_scorer_ops features_ops = {features_score, features_destroy};

static int valid_name(const char *s, size_t n) {
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.') return 0;
    return 1;
}

/* File format: one feature per line, `NAME = SPEC`; '#' starts a comment line;
 * blank lines are skipped. NAME is [A-Za-z0-9_.-]{1,64}, unique; SPEC is any
 * spec without features: (pointwise specs give φ ∈ {0,1}). */
int pst_scorer_create_features(const char *spec, size_t len, const char *path,
                               const pst_spec_ctx *ctx, pst_scorer **out, pst_error *err) {
    *out = NULL;
    if (!*path)
        return pst_fail(err, "scorer '%.*s': expected features:FILE", (int)len, spec);
    char *src;
    size_t n;
    if (pst_read_file(path, &src, &n, err) < 0)
        return pst_fail_context(err, "scorer '%.*s'", (int)len, spec);
    features_impl *f = pst_calloc(1, sizeof *f, err);
    if (pst_scorer_make(spec, len, &features_ops, f, PST_SCORER_FEATURES, out, err) < 0) {
        free(src);
        return -1;
    }
    pst_scorer *s = *out;
    *out = NULL;
    s->k = 0;
    size_t line_no = 0;
    for (char *p = src, *end = src + n; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        line_no++;
        char *a = p, *b = nl;
        p = nl + 1;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (a == b || *a == '#') continue;
        char *eq = memchr(a, '=', (size_t)(b - a));
        if (!eq) {
            pst_fail(err, "%s:%zu: expected 'NAME = SPEC', got '%.*s'", path, line_no,
                     (int)(b - a), a);
            goto fail;
        }
        char *ne = eq, *ss = eq + 1;
        while (ne > a && isspace((unsigned char)ne[-1])) ne--;
        while (ss < b && isspace((unsigned char)*ss)) ss++;
        if (!valid_name(a, (size_t)(ne - a))) {
            pst_fail(err, "%s:%zu: bad feature name '%.*s' (use 1-64 of A-Z a-z 0-9 _ . -)", path,
                     line_no, (int)(ne - a), a);
            goto fail;
        }
        for (size_t j = 0; j < f->k; j++)
            if (strlen(s->names[j]) == (size_t)(ne - a) && !memcmp(s->names[j], a, (size_t)(ne - a))) {
                pst_fail(err, "%s:%zu: feature '%s' is defined twice", path, line_no, s->names[j]);
                goto fail;
            }
        pst_scorer *child;
        pst_spec_ctx in = *ctx;
        in.in_features = 1;
        if (pst_scorer_create_n(ss, (size_t)(b - ss), &in, &child, err) < 0) {
            pst_fail_context(err, "%s:%zu", path, line_no);
            goto fail;
        }
        if (child->kind == PST_SCORER_FEATURES || child->k != 1) {
            pst_fail(err, "%s:%zu: feature '%.*s': spec '%s' gives %zu numbers, not one", path,
                     line_no, (int)(ne - a), a, child->spec, child->k);
            pst_scorer_free(child);
            goto fail;
        }
        pst_scorer **cv = pst_realloc(f->child, (f->k + 1) * sizeof *cv, err);
        if (cv) f->child = cv;
        char **nv = cv ? pst_realloc(s->names, (f->k + 1) * sizeof *nv, err) : NULL;
        if (nv) s->names = nv;
        char *name = nv ? pst_strndup(a, (size_t)(ne - a), err) : NULL;
        if (!name) {
            pst_scorer_free(child);
            goto fail;
        }
        f->child[f->k] = child;
        s->names[f->k] = name;
        f->k++;
        s->k = f->k;
        s->parts = f->child;
        s->n_parts = f->k;
    }
    free(src);
    if (f->k == 0) {
        pst_scorer_free(s);
        return pst_fail(err, "%s: no features (expected lines 'NAME = SPEC')", path);
    }
    *out = s;
    return 0;
fail:
    free(src);
    s->k = f->k;
    pst_scorer_free(s);
    return -1;
}
