/* posterior pep8 FILE|DIR... — drop-in for `pycodestyle FILE|DIR...`:
 * same output lines (path:row:col: CODE message), directories walked as
 * pycodestyle walks them (os.walk order, files sorted, *.py, default
 * excludes), exit status 1 when anything was reported. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "commands.h"
#include "posterior/pep8.h"

static const char *const default_exclude[] = {".svn", "CVS", ".bzr", ".hg", ".git", "__pycache__", ".tox", NULL};

static int excluded(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (int i = 0; default_exclude[i]; i++)
        if (fnmatch(default_exclude[i], base, 0) == 0) return 1;
    return 0;
}

/* Python repr() of a str, enough for file names */
static void py_repr(const char *s, char *out, size_t cap) {
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    size_t k = 0;
    out[k++] = q;
    for (; *s && k + 6 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\\' || ch == (unsigned char)q) out[k++] = '\\', out[k++] = (char)ch;
        else if (ch == '\n') out[k++] = '\\', out[k++] = 'n';
        else if (ch == '\t') out[k++] = '\\', out[k++] = 't';
        else if (ch < 0x20 || ch == 0x7f) k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
        else out[k++] = (char)ch;
    }
    out[k++] = q;
    out[k] = 0;
}

static int check_file(const char *path, const pst_pep8_options *o, FILE *out, long *total) {
    char *src = NULL;
    size_t len = 0;
    pst_error err;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        const char *name = e == ENOENT ? "FileNotFoundError" : e == EACCES || e == EPERM ? "PermissionError"
                           : e == EISDIR ? "IsADirectoryError" : "OSError";
        char r[4200];
        py_repr(path, r, sizeof r);
        /* pycodestyle reports E902 through the same select / ignore filter */
        if (pst_pep8_code_reported(o, "E902")) {
            fprintf(out, "%s:1:1: E902 %s: [Errno %d] %s: %s\n", path, name, e, strerror(e), r);
            (*total)++;
        }
        return 0;
    }
    fclose(f);
    if (pst_read_file(path, &src, &len, &err)) {
        fprintf(out, "posterior pep8: %s\n", err.msg);
        return -1;
    }
    pst_pep8_finding *fs = NULL;
    size_t n = 0;
    if (pst_pep8_check(src, len, o, &fs, &n, &err)) {
        free(src);
        fprintf(out, "posterior pep8: %s: %s\n", path, err.msg);
        return -1;
    }
    for (size_t i = 0; i < n; i++) { /* the message may hold a NUL (W605) */
        fprintf(out, "%s:%d:%d: %s ", path, fs[i].row, fs[i].col, fs[i].code);
        fwrite(fs[i].message, 1, fs[i].message_len, out);
        fputc('\n', out);
    }
    *total += (long)n;
    pst_pep8_findings_free(fs, n);
    free(src);
    return 0;
}

/* The files to check, in pycodestyle's order; checked in parallel, printed in order. */
typedef struct {
    char **paths;
    size_t n, cap;
} pathlist;

static int add_path(pathlist *l, const char *p) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        char **np = realloc(l->paths, nc * sizeof *np);
        if (!np) return -1;
        l->paths = np, l->cap = nc;
    }
    if (!(l->paths[l->n] = strdup(p))) return -1;
    l->n++;
    return 0;
}

/* Checks every listed file (OpenMP, dynamic schedule) and prints the outputs in
 * list order, so the output is the same for any thread count. */
