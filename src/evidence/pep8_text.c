/* Decoding and tokenizing Python source as pycodestyle 2.10 sees it under
 * Python 3.11: tokenize.open (detect_encoding: BOM, PEP 263 cookie in the
 * first two lines) with a latin-1 fallback, universal newlines, then a port
 * of Lib/tokenize.py's _tokenize (the regex PseudoToken matched by hand, with
 * the same first-alternative semantics).
 *
 * Unicode classes (\w, str.isspace, str.isidentifier) are Python 3.11's,
 * from the tables in pep8_unicode.c. Codecs other than utf-8 / latin-1 /
 * ascii named in a coding cookie are decoded as latin-1 (identical for ASCII
 * bytes, an approximation otherwise). */
#include "evidence/pep8_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- Unicode predicates ------------------------------------------------ */

int pep8_islinebreak(pep8_cp c) {
    return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
           c == 0x85 || c == 0x2028 || c == 0x2029;
}

int pep8_isidstart(pep8_cp c) {
    if (c < 128) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    return pep8_isidstart_u(c);
}

int pep8_isidcont(pep8_cp c) {
    if (c < 128) return pep8_isword(c);
    return pep8_isidcont_u(c);
}

/* ---- decoding ------------------------------------------------------------ */

/* Strict UTF-8 (as Python's decoder: no overlongs, surrogates or > U+10FFFF).
 * Returns the number of code points, or -1 if invalid; out may be NULL. */
