/* posterior — evidence: a PEP 8 checker, a C port of pycodestyle 2.10.
 *
 * pst_pep8_check runs every check of Debian's pycodestyle 2.10 over one
 * Python source file (bytes, as read from disk) and returns the findings in
 * the order pycodestyle reports them, with the same select / ignore semantics
 * (prefix matching, DEFAULT_IGNORE unless a code is selected), noqa handling
 * and E901 / E902 for files Python's tokenizer rejects.
 *
 * Thread-safe: no global mutable state; every call owns its buffers.
 */
#ifndef POSTERIOR_PEP8_H
#define POSTERIOR_PEP8_H

#include <stddef.h>

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int row, col;   /* as pycodestyle prints them: 1-based row, 1-based col */
    char code[8];   /* "E225" */
    char *message;  /* without the code: "missing whitespace around operator" */
    size_t message_len; /* its bytes: W605 quotes the escaped character, a NUL too (as pycodestyle) */
} pst_pep8_finding;

typedef struct {
    const char *select;   /* comma-separated code prefixes, NULL or "" = none; when given,
                             only codes it prefixes are reported and ignore is dropped
                             (pycodestyle's StyleGuide) */
    const char *ignore;   /* comma-separated code prefixes, NULL or "" = DEFAULT_IGNORE */
    int max_line_length;  /* 79 */
    int max_doc_length;   /* 0 = W505 off (pycodestyle's None) */
    int hang_closing;     /* 0 */
} pst_pep8_options;

/* pycodestyle's defaults: no select, DEFAULT_IGNORE, 79, no doc limit. */
void pst_pep8_options_default(pst_pep8_options *o);

/* Checks one file's source bytes. On success *findings (malloc'd, may be NULL
 * when *n_findings == 0) holds the findings; free with pst_pep8_findings_free.
 * Returns -1 only on allocation failure or bad options (err filled); a file
 * Python cannot tokenize is not an error: it yields E901 / E902 findings. */
int pst_pep8_check(const char *source, size_t len, const pst_pep8_options *o,
                   pst_pep8_finding **findings, size_t *n_findings, pst_error *err);

void pst_pep8_findings_free(pst_pep8_finding *f, size_t n);

/* Number of findings a check would count (the scorer's evidence):
 * convenience wrapper over pst_pep8_check. Returns -1 on failure. */
long pst_pep8_count(const char *source, size_t len, const pst_pep8_options *o, pst_error *err);

/* 1 when a finding with this code would be reported under these options
 * (pycodestyle's StyleGuide.ignore_code); e.g. for an E902 on an unreadable
 * file, which the caller reports itself. */
int pst_pep8_code_reported(const pst_pep8_options *o, const char *code);

#ifdef __cplusplus
}
#endif

#endif
