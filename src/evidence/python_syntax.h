/* Private to src/evidence: the python-compiles check (python_syntax.c). */
#ifndef POSTERIOR_EVIDENCE_PYTHON_SYNTAX_H
#define POSTERIOR_EVIDENCE_PYTHON_SYNTAX_H

#include <stddef.h>

#include "posterior/base.h"

/* Where and why compile() would refuse the text. */
typedef struct {
    int ok;           /* 1: compile(text, "<x>", "exec") accepts it */
    long row, col;    /* first error: line (1-based), column (0-based, in characters) */
    const char *kind; /* "syntax", "indent", "token", "null", "utf-8" */
    char msg[160];
} pysyntax_result;

/* Checks text[0, len) as a Python 3.11 module. Returns 0 (r filled), -1 on OOM. */
int pysyntax_check(const char *text, size_t len, pysyntax_result *r, pst_error *err);

#endif