static long utf8_decode(const unsigned char *b, size_t n, pep8_cp *out) {
    size_t i = 0;
    long k = 0;
    while (i < n) {
        unsigned c = b[i];
        pep8_cp v;
        if (c < 0x80) {
            /* ASCII run */
            size_t j = i;
            if (out) {
                /* 8 ASCII bytes at a time */
                while (j + 8 <= n) {
                    uint64_t v8;
                    memcpy(&v8, b + j, 8);
                    if (v8 & 0x8080808080808080ull) break;
                    for (int q = 0; q < 8; q++) out[k + q] = b[j + q];
                    k += 8, j += 8;
                }
                while (j < n && b[j] < 0x80) out[k++] = b[j++];
            }
            else
                while (j < n && b[j] < 0x80) k++, j++;
            i = j;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            if (i + 1 >= n || (b[i + 1] & 0xc0) != 0x80) return -1;
            v = ((c & 0x1f) << 6) | (b[i + 1] & 0x3f);
            i += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            if (i + 2 >= n || (b[i + 1] & 0xc0) != 0x80 || (b[i + 2] & 0xc0) != 0x80) return -1;
            v = ((c & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
            if (v < 0x800 || (v >= 0xd800 && v <= 0xdfff)) return -1;
            i += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            if (i + 3 >= n || (b[i + 1] & 0xc0) != 0x80 || (b[i + 2] & 0xc0) != 0x80 ||
                (b[i + 3] & 0xc0) != 0x80)
                return -1;
            v = ((c & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f);
            if (v < 0x10000 || v > 0x10ffff) return -1;
            i += 4;
        } else {
            return -1;
        }
        if (out) out[k] = v;
        k++;
    }
    return k;
}

/* tokenize's cookie_re on one line: ^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)
 * Returns 1 and the name (ASCII-lowered copy, truncated) when found. */
static int find_cookie(const unsigned char *l, size_t n, char *name, size_t cap, int *utf8_ok) {
    *utf8_ok = utf8_decode(l, n, NULL) >= 0;
    size_t i = 0;
    while (i < n && (l[i] == ' ' || l[i] == '\t' || l[i] == '\f')) i++;
    if (i >= n || l[i] != '#') return 0;
    for (size_t j = i + 1; j + 6 <= n; j++) {
        if (l[j] == '\n' || l[j] == '\r') break; /* .*? does not cross a newline */
        if (memcmp(l + j, "coding", 6) == 0 && j + 6 < n && (l[j + 6] == ':' || l[j + 6] == '=')) {
            size_t k = j + 7;
            while (k < n && (l[k] == ' ' || l[k] == '\t')) k++;
            size_t m = 0;
            while (k < n && (l[k] == '-' || l[k] == '.' || l[k] == '_' || (l[k] >= '0' && l[k] <= '9') ||
                             (l[k] >= 'a' && l[k] <= 'z') || (l[k] >= 'A' && l[k] <= 'Z') || l[k] >= 0x80)) {
                if (m + 1 < cap) name[m++] = (char)l[k];
                k++;
            }
            name[m] = 0;
            if (m > 0) return 1;
        }
    }
    return 0;
}

/* blank_re: ^[ \t\f]*(?:[#\r\n]|$) */
static int blank_line(const unsigned char *l, size_t n) {
    size_t i = 0;
    while (i < n && (l[i] == ' ' || l[i] == '\t' || l[i] == '\f')) i++;
    return i >= n || l[i] == '#' || l[i] == '\r' || l[i] == '\n';
}

/* 0 = utf-8, 1 = latin-1 style (byte = code point), 2 = ascii, -1 = SyntaxError */
static int cookie_codec(const char *orig, int bom) {
    char enc[16];
    size_t m = 0;
    for (; orig[m] && m < 12; m++) enc[m] = orig[m] == '_' ? '-' : (char)(orig[m] | (orig[m] >= 'A' && orig[m] <= 'Z' ? 0x20 : 0));
    enc[m] = 0;
    int is_utf8 = strcmp(enc, "utf-8") == 0 || strncmp(enc, "utf-8-", 6) == 0;
    if (bom && !is_utf8) return -1;
    if (is_utf8) return 0;
    if (!strcmp(enc, "latin-1") || !strcmp(enc, "iso-8859-1") || !strcmp(enc, "iso-latin-1") ||
        !strncmp(enc, "latin-1-", 8) || !strncmp(enc, "iso-8859-1-", 11) || !strncmp(enc, "iso-latin-1-", 12))
        return 1;
    /* codecs.lookup normalisation of the full name */
    char low[64];
    size_t k = 0;
    for (; orig[k] && k < sizeof low - 1; k++) {
        char c = orig[k];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        low[k] = (c == '-' || c == ' ') ? '_' : c;
    }
    low[k] = 0;
    if (!strcmp(low, "utf8") || !strcmp(low, "utf_8") || !strcmp(low, "u8") || !strcmp(low, "utf"))
        return 0;
    if (!strcmp(low, "ascii") || !strcmp(low, "us_ascii") || !strcmp(low, "646")) return 2;
    static const char *known[] = {"latin1", "latin_1", "iso8859_1", "iso_8859_1", "l1", "cp1252",
                                  "windows_1252", "iso8859_15", "iso_8859_15", "latin9", "cp437",
                                  "cp850", "koi8_r", "koi8_u", "iso8859_2", "iso_8859_2", "latin2",
                                  "cp1251", "cp1250", "mac_roman", "macroman", "euc_jp", "shift_jis",
                                  "sjis", "gbk", "gb2312", "gb18030", "big5", "euc_kr", "cp932",
                                  "cp949", "cp950", "utf_16", "utf_32", "iso2022_jp", "hz", "charmap",
                                  "utf_8_sig", "unicode_escape", "raw_unicode_escape", "idna",
                                  "punycode", "mbcs", "oem", "uu", "rot13", "rot_13", "utf_7", "utf7",
                                  NULL};
    for (int i = 0; known[i]; i++)
        if (!strcmp(low, known[i])) return 1;
    return -1; /* LookupError: unknown encoding -> latin-1 fallback too */
}

static int src_decode(pep8_src *s, const char *bytes, size_t len, int as_str, pst_error *err);

int pep8_src_decode(pep8_src *s, const char *bytes, size_t len, pst_error *err) {
    return src_decode(s, bytes, len, 0, err);
}

int pep8_src_decode_utf8(pep8_src *s, const char *bytes, size_t len, pst_error *err) {
    return src_decode(s, bytes, len, 1, err);
}

/* as_str: the text of a Python str (compile(str)): UTF-8 only, no cookie, a BOM kept. */
static int src_decode(pep8_src *s, const char *bytes, size_t len, int as_str, pst_error *err) {
    memset(s, 0, sizeof *s);
    const unsigned char *b = (const unsigned char *)bytes;
    int bom = !as_str && len >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf;
    const unsigned char *body = b + (bom ? 3 : 0);
    size_t blen = len - (bom ? 3 : 0);
    /* detect_encoding: first and maybe second line (split at b'\n') */
    int codec = 0; /* utf-8 */
    int fallback = 0;
    if (!as_str) {
        const unsigned char *l1 = body;
        const unsigned char *e1 = memchr(body, '\n', blen);
        size_t n1 = e1 ? (size_t)(e1 - body) + 1 : blen;
        char name[64];
        int ok;
        int found = find_cookie(l1, n1, name, sizeof name, &ok);
        if (!ok) fallback = 1;
        else if (found) {
            codec = cookie_codec(name, bom);
            if (codec < 0) fallback = 1;
        } else if (blank_line(l1, n1) && n1 < blen) {
            const unsigned char *l2 = body + n1;
            const unsigned char *e2 = memchr(l2, '\n', blen - n1);
            size_t n2 = e2 ? (size_t)(e2 - l2) + 1 : blen - n1;
            found = find_cookie(l2, n2, name, sizeof name, &ok);
            if (!ok) fallback = 1;
            else if (found) {
                codec = cookie_codec(name, bom);
                if (codec < 0) fallback = 1;
            }
        }
    }
    long ncp = -1;
    if (blen >= (size_t)INT32_MAX - 2 || len >= (size_t)INT32_MAX - 2)
        return pst_fail(err, "pep8: source of %zu bytes is over the 2^31 limit", len);
    s->buf = pst_malloc((len + 1) * sizeof(pep8_cp), err);
    if (!s->buf) return -1;
    if (!fallback) {
        if (codec == 0) {
            ncp = utf8_decode(body, blen, s->buf);
        } else if (codec == 2) {
            ncp = (long)blen;
            for (size_t i = 0; i < blen; i++)
                if (body[i] >= 0x80) { ncp = -1; break; }
        } else {
            ncp = (long)blen;
        }
        if (ncp < 0) {
            if (as_str) {
                free(s->buf);
                s->buf = NULL;
                return 1;
            }
            fallback = 1;
        }
    }
    const unsigned char *src = body;
    size_t slen = blen;
    if (fallback) { /* open(filename, encoding='latin-1'): the BOM bytes stay (stripped below) */
        src = b;
        slen = len;
        ncp = (long)len;
    }
    if (fallback || codec != 0)
        for (size_t i = 0; i < slen; i++) s->buf[i] = src[i];
    /* universal newlines (\r\n and \r become \n) and line starts, one pass */
    size_t w = 0, cap = (size_t)ncp / 32 + 16;
    long k = 0;
    s->loff = malloc(cap * sizeof(size_t));
    if (!s->loff) goto oom;
    s->loff[0] = 0;
    size_t i = 0;
    /* while there is no \r, nothing moves: only record line starts */
    for (; i < (size_t)ncp && s->buf[i] != '\r'; i++) {
        if (s->buf[i] == '\n') {
            if ((size_t)k + 3 > cap) {
                cap *= 2;
                size_t *nl = realloc(s->loff, cap * sizeof(size_t));
                if (!nl) goto oom;
                s->loff = nl;
            }
            s->loff[++k] = i + 1;
        }
    }
    w = i;
    for (; i < (size_t)ncp; i++) {
        pep8_cp c = s->buf[i];
        if (c == '\r') {
            if (i + 1 < (size_t)ncp && s->buf[i + 1] == '\n') i++;
            c = '\n';
        }
        s->buf[w++] = c;
        if (c == '\n') {
            if ((size_t)k + 3 > cap) {
                cap *= 2;
                size_t *nl = realloc(s->loff, cap * sizeof(size_t));
                if (!nl) goto oom;
                s->loff = nl;
            }
            s->loff[++k] = w;
        }
    }
    s->n = w;
    if (w > 0 && s->buf[w - 1] != '\n') s->loff[++k] = w;
    s->nlines = k;
    s->first = 0;
    if (k > 0 && !as_str) {
        pep8_us l0 = pep8_line(s, 0);
        if (l0.n >= 1 && l0.p[0] == 0xfeff) s->first = 1;
        else if (l0.n >= 3 && l0.p[0] == 0xef && l0.p[1] == 0xbb && l0.p[2] == 0xbf) s->first = 3;
    }
    return 0;
oom:
    free(s->buf);
    free(s->loff);
    s->buf = NULL, s->loff = NULL;
    return pst_fail_oom(err, "the lines of the source");
}

void pep8_src_free(pep8_src *s) {
    free(s->buf);
    free(s->loff);
    memset(s, 0, sizeof *s);
}

/* ---- tokenizer ----------------------------------------------------------- */

int pep8_tokenizer_init(pep8_tokenizer *t, const pep8_src *s, pst_error *err) {
    memset(t, 0, sizeof *t);
    t->s = s;
    t->capind = 16;
    t->indents = pst_malloc(t->capind * sizeof(long), err);
    t->qcap = 64;
    t->q = pst_malloc(t->qcap * sizeof(pep8_tok), err);
    if (!t->indents || !t->q) {
        free(t->indents);
        free(t->q);
        return -1;
    }
    t->indents[0] = 0;
    t->nind = 1;
    return 0;
}

void pep8_tokenizer_free(pep8_tokenizer *t) {
    free(t->indents);
    free(t->q);
    memset(t, 0, sizeof *t);
}

static int push(pep8_tokenizer *t, int type, long sr, long sc, long er, long ec, size_t toff, size_t tlen,
                size_t loff, size_t llen) {
    pep8_tok *nq = pst_grow(t->q, &t->qcap, t->qn + 1, sizeof *nq, 64, NULL);
    if (!nq) return -1;
    t->q = nq;
    pep8_tok *k = &t->q[t->qn++];
    k->type = type;
    k->srow = sr, k->scol = sc, k->erow = er, k->ecol = ec;
    k->toff = toff, k->tlen = tlen, k->loff = loff, k->llen = llen;
    long ln = t->lnum < t->s->nlines ? t->lnum : t->s->nlines;
    k->ln = (int32_t)ln;
    return 0;
}

static int is_prefix_char(pep8_cp c) {
    c |= 0x20;
    return c == 'b' || c == 'r' || c == 'u' || c == 'f';
}

/* Valid string prefix (any case): '', b, r, u, f, br, rb, fr, rf */
static int valid_prefix(const pep8_cp *p, size_t k) {
    if (k == 0) return 1;
    for (size_t i = 0; i < k; i++)
        if (!is_prefix_char(p[i]) || p[i] > 127) return 0;
    if (k == 1) return 1;
    if (k != 2) return 0;
    pep8_cp a = p[0] | 0x20, b = p[1] | 0x20;
    return (a == 'b' && b == 'r') || (a == 'r' && b == 'b') || (a == 'f' && b == 'r') || (a == 'r' && b == 'f');
}

/* Length of the string prefix at L[i] that is followed by a quote, or -1. */
static long string_prefix(const pep8_cp *L, size_t max, size_t i) {
    for (size_t k = 0; k <= 2 && i + k < max; k++) {
        pep8_cp c = L[i + k];
        if (c == '\'' || c == '"') return valid_prefix(L + i, k) ? (long)k : -1;
        if (!is_prefix_char(c) || c > 127) return -1;
    }
    return -1;
}

static int isdig(pep8_cp c) { return c >= '0' && c <= '9'; }

/* [0-9](?:_?[0-9])* */
static long digitpart(const pep8_cp *L, size_t max, size_t i) {
    if (i >= max || !isdig(L[i])) return -1;
    i++;
    for (;;) {
        if (i < max && isdig(L[i])) i++;
        else if (i + 1 < max && L[i] == '_' && isdig(L[i + 1])) i += 2;
        else break;
    }
    return (long)i;
}

static long exponent(const pep8_cp *L, size_t max, size_t i) {
    if (i >= max || (L[i] != 'e' && L[i] != 'E')) return -1;
    i++;
    if (i < max && (L[i] == '-' || L[i] == '+')) i++;
    return digitpart(L, max, i);
}

static long pointfloat(const pep8_cp *L, size_t max, size_t i) {
    long e = -1;
    long d = digitpart(L, max, i);
    if (d >= 0 && (size_t)d < max && L[d] == '.') {
        e = d + 1;
        long f = digitpart(L, max, (size_t)e);
        if (f >= 0) e = f;
    } else if (i < max && L[i] == '.') {
        e = digitpart(L, max, i + 1);
    }
    if (e < 0) return -1;
    long x = exponent(L, max, (size_t)e);
    return x >= 0 ? x : e;
}

static long floatnumber(const pep8_cp *L, size_t max, size_t i) {
    long e = pointfloat(L, max, i);
    if (e >= 0) return e;
    long d = digitpart(L, max, i);
    if (d < 0) return -1;
    return exponent(L, max, (size_t)d);
}

static int ishex(pep8_cp c) { return isdig(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

static long radixnum(const pep8_cp *L, size_t max, size_t i, int radix) {
    size_t j = i;
    int any = 0;
    for (;;) {
        size_t k = j;
        if (k < max && L[k] == '_') k++;
        if (k >= max) break;
        pep8_cp c = L[k];
        int ok = radix == 16 ? ishex(c) : radix == 2 ? (c == '0' || c == '1') : (c >= '0' && c <= '7');
        if (!ok) break;
        j = k + 1;
        any = 1;
    }
    return any ? (long)j : -1;
}

/* Number = Imagnumber | Floatnumber | Intnumber, first alternative wins */
static long number(const pep8_cp *L, size_t max, size_t i) {
    long d = digitpart(L, max, i);
    if (d >= 0 && (size_t)d < max && (L[d] == 'j' || L[d] == 'J')) return d + 1;
    long f = floatnumber(L, max, i);
    if (f >= 0 && (size_t)f < max && (L[f] == 'j' || L[f] == 'J')) return f + 1;
    if (f < 0 || (size_t)f >= max || (L[f] != 'j' && L[f] != 'J')) {
        /* Floatnumber[jJ] may also succeed through Expfloat when Pointfloat matched without j */
        long pf = pointfloat(L, max, i);
        if (pf >= 0 && d >= 0) {
            long ef = exponent(L, max, (size_t)d);
            if (ef >= 0 && (size_t)ef < max && (L[ef] == 'j' || L[ef] == 'J')) return ef + 1;
        }
    }
    if (f >= 0) return f;
    if (i + 1 < max && L[i] == '0') {
        pep8_cp x = L[i + 1] | 0x20;
        long r = -1;
        if (x == 'x') r = radixnum(L, max, i + 2, 16);
        else if (x == 'b') r = radixnum(L, max, i + 2, 2);
        else if (x == 'o') r = radixnum(L, max, i + 2, 8);
        if (r >= 0) return r;
    }
    if (i < max && L[i] == '0') {
        size_t j = i + 1;
        for (;;) {
            if (j < max && L[j] == '0') j++;
            else if (j + 1 < max && L[j] == '_' && L[j + 1] == '0') j += 2;
            else break;
        }
        return (long)j;
    }
    if (i < max && L[i] >= '1' && L[i] <= '9') return digitpart(L, max, i);
    return -1;
}

/* Special operators: longest match (equivalent to the reverse-sorted alternation). */
static int special(const pep8_cp *L, size_t max, size_t i) {
    if (i >= max) return 0;
    pep8_cp a = L[i], b = i + 1 < max ? L[i + 1] : 0, c = i + 2 < max ? L[i + 2] : 0;
    switch (a) {
    case '(': case ')': case '[': case ']': case '{': case '}': case ',': case ';': case '~': return 1;
    case '*': case '/': case '<': case '>': /* x, xx, x=, xx= */
        if (b == a) return c == '=' ? 3 : 2;
        return b == '=' ? 2 : 1;
    case '.': return b == '.' && c == '.' ? 3 : 1;
    case '-': return b == '=' || b == '>' ? 2 : 1;
    case ':': return b == '=' ? 2 : 1;
    case '!': return b == '=' ? 2 : 0;
    case '%': case '&': case '+': case '=': case '@': case '^': case '|': return b == '=' ? 2 : 1;
    default: return 0;
    }
}

/* Tail of a ' or " string on a continuation line (Single / Double), or of a
 * triple-quoted string (Single3 / Double3), matched from i. Returns end or -1. */
static long endmatch(const pep8_cp *L, size_t max, size_t i, pep8_cp q, int triple) {
    for (;;) {
        if (i >= max) return -1;
        pep8_cp c = L[i];
        if (c == q) {
            if (!triple) return (long)i + 1;
            if (i + 2 < max && L[i + 1] == q && L[i + 2] == q) return (long)i + 3;
            i++;
        } else if (c == '\\') {
            if (i + 1 < max && L[i + 1] != '\n') i += 2;
            else return -1;
        } else {
            i++;
        }
    }
}

static int finish(pep8_tokenizer *t) {
    const pep8_src *s = t->s;
    t->finished = 1;
    if (t->last_valid && t->last_len > 0) {
        const pep8_cp *l = s->buf + t->last_off;
        size_t n = t->last_len;
        if (l[n - 1] != '\r' && l[n - 1] != '\n') {
            size_t a = 0, b = n;
            while (a < b && pep8_isspace(l[a])) a++;
            while (b > a && pep8_isspace(l[b - 1])) b--;
            if (!(b > a && l[a] == '#'))
                if (push(t, PT_NEWLINE, t->lnum - 1, (long)n, t->lnum - 1, (long)n + 1, 0, 0, 0, 0)) return -1;
        }
    }
    for (size_t i = 1; i < t->nind; i++)
        if (push(t, PT_DEDENT, t->lnum, 0, t->lnum, 0, 0, 0, 0, 0)) return -1;
    if (push(t, PT_ENDMARKER, t->lnum, 0, t->lnum, 0, 0, 0, 0, 0)) return -1;
    return 0;
}

static void raise_error(pep8_tokenizer *t, const char *msg, long row, long col) {
    t->finished = 1;
    t->error = 1;
    strncpy(t->errmsg, msg, sizeof t->errmsg - 1);
    t->err_row = row;
    t->err_col = col;
}

/* One iteration of _tokenize's loop over lines. */
static int step(pep8_tokenizer *t) {
    const pep8_src *s = t->s;
    t->last_off = t->cur_off, t->last_len = t->cur_len, t->last_valid = t->lnum > 0;
    size_t loff = 0, max = 0;
    if (t->lnum < s->nlines) {
        pep8_us l = pep8_line(s, t->lnum);
        loff = (size_t)(l.p - s->buf);
        max = l.n;
    }
    t->cur_off = loff, t->cur_len = max;
    t->lnum++;
    long lnum = t->lnum;
    const pep8_cp *L = s->buf + loff;
    size_t pos = 0;

    if (t->contstr) {
        if (!max) {
            raise_error(t, "TokenError: EOF in multi-line string", t->strstart_row, t->strstart_col);
            return 0;
        }
        long e = endmatch(L, max, 0, (pep8_cp)t->endq, t->endtriple);
        if (e >= 0) {
            pos = (size_t)e;
            if (push(t, PT_STRING, t->strstart_row, t->strstart_col, lnum, e, t->contstr_off,
                     loff + (size_t)e - t->contstr_off, t->contline_off, loff + max - t->contline_off))
                return -1;
            t->contstr = 0, t->needcont = 0;
        } else if (t->needcont && !(max >= 2 && L[max - 2] == '\\' && L[max - 1] == '\n')) {
            if (push(t, PT_ERRORTOKEN, t->strstart_row, t->strstart_col, lnum, (long)max, t->contstr_off,
                     loff + max - t->contstr_off, t->contline_off, loff - t->contline_off))
                return -1;
            t->contstr = 0;
            return 0;
        } else {
            return 0;
        }
    } else if (t->parenlev == 0 && !t->continued) {
        if (!max) return finish(t);
        long column = 0;
        while (pos < max) {
            if (L[pos] == ' ') column++;
            else if (L[pos] == '\t') column = (column / 8 + 1) * 8;
            else if (L[pos] == '\f') column = 0;
            else break;
            pos++;
        }
        if (pos == max) return finish(t);
        if (L[pos] == '#' || L[pos] == '\r' || L[pos] == '\n') {
            if (L[pos] == '#') {
                size_t e = max;
                while (e > pos && (L[e - 1] == '\r' || L[e - 1] == '\n')) e--;
                if (push(t, PT_COMMENT, lnum, (long)pos, lnum, (long)e, loff + pos, e - pos, loff, max)) return -1;
                pos = e;
            }
            if (push(t, PT_NL, lnum, (long)pos, lnum, (long)max, loff + pos, max - pos, loff, max)) return -1;
            return 0;
        }
        if (column > t->indents[t->nind - 1]) {
            if (t->nind == t->capind) {
                size_t nc = t->capind * 2;
                long *ni = realloc(t->indents, nc * sizeof(long));
                if (!ni) return -1;
                t->indents = ni;
                t->capind = nc;
            }
            t->indents[t->nind++] = column;
            if (push(t, PT_INDENT, lnum, 0, lnum, (long)pos, loff, pos, loff, max)) return -1;
        }
        if (column < t->indents[t->nind - 1]) {
            int found = 0;
            for (size_t i = 0; i < t->nind; i++)
                if (t->indents[i] == column) found = 1;
            if (!found) {
                raise_error(t, "IndentationError: unindent does not match any outer indentation level", lnum,
                            (long)pos);
                return 0;
            }
            while (column < t->indents[t->nind - 1]) {
                t->nind--;
                if (push(t, PT_DEDENT, lnum, (long)pos, lnum, (long)pos, loff + pos, 0, loff, max)) return -1;
            }
        }
    } else {
        if (!max) {
            raise_error(t, "TokenError: EOF in multi-line statement", lnum, 0);
            return 0;
        }
        t->continued = 0;
    }

    t->pos = pos;
    t->in_line = 1;
    return 0;
}

/* The pseudo-token loop over the current line, resumable: stops after a
 * bounded number of tokens so a 50 MB line is not queued whole. */
static int scan(pep8_tokenizer *t) {
    const pep8_src *s = t->s;
    size_t loff = t->cur_off, max = t->cur_len, pos = t->pos;
    long lnum = t->lnum;
    const pep8_cp *L = s->buf + loff;
    t->in_line = 0;
    while (pos < max) {
        if (t->qn >= 4096) {
            t->pos = pos;
            t->in_line = 1;
            return 0;
        }
        size_t ws = pos;
        while (ws < max && (L[ws] == ' ' || L[ws] == '\f' || L[ws] == '\t')) ws++;
        size_t start = ws, end = 0;
        int kind = 0; /* 1 contline, 2 \Z, 3 comment, 4 triple, 5 number, 6 funny, 7 contstr, 8 name */
        long pl;
        if (start + 1 < max && L[start] == '\\' && L[start + 1] == '\n') kind = 1, end = start + 2;
        else if (start + 2 < max && L[start] == '\\' && L[start + 1] == '\r' && L[start + 2] == '\n')
            kind = 1, end = start + 3;
        else if (start == max) kind = 2, end = start;
        else if (L[start] < 128 && (((L[start] | 0x20) >= 'a' && (L[start] | 0x20) <= 'z') || L[start] == '_') &&
                 !is_prefix_char(L[start])) {
            /* fast path: only Name can match a letter that starts no string prefix */
            end = start + 1;
            while (end < max && pep8_isword(L[end])) end++;
            kind = 8;
        } else if (L[start] == '#') {
            end = start;
            while (end < max && L[end] != '\r' && L[end] != '\n') end++;
            kind = 3;
        } else if ((pl = string_prefix(L, max, start)) >= 0 && start + (size_t)pl + 2 < max &&
                   L[start + pl + 1] == L[start + pl] && L[start + pl + 2] == L[start + pl]) {
            kind = 4, end = start + (size_t)pl + 3;
        } else {
            long e = number(L, max, start);
            if (e >= 0) kind = 5, end = (size_t)e;
            else if (L[start] == '\n') kind = 6, end = start + 1;
            else if (start + 1 < max && L[start] == '\r' && L[start + 1] == '\n') kind = 6, end = start + 2;
            else if ((e = special(L, max, start)) > 0) kind = 6, end = start + (size_t)e;
            else if ((pl = string_prefix(L, max, start)) >= 0) {
                pep8_cp q = L[start + pl];
                size_t i = start + (size_t)pl + 1;
                for (;;) {
                    if (i >= max || L[i] == '\n') break;
                    if (L[i] == q) { kind = 7, end = i + 1; break; }
                    if (L[i] == '\\') {
                        if (i + 1 < max && L[i + 1] == '\n') { kind = 7, end = i + 2; break; }
                        if (i + 2 < max && L[i + 1] == '\r' && L[i + 2] == '\n') { kind = 7, end = i + 3; break; }
                        if (i + 1 < max) { i += 2; continue; }
                        break;
                    }
                    i++;
                }
            }
            if (!kind && pep8_isword(L[start])) {
                end = start;
                while (end < max && pep8_isword(L[end])) end++;
                kind = 8;
            }
        }
        if (!kind) {
            if (push(t, PT_ERRORTOKEN, lnum, (long)pos, lnum, (long)pos + 1, loff + pos, 1, loff, max)) return -1;
            pos++;
            continue;
        }
        pos = end;
        if (start == end) continue;
        pep8_cp initial = L[start];
        size_t tlen = end - start;
        if (isdig(initial) || (initial == '.' && !(tlen == 1) && !(tlen == 3 && L[start + 1] == '.' && L[start + 2] == '.'))) {
            if (push(t, PT_NUMBER, lnum, (long)start, lnum, (long)end, loff + start, tlen, loff, max)) return -1;
        } else if (initial == '\r' || initial == '\n') {
            if (push(t, t->parenlev > 0 ? PT_NL : PT_NEWLINE, lnum, (long)start, lnum, (long)end, loff + start, tlen,
                     loff, max))
                return -1;
        } else if (initial == '#') {
            if (push(t, PT_COMMENT, lnum, (long)start, lnum, (long)end, loff + start, tlen, loff, max)) return -1;
        } else if (kind == 4) {
            pep8_cp q = L[end - 1];
            long e = endmatch(L, max, pos, q, 1);
            if (e >= 0) {
                pos = (size_t)e;
                if (push(t, PT_STRING, lnum, (long)start, lnum, e, loff + start, (size_t)e - start, loff, max))
                    return -1;
            } else {
                t->strstart_row = lnum, t->strstart_col = (long)start;
                t->contstr = 1, t->endq = (int)q, t->endtriple = 1; /* needcont is not reset, as in tokenize.py */
                t->contstr_off = loff + start;
                t->contline_off = loff;
                break;
            }
        } else if (kind == 7) {
            if (L[end - 1] == '\n') {
                t->strstart_row = lnum, t->strstart_col = (long)start;
                t->contstr = 1, t->needcont = 1;
                t->endq = (int)L[start + string_prefix(L, max, start)];
                t->endtriple = 0;
                t->contstr_off = loff + start;
                t->contline_off = loff;
                break;
            }
            if (push(t, PT_STRING, lnum, (long)start, lnum, (long)end, loff + start, tlen, loff, max)) return -1;
        } else if (kind == 8 && pep8_isidstart(initial)) {
            if (push(t, PT_NAME, lnum, (long)start, lnum, (long)end, loff + start, tlen, loff, max)) return -1;
        } else if (initial == '\\') {
            t->continued = 1;
        } else {
            if (initial == '(' || initial == '[' || initial == '{') t->parenlev++;
            else if (initial == ')' || initial == ']' || initial == '}') t->parenlev--;
            if (push(t, PT_OP, lnum, (long)start, lnum, (long)end, loff + start, tlen, loff, max)) return -1;
        }
    }
    return 0;
}

int pep8_tokenizer_next(pep8_tokenizer *t, pep8_tok *out, pst_error *err) {
    while (t->qhead == t->qn) {
        if (t->finished) return 0;
        t->qhead = t->qn = 0;
        if ((t->in_line ? scan(t) : step(t)) < 0) return pst_fail_oom(err, "the tokens of the source");
    }
    *out = t->q[t->qhead++];
    return 1;
}
