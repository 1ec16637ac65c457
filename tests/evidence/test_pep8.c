/* pst_pep8_check API: pycodestyle's option semantics (defaults, DEFAULT_IGNORE,
 * select overriding ignore by prefix), report order, E901 for tokenize errors,
 * bad options, and thread safety (the fixtures checked concurrently give the
 * serial results). Expected findings follow pycodestyle 2.10's rules; the
 * byte-for-byte comparison with pycodestyle itself is in test_pep8_*.py. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "posterior/pep8.h"

static int has(const pst_pep8_finding *f, size_t n, int row, int col, const char *code) {
    for (size_t i = 0; i < n; i++)
        if (f[i].row == row && f[i].col == col && !strcmp(f[i].code, code)) return 1;
    return 0;
}

static size_t run(const char *src, const char *select, const char *ignore, pst_pep8_finding **f) {
    pst_pep8_options o;
    pst_pep8_options_default(&o);
    o.select = select, o.ignore = ignore;
    size_t n = 0;
    pst_error err;
    int rc = pst_pep8_check(src, strlen(src), &o, f, &n, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return n;
}

int main(void) {
    pst_pep8_options o;
    pst_pep8_options_default(&o);
    CHECK(o.max_line_length == 79 && o.max_doc_length == 0 && !o.hang_closing && !o.select && !o.ignore);

    pst_pep8_finding *f;
    size_t n;
    /* E225 at the operator's start; clean code has nothing */
    n = run("x=1\n", NULL, NULL, &f);
    CHECK(n == 1 && has(f, n, 1, 2, "E225"));
    CHECK(n == 1 && !strcmp(f[0].message, "missing whitespace around operator"));
    pst_pep8_findings_free(f, n);
    n = run("x = 1\n", NULL, NULL, &f);
    CHECK(n == 0);
    pst_pep8_findings_free(f, n);

    /* DEFAULT_IGNORE hides E226; selecting it (or E2) shows it */
    n = run("x = 1*2\n", NULL, NULL, &f);
    CHECK(n == 0);
    pst_pep8_findings_free(f, n);
    n = run("x = 1*2\n", "E226", NULL, &f);
    CHECK(n == 1 && has(f, n, 1, 6, "E226"));
    pst_pep8_findings_free(f, n);
    /* an explicit ignore replaces the default list */
    n = run("x = 1*2\nimport os\n", NULL, "E402", &f);
    CHECK(n == 1 && has(f, n, 1, 6, "E226"));
    pst_pep8_findings_free(f, n);
    /* with a select list, pycodestyle drops the ignore list: only selected codes count */
    n = run("x=1*2\n", "E2", "E225", &f);
    CHECK(n == 2 && has(f, n, 1, 2, "E225") && has(f, n, 1, 4, "E226"));
    pst_pep8_findings_free(f, n);
    n = run("if x:\n\ty=1\n", "E2", "W191", &f);
    CHECK(n == 1 && has(f, n, 2, 3, "E225"));
    pst_pep8_findings_free(f, n);
    /* select alone ignores everything else */
    n = run("import os, sys\nx=1\n", "E4", NULL, &f);
    CHECK(n == 1 && has(f, n, 1, 10, "E401"));
    pst_pep8_findings_free(f, n);
    CHECK(pst_pep8_code_reported(&o, "E501") && !pst_pep8_code_reported(&o, "W503") &&
          !pst_pep8_code_reported(&o, "E241"));

    /* report order: by row, then column, then code */
    n = run("import os,sys\ndef f( a):\n  return a\n", NULL, NULL, &f);
    int sorted = 1;
    for (size_t i = 1; i < n; i++)
        if (f[i - 1].row > f[i].row || (f[i - 1].row == f[i].row && f[i - 1].col > f[i].col)) sorted = 0;
    CHECK(sorted && n == 5);
    CHECK(has(f, n, 1, 10, "E401") && has(f, n, 1, 10, "E231") && has(f, n, 2, 1, "E302") &&
          has(f, n, 2, 7, "E201") && has(f, n, 3, 3, "E111"));
    pst_pep8_findings_free(f, n);

    /* tokenize errors become E901 where tokenize raises; no crash */
    n = run("x = '''abc\ny = 2\n", NULL, NULL, &f);
    CHECK(n == 1 && has(f, n, 1, 5, "E901") && strstr(f[0].message, "EOF in multi-line string"));
    pst_pep8_findings_free(f, n);
    n = run("if x:\n        y = 1\n    z = 2\n", NULL, NULL, &f);
    CHECK(has(f, n, 3, 5, "E901") && strstr(f[n - 1].message, "IndentationError"));
    pst_pep8_findings_free(f, n);
    /* E501 with the length in the message; W292 */
    char line[200];
    memset(line, 'a', 100);
    strcpy(line + 100, " = 1");
    n = run(line, NULL, NULL, &f);
    CHECK(n == 2 && has(f, n, 1, 80, "E501") && strstr(f[0].message, "(104 > 79 characters)") &&
          has(f, n, 1, 105, "W292"));
    pst_pep8_findings_free(f, n);
    /* binary junk with NULs: some findings, no failure */
    char junk[4096];
    for (int i = 0; i < 4096; i++) junk[i] = (char)((i * 2654435761u) >> 13);
    pst_error err;
    size_t nj;
    CHECK(pst_pep8_check(junk, sizeof junk, NULL, &f, &nj, &err) == 0);
    pst_pep8_findings_free(f, nj);
    CHECK(pst_pep8_count("x=1\ny=2\n", 8, NULL, &err) == 2);

    /* bad options */
    o.max_line_length = -1;
    CHECK(pst_pep8_check("x\n", 2, &o, &f, &n, &err) == -1 && strstr(err.msg, "max_line_length"));
    pst_pep8_options_default(&o);
    o.select = "E1,E2,E3,E4,E5,E7,E9,W1,W2";
    CHECK(pst_pep8_check("x\n", 2, &o, &f, &n, &err) == -1 && strstr(err.msg, "E1,E2"));

    /* thread safety: concurrent checks of the same sources give the serial results */
    static const char *srcs[] = {"x=1\n", "def f( a ):\n  return a\n", "import os, sys\n",
                                 "if x == None :\n    pass\n", "foo(bar,\n  baz)\n", "l = lambda: 0\n",
                                 "s = '\\d'\n", "x = '''\n"};
    enum { NS = sizeof srcs / sizeof srcs[0], REP = 64 };
    long serial[NS];
    for (int i = 0; i < NS; i++) serial[i] = pst_pep8_count(srcs[i], strlen(srcs[i]), NULL, &err);
    int mismatch = 0;
#pragma omp parallel for schedule(dynamic) num_threads(4) reduction(+ : mismatch)
    for (int k = 0; k < NS * REP; k++) {
        pst_error e;
        long c = pst_pep8_count(srcs[k % NS], strlen(srcs[k % NS]), NULL, &e);
        if (c != serial[k % NS]) mismatch++;
    }
    CHECK(mismatch == 0);
    CHECK(serial[0] == 1 && serial[6] == 1);
    return check_report();
}
