/* Internal to the pep8 checker: decoded source text (Unicode code points, as
 * Python sees a file after tokenize.open / universal newlines) and a port of
 * Python 3.11's Lib/tokenize.py. Not a public header. */
#ifndef POSTERIOR_EVIDENCE_PEP8_TEXT_H
#define POSTERIOR_EVIDENCE_PEP8_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "posterior/base.h"

typedef uint32_t pep8_cp;

/* A view of code points. */
typedef struct {
    const pep8_cp *p;
    size_t n;
} pep8_us;

/* The file as pycodestyle's Checker.lines: line i (0-based) is
 * buf[loff[i] .. loff[i+1]) except line 0 which starts at first (BOM strip). */
typedef struct {
    pep8_cp *buf;
    size_t n;
    size_t *loff;   /* nlines + 1 entries */
    long nlines;
    size_t first;   /* start of line 0 (after a stripped BOM) */
} pep8_src;

/* Decodes bytes like pycodestyle.readlines: tokenize.detect_encoding (BOM,
 * coding cookie), utf-8 strictly, falling back to latin-1; universal newlines;
 * BOM stripped from the first line. Returns -1 only on allocation failure. */
int pep8_src_decode(pep8_src *s, const char *bytes, size_t len, pst_error *err);
/* The same for the text of a Python str, as compile(str) reads it: strict
 * UTF-8 whatever a coding cookie says, a BOM kept as U+FEFF. Returns 1 when the
 * bytes are not UTF-8, -1 on allocation failure. */
int pep8_src_decode_utf8(pep8_src *s, const char *bytes, size_t len, pst_error *err);
void pep8_src_free(pep8_src *s);
static inline pep8_us pep8_line(const pep8_src *s, long i) {
    size_t a = i == 0 ? s->first : s->loff[i];
    pep8_us u = {s->buf + a, s->loff[i + 1] - a};
    return u;
}

enum {
    PT_ENDMARKER, PT_NAME, PT_NUMBER, PT_STRING, PT_NEWLINE, PT_INDENT, PT_DEDENT,
    PT_OP, PT_COMMENT, PT_NL, PT_ERRORTOKEN
};

/* One tokenize.TokenInfo. Positions as tokenize gives them (row 1-based, col
 * 0-based, in code points). text and line are ranges of src->buf. */
typedef struct {
    int32_t type;
    int32_t srow, scol, erow, ecol;
    int32_t ln;  /* lines the tokenizer had read when it yielded this token */
    uint32_t tlen, llen;
    size_t toff, loff;
} pep8_tok;

typedef struct {
    const pep8_src *s;
    long lnum, parenlev;
    int continued;
    int contstr, needcont, endq, endtriple;
    long strstart_row, strstart_col;
    size_t contstr_off, contline_off;
    long *indents;
    size_t nind, capind;
    size_t last_off, last_len; int last_valid; /* last_line (b'' at first) */
    size_t cur_off, cur_len;
    pep8_tok *q;
    size_t qn, qcap, qhead;
    int in_line;        /* scanning tokens of the current line from pos */
    size_t pos;
    int finished;       /* no more tokens will come */
    int error;          /* 1 when tokenize raised */
    char errmsg[96];    /* "TokenError: EOF in multi-line string" */
    long err_row, err_col;
} pep8_tokenizer;

int pep8_tokenizer_init(pep8_tokenizer *t, const pep8_src *s, pst_error *err);
void pep8_tokenizer_free(pep8_tokenizer *t);
/* 1 and *out filled, 0 at the end (t->error tells whether it raised), -1 on OOM. */
int pep8_tokenizer_next(pep8_tokenizer *t, pep8_tok *out, pst_error *err);

/* Python str predicates on code points. */
/* non-ASCII parts, exact for Python 3.11 (pep8_unicode.c) */
int pep8_isspace_u(pep8_cp c);
int pep8_isword_u(pep8_cp c);
int pep8_isidstart_u(pep8_cp c);
int pep8_isidcont_u(pep8_cp c);
/* ASCII classes: bit 1 = str.isspace, bit 2 = regex \w */
static const unsigned char pep8_ascii_class[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0,   /* \t \n \v \f \r */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1,   /* \x1c-\x1f */
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* space */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,   /* 0-9 */
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* A-O */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 2,   /* P-Z _ */
    0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,   /* a-o */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0};  /* p-z */
static inline int pep8_isspace(pep8_cp c) {
    if (c < 128) return pep8_ascii_class[c] & 1;
    return pep8_isspace_u(c);
}
static inline int pep8_isword(pep8_cp c) {   /* regex \w */
    if (c < 128) return pep8_ascii_class[c] >> 1;
    return pep8_isword_u(c);
}
int pep8_isidstart(pep8_cp c);     /* first char of str.isidentifier() */
int pep8_isidcont(pep8_cp c);      /* later chars of str.isidentifier() */
int pep8_islinebreak(pep8_cp c);   /* str.splitlines separators */

#endif