static int run_files(pathlist *l, const pst_pep8_options *o, long *total) {
    const size_t batch = 256;
    int rc = 0;
    for (size_t b0 = 0; b0 < l->n && rc == 0; b0 += batch) {
        size_t b1 = b0 + batch < l->n ? b0 + batch : l->n;
        size_t m = b1 - b0;
        char **outs = calloc(m, sizeof *outs);
        size_t *lens = calloc(m, sizeof *lens);
        long *counts = calloc(m, sizeof *counts);
        int *rcs = calloc(m, sizeof *rcs);
        if (!outs || !lens || !counts || !rcs) {
            free(outs), free(lens), free(counts), free(rcs);
            fprintf(stderr, "posterior pep8: out of memory\n");
            return -1;
        }
#pragma omp parallel for schedule(dynamic, 1)
        for (size_t i = 0; i < m; i++) {
            FILE *f = open_memstream(&outs[i], &lens[i]);
            if (!f) {
                rcs[i] = -1;
                continue;
            }
            rcs[i] = check_file(l->paths[b0 + i], o, f, &counts[i]);
            fclose(f);
        }
        for (size_t i = 0; i < m; i++) {
            if (rcs[i] == 0 && outs[i]) fwrite(outs[i], 1, lens[i], stdout);
            else if (rcs[i] != 0) {
                if (outs[i]) fwrite(outs[i], 1, lens[i], stderr);
                else fprintf(stderr, "posterior pep8: %s: cannot buffer output\n", l->paths[b0 + i]);
                rc = -1;
            }
            *total += counts[i];
            free(outs[i]);
        }
        free(outs), free(lens), free(counts), free(rcs);
    }
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int py_suffix(const char *name) {
    size_t n = strlen(name);
    return n >= 3 && strcmp(name + n - 3, ".py") == 0;
}

PST_ARRAY(name_list, char *)

/* os.walk(top) (top-down, readdir order, symlinked dirs listed but not entered) */
static int walk(const char *root, pathlist *out) {
    DIR *d = opendir(root);
    if (!d) return 0; /* os.walk ignores errors */
    name_list fl = {0}, dl = {0};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t pl = strlen(root) + strlen(e->d_name) + 2;
        char *p = malloc(pl);
        if (!p) { rc = -1; break; }
        snprintf(p, pl, "%s/%s", root, e->d_name);
        struct stat st;
        int isdir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        char *name = strdup(e->d_name);
        if (!name) { free(p); rc = -1; break; }
        free(p);
        if (name_list_push(isdir ? &dl : &fl, name, NULL)) {
            free(name);
            rc = -1;
            break;
        }
    }
    closedir(d);
    char **files = fl.v, **dirs = dl.v;
    size_t nf = fl.n, nd = dl.n;
    if (rc == 0) {
        if (nf > 1) qsort(files, nf, sizeof *files, cmp_str);
        for (size_t i = 0; i < nf && rc == 0; i++) {
            if (!py_suffix(files[i]) || excluded(files[i])) continue;
            size_t pl = strlen(root) + strlen(files[i]) + 2;
            char *p = malloc(pl);
            if (!p) { rc = -1; break; }
            snprintf(p, pl, "%s/%s", root, files[i]);
            rc = add_path(out, p);
            free(p);
        }
        for (size_t i = 0; i < nd && rc == 0; i++) {
            if (excluded(dirs[i])) continue;
            size_t pl = strlen(root) + strlen(dirs[i]) + 2;
            char *p = malloc(pl);
            if (!p) { rc = -1; break; }
            snprintf(p, pl, "%s/%s", root, dirs[i]);
            struct stat st;
            if (lstat(p, &st) == 0 && !S_ISLNK(st.st_mode)) rc = walk(p, out);
            free(p);
        }
    }
    for (size_t i = 0; i < nf; i++) free(files[i]);
    for (size_t i = 0; i < nd; i++) free(dirs[i]);
    free(files);
    free(dirs);
    if (rc < 0) fprintf(stderr, "posterior pep8: out of memory walking %s\n", root);
    return rc;
}

static const char pep8_summary[] =
    "posterior pep8 [options] FILE|DIR...: check Python files against PEP 8\n"
    "exactly as pycodestyle 2.10 does (same output lines, exit 1 when anything\n"
    "is found; directories walked like pycodestyle). Files are checked on\n"
    "OMP_NUM_THREADS threads; the output order does not depend on it.";

int cmd_pep8(int argc, char **argv) {
    pst_pep8_options o;
    pst_pep8_options_default(&o);
    const char *select = NULL, *ignore = NULL;
    int max_line = 79, max_doc = 0, hang = 0;
    pst_arg spec[] = {
        ARG("select", ARG_STRING, &select, "select errors and warnings (e.g. E,W6)"),
        ARG("ignore", ARG_STRING, &ignore, "skip errors and warnings (e.g. E4,W) (default: E121,E123,E126,E226,E24,E704,W503,W504)"),
        ARG("max-line-length", ARG_INT, &max_line, "set maximum allowed line length", .range = "0.."),
        ARG("max-doc-length", ARG_INT, &max_doc, "maximum doc line length, W505 (0: unchecked)"),
        ARG("hang-closing", ARG_FLAG, &hang, "hang closing bracket instead of matching indentation of opening bracket's line"),
        {0},
    };
    int npos = 0;
    int r = pst_args_parse("pep8", pep8_summary, spec, argc, argv, &npos);
    if (r != PST_ARGS_RUN) return r;
    if (npos == 0) {
        fprintf(stderr, "posterior pep8: input not specified (give files or directories)\n");
        return 2;
    }
    o.select = select, o.ignore = ignore, o.max_line_length = max_line, o.max_doc_length = max_doc;
    o.hang_closing = hang;
    long total = 0;
    pathlist files = {0};
    int rc = 0;
    for (int i = 0; i < npos && rc == 0; i++) {
        const char *path = argv[i];
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            char *root = strdup(path);
            if (!root) { rc = -1; break; }
            size_t n = strlen(root);
            while (n > 0 && root[n - 1] == '/') root[--n] = 0;
            if (!excluded(root)) rc = walk(n ? root : "", &files);
            free(root);
        } else if (!excluded(path)) {
            rc = add_path(&files, path);
        }
    }
    if (rc == 0) rc = run_files(&files, &o, &total);
    for (size_t i = 0; i < files.n; i++) free(files.paths[i]);
    free(files.paths);
    if (rc) return 2;
    fflush(stdout);
    return total ? 1 : 0;
}
