/* A C port of pycodestyle 2.10 (Debian's /usr/lib/python3/dist-packages/
 * pycodestyle.py is the specification): Checker.check_all, the physical- and
 * logical-line checks, the report filter (select / ignore / DEFAULT_IGNORE) and
 * the report order (sorted by row, col, code, text).
 *
 * Python semantics are kept where pycodestyle leans on them, e.g. `text in
 * '([{'` is a substring test (so an empty DEDENT text counts as a bracket in
 * ambiguous_identifier), regexes are matched with their backtracking rules, and
 * a logical line whose tokens are all skipped keeps its tokens for the next. */
#include "posterior/pep8.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/pep8_text.h"

typedef pep8_cp cp;
typedef pep8_us us;

#define DEFAULT_IGNORE "E121,E123,E126,E226,E24,E704,W503,W504"

/* ---- small string helpers (Python str semantics on code points) --------- */

static us mk(const cp *p, size_t n) { us u = {p, n}; return u; }
static us sub(us u, size_t a, size_t b) {
    if (a > u.n) a = u.n;
    if (b > u.n) b = u.n;
    if (b < a) b = a;
    return mk(u.p + a, b - a);
}
static inline int eq(us u, const char *s) {
    size_t i = 0;
    for (; i < u.n; i++)
        if (!s[i] || u.p[i] != (unsigned char)s[i]) return 0;
    return s[i] == 0;
}
static inline int startswith(us u, const char *s) {
    size_t i = 0;
    for (; s[i]; i++)
        if (i >= u.n || u.p[i] != (unsigned char)s[i]) return 0;
    return 1;
}
static int endswith_ch(us u, cp c) { return u.n && u.p[u.n - 1] == c; }
/* Python `u in s` for strings: substring test ('' is in everything) */
static inline int in_str(us u, const char *s) {
    if (u.n == 0) return 1;
    if (u.n == 1) {
        for (; *s; s++)
            if ((unsigned char)*s == u.p[0]) return 1;
        return 0;
    }
    size_t n = strlen(s);
    if (u.n > n) return 0;
    for (size_t i = 0; i + u.n <= n; i++) {
        size_t k = 0;
        while (k < u.n && u.p[k] == (unsigned char)s[i + k]) k++;
        if (k == u.n) return 1;
    }
    return 0;
}
static inline int chr_in(cp c, const char *s) {
    if (!c || c >= 128) return 0;
    for (; *s; s++)
        if ((unsigned char)*s == c) return 1;
    return 0;
}
/* hot character classes (switches compile to bit tests) */
static inline int is_opch(cp c) { /* the operator characters of OPERATOR_REGEX */
    switch (c) {
    case '-': case '+': case '*': case '/': case '|': case '!': case '<': case '=': case '>': case '%':
    case '&': case '^': return 1;
    default: return 0;
    }
}
static inline int is_csc(cp c) { return c == ',' || c == ';' || c == ':'; }
static inline int is_open(cp c) { return c == '[' || c == '(' || c == '{'; }
static inline int is_closepunct(cp c) { /* one of ]}),;: */
    return c == ']' || c == '}' || c == ')' || c == ',' || c == ';' || c == ':';
}

static us strip(us u) {
    size_t a = 0, b = u.n;
    while (a < b && pep8_isspace(u.p[a])) a++;
    while (b > a && pep8_isspace(u.p[b - 1])) b--;
    return mk(u.p + a, b - a);
}
static us rstrip(us u) {
    size_t b = u.n;
    while (b > 0 && pep8_isspace(u.p[b - 1])) b--;
    return mk(u.p, b);
}
static us rstrip_chars(us u, const char *set) {
    size_t b = u.n;
    while (b > 0 && chr_in(u.p[b - 1], set)) b--;
    return mk(u.p, b);
}
static us lstrip(us u) {
    size_t a = 0;
    while (a < u.n && pep8_isspace(u.p[a])) a++;
    return mk(u.p + a, u.n - a);
}
static long find_ch(us u, cp c, size_t from) {
    for (size_t i = from; i < u.n; i++)
        if (u.p[i] == c) return (long)i;
    return -1;
}
static int isspace_str(us u) { /* str.isspace(): non-empty and all whitespace */
    if (!u.n) return 0;
    for (size_t i = 0; i < u.n; i++)
        if (!pep8_isspace(u.p[i])) return 0;
    return 1;
}
static int isidentifier(us u) {
    if (!u.n || !pep8_isidstart(u.p[0])) return 0;
    for (size_t i = 1; i < u.n; i++)
        if (!pep8_isidcont(u.p[i])) return 0;
    return 1;
}
/* number of str.split() chunks (up to 3) and the last chunk */
static int split_chunks(us u, us *first, us *last) {
    int k = 0;
    size_t i = 0;
    while (i < u.n) {
        while (i < u.n && pep8_isspace(u.p[i])) i++;
        if (i >= u.n) break;
        size_t a = i;
        while (i < u.n && !pep8_isspace(u.p[i])) i++;
        if (k == 0 && first) *first = mk(u.p + a, i - a);
        if (last) *last = mk(u.p + a, i - a);
        k++;
    }
    return k;
}

/* expand_indent(line): tabs to the next multiple of 8 */
static long expand_indent(us line) {
    line = rstrip_chars(line, "\n\r");
    int tab = 0;
    for (size_t i = 0; i < line.n; i++)
        if (line.p[i] == '\t') { tab = 1; break; }
    if (!tab) return (long)(line.n - lstrip(line).n);
    long r = 0;
    for (size_t i = 0; i < line.n; i++) {
        if (line.p[i] == '\t') r = r / 8 * 8 + 8;
        else if (line.p[i] == ' ') r++;
        else break;
    }
    return r;
}

static int isword_at(us u, long i) { return i >= 0 && (size_t)i < u.n && pep8_isword(u.p[i]); }
/* regex \b at position i */
static int wordb(us u, long i) { return isword_at(u, i - 1) != isword_at(u, i); }

/* noqa = re.compile(r'# no(?:qa|pep8)\b', re.I).search */
static int noqa_search(us u) {
    if (u.n < 5) return 0;
    const pep8_cp *p = u.p;
    size_t last = u.n - 5;
    for (size_t i = 0; i <= last; i++) {
        if (p[i] != '#') continue;
        if (u.p[i + 1] != ' ' || (u.p[i + 2] | 0x20) != 'n' || (u.p[i + 3] | 0x20) != 'o') continue;
        size_t j = i + 4;
        if (j + 2 <= u.n && (u.p[j] | 0x20) == 'q' && (u.p[j + 1] | 0x20) == 'a' && !isword_at(u, (long)j + 2))
            return 1;
        if (j + 4 <= u.n && (u.p[j] | 0x20) == 'p' && (u.p[j + 1] | 0x20) == 'e' && (u.p[j + 2] | 0x20) == 'p' &&
            u.p[j + 3] == '8' && !isword_at(u, (long)j + 4))
            return 1;
    }
    return 0;
}

/* ---- growable arrays ------------------------------------------------------ */

typedef struct {
    cp *p;
    size_t n, cap;
} cpvec;
static int cp_reserve(cpvec *v, size_t need) {
    cp *np = pst_grow(v->p, &v->cap, need, sizeof(cp), 256, NULL); /* the checker reports */
    if (!np) return -1;
    v->p = np;
    return 0;
}
static int cp_append(cpvec *v, const cp *p, size_t n) {
    if (n == 0) return 0;
    if (cp_reserve(v, v->n + n)) return -1;
    memcpy(v->p + v->n, p, n * sizeof(cp));
    v->n += n;
    return 0;
}
static int cp_set(cpvec *v, us u) {
    v->n = 0;
    return cp_append(v, u.p, u.n);
}

/* ---- checker state (pycodestyle.Checker) --------------------------------- */

typedef struct {
    char prefix[8][16];
    int n;
} codelist;

typedef struct {
    const pep8_src *s;
    const pst_pep8_options *o;
    codelist select, ignore;
    long total_lines;
    long line_number;
    int indent_char; /* -1 = None */
    long ic_scanned;
    int noqa;
    int multiline;
    long indent_level, previous_indent_level;
    cpvec previous_logical, previous_unindented;
    int unindented_is_previous;
    pep8_tok *tokens;
    size_t ntok, captok;
    long blank_lines, blank_before;
    int seen_non_imports, seen_docstring;
    int run_e101;
    int enabled[26]; /* logical checks, in run_logical_checks order */
    /* what the current logical line's tokens contain (checks that cannot fire are skipped) */
    int has_avoid, has_async, has_string, has_comment, multi_row, has_eq, async_tail;
    /* logical line */
    cpvec logical;
    size_t *moff;
    long *mrow, *mcol;
    size_t mn, mcap;
    /* findings */
    pst_pep8_finding *f;
    size_t nf, capf;
    int oom;
} checker;

static us tok_text(const checker *c, const pep8_tok *t) { return mk(c->s->buf + t->toff, t->tlen); }
static us tok_line(const checker *c, const pep8_tok *t) { return mk(c->s->buf + t->loff, t->llen); }
static us LL(const checker *c) { return mk(c->logical.p, c->logical.n); }

static int parse_codes(codelist *cl, const char *s, pst_error *err) {
    cl->n = 0;
    if (!s) return 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\n')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n')) b--;
        if (b > a) {
            if (cl->n == 8 || b - a >= 16)
                return pst_fail(err, "pep8: code list '%s': at most 8 codes of up to 15 characters", s);
            memcpy(cl->prefix[cl->n], a, (size_t)(b - a));
            cl->prefix[cl->n][b - a] = 0;
            cl->n++;
        }
        p = *e ? e + 1 : e;
    }
    return 0;
}

static int starts_any(const char *code, const codelist *cl) {
    for (int i = 0; i < cl->n; i++)
        if (strncmp(code, cl->prefix[i], strlen(cl->prefix[i])) == 0) return 1;
    return 0;
}

/* StyleGuide.ignore_code */
static int ignore_code(const checker *c, const char *code) {
    return starts_any(code, &c->ignore) && !starts_any(code, &c->select);
}

/* Adds a finding whose message is the n bytes at msg (it may hold a NUL). */
static void report_bytes(checker *c, long row, long col, const char *code, const char *msg, size_t n) {
    if (ignore_code(c, code)) return;
    pst_pep8_finding *nf = pst_grow(c->f, &c->capf, c->nf + 1, sizeof *nf, 64, NULL);
    if (!nf) { c->oom = 1; return; }
    c->f = nf;
    char *m = malloc(n + 1);
    if (!m) { c->oom = 1; return; }
    memcpy(m, msg, n);
    m[n] = 0;
    pst_pep8_finding *f = &c->f[c->nf++];
    f->row = (int)row;
    f->col = (int)col + 1;
    snprintf(f->code, sizeof f->code, "%s", code);
    f->message = m;
    f->message_len = n;
}

static void vreport(checker *c, long row, long col, const char *code, const char *fmt, va_list ap) {
    if (ignore_code(c, code)) return;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    report_bytes(c, row, col, code, buf, strlen(buf));
}

static void report(checker *c, long row, long col, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(checker *c, long row, long col, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(c, row, col, code, fmt, ap);
    va_end(ap);
}

/* UTF-8 of one code point into buf (for messages) */
static const char *utf8(cp c, char buf[8]) {
    if (c < 0x80) buf[0] = (char)c, buf[1] = 0;
    else if (c < 0x800) buf[0] = (char)(0xc0 | (c >> 6)), buf[1] = (char)(0x80 | (c & 0x3f)), buf[2] = 0;
    else if (c < 0x10000)
        buf[0] = (char)(0xe0 | (c >> 12)), buf[1] = (char)(0x80 | ((c >> 6) & 0x3f)),
        buf[2] = (char)(0x80 | (c & 0x3f)), buf[3] = 0;
    else
        buf[0] = (char)(0xf0 | (c >> 18)), buf[1] = (char)(0x80 | ((c >> 12) & 0x3f)),
        buf[2] = (char)(0x80 | ((c >> 6) & 0x3f)), buf[3] = (char)(0x80 | (c & 0x3f)), buf[4] = 0;
    return buf;
}

/* ---- physical line checks ------------------------------------------------ */

static void check_physical(checker *c, us line) {
    const pst_pep8_options *o = c->o;
    /* maximum_line_length (E501) */
    {
        us l = rstrip(line);
        long length = (long)l.n;
        if (length > o->max_line_length && !c->noqa) {
            int skip = 0;
            if (c->line_number == 1 && startswith(l, "#!")) skip = 1;
            if (!skip) {
                us first = {0}, last = {0};
                int k = split_chunks(l, &first, &last);
                if (((k == 1 && c->multiline) || (k == 2 && eq(first, "#"))) &&
                    (long)(l.n - last.n) < o->max_line_length - 7)
                    skip = 1;
            }
            if (!skip)
                report(c, c->line_number, o->max_line_length, "E501", "line too long (%ld > %d characters)",
                       length, o->max_line_length);
        }
    }
    size_t ind = 0;
    while (ind < line.n && (line.p[ind] == ' ' || line.p[ind] == '\t')) ind++;
    /* tabs_obsolete (W191) */
    for (size_t i = 0; i < ind; i++)
        if (line.p[i] == '\t') {
            report(c, c->line_number, (long)i, "W191", "indentation contains tabs");
            break;
        }
    /* tabs_or_spaces (E101) */
    if (c->run_e101)
        for (size_t i = 0; i < ind; i++)
            if ((int)line.p[i] != c->indent_char) {
                report(c, c->line_number, (long)i, "E101", "indentation contains mixed spaces and tabs");
                c->indent_char = line.n ? (int)line.p[0] : -1;
                break;
            }
    /* trailing_blank_lines (W391, W292) */
    if (c->line_number == c->total_lines) {
        us stripped = rstrip_chars(line, "\r\n");
        if (line.n && !stripped.n) report(c, c->line_number, 0, "W391", "blank line at end of file");
        else if (stripped.n == line.n) {
            us lastl = pep8_line(c->s, c->s->nlines - 1);
            report(c, c->line_number, (long)lastl.n, "W292", "no newline at end of file");
        }
    }
    /* trailing_whitespace (W291, W293) */
    {
        us l = rstrip_chars(line, "\n");
        l = rstrip_chars(l, "\r");
        l = rstrip_chars(l, "\x0c");
        us st = rstrip_chars(l, " \t\v");
        if (st.n != l.n) {
            if (st.n) report(c, c->line_number, (long)st.n, "W291", "trailing whitespace");
            else report(c, c->line_number, 0, "W293", "blank line contains whitespace");
        }
    }
}

/* ---- logical line construction ------------------------------------------ */

static int map_push(checker *c, size_t off, long row, long col) {
    if (c->mn == c->mcap) {
        size_t nc = c->mcap ? c->mcap * 2 : 64;
        size_t *a = realloc(c->moff, nc * sizeof *a);
        if (!a) return -1;
        c->moff = a;
        long *b = realloc(c->mrow, nc * sizeof *b);
        if (!b) return -1;
        c->mrow = b;
        long *d = realloc(c->mcol, nc * sizeof *d);
        if (!d) return -1;
        c->mcol = d;
        c->mcap = nc;
    }
    c->moff[c->mn] = off, c->mrow[c->mn] = row, c->mcol[c->mn] = col;
    c->mn++;
    return 0;
}

static int is_skip(int type) { return type == PT_NL || type == PT_NEWLINE || type == PT_INDENT || type == PT_DEDENT; }

/* mute_string: replace string contents with 'x' (Python slicing semantics) */
static int append_muted(cpvec *v, us text) {
    cp last = text.p[text.n - 1];
    long start = 0;
    while (text.p[start] != last) start++;
    start++;
    long end = (long)text.n - 1;
    if (text.n >= 3 && ((text.p[text.n - 1] == '"' && text.p[text.n - 2] == '"' && text.p[text.n - 3] == '"') ||
                        (text.p[text.n - 1] == '\'' && text.p[text.n - 2] == '\'' && text.p[text.n - 3] == '\''))) {
        start += 2;
        end -= 2;
    }
    long n = (long)text.n;
    long a = start > n ? n : start;
    if (cp_append(v, text.p, (size_t)a)) return -1;
    if (end > start) {
        if (cp_reserve(v, v->n + (size_t)(end - start))) return -1;
        for (long i = start; i < end; i++) v->p[v->n++] = 'x';
    }
    long b = end < 0 ? 0 : end;
    if (b < n && cp_append(v, text.p + b, (size_t)(n - b))) return -1;
    return 0;
}

/* build_tokens_line; returns number of mapping entries (0 = none) or -1 */
/* Token facts for skipping checks that cannot report on this line. */
static void scan_token_facts(checker *c) {
    int avoid = 0, async = 0, str = 0, comment = 0, eqop = 0, tail = 0;
    long min_row = LONG_MAX, max_row = LONG_MIN;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (t->srow < min_row) min_row = t->srow;
        if (t->erow > max_row) max_row = t->erow;
        switch (t->type) {
        case PT_NAME: {
            us x = tok_text(c, t);
            tail = 0;
            if (x.n == 1) {
                if (x.p[0] == 'l' || x.p[0] == 'O' || x.p[0] == 'I') avoid = 1;
            } else if (x.n == 5) {
                if (eq(x, "async") || eq(x, "await")) async = 1;
            } else if (x.n == 3) {
                tail = eq(x, "def") || eq(x, "for");
            }
            break;
        }
        case PT_STRING: str = 1, tail = 0; break;
        case PT_COMMENT: comment = 1, tail = 0; break;
        case PT_OP:
            if (t->tlen == 1 && c->s->buf[t->toff] == '=') eqop = 1;
            tail = 0;
            break;
        case PT_NL: break;
        default: tail = 0;
        }
    }
    c->has_avoid = avoid, c->has_async = async, c->has_string = str, c->has_comment = comment;
    c->has_eq = eqop, c->multi_row = min_row != max_row, c->async_tail = tail;
}

static long build_tokens_line(checker *c) {
    c->logical.n = 0;
    c->mn = 0;
    int have_comments = 0, noqa = 0;
    long prev_row = 0, prev_col = 0;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (is_skip(t->type)) continue;
        if (!c->mn && map_push(c, 0, t->srow, t->scol)) return -1;
        us text = tok_text(c, t);
        if (t->type == PT_COMMENT) {
            have_comments = 1;
            if (!noqa && noqa_search(text)) noqa = 1;
            continue;
        }
        if (prev_row) {
            if (prev_row != t->srow) {
                us pl = pep8_line(c->s, prev_row - 1);
                long idx = prev_col - 1;
                if (idx < 0) idx += (long)pl.n;
                cp pt = (idx >= 0 && (size_t)idx < pl.n) ? pl.p[idx] : 0;
                /* `text not in '}])'`: a (muted) string is never in it */
                int is_str = t->type == PT_STRING;
                if (pt == ',' || (!chr_in(pt, "{[(") && (is_str || !in_str(text, "}])")))) {
                    cp sp = ' ';
                    if (cp_append(&c->logical, &sp, 1)) return -1;
                }
            } else if (prev_col != t->scol) {
                us line = tok_line(c, t);
                us gap = sub(line, (size_t)(prev_col < 0 ? 0 : prev_col), (size_t)(t->scol < 0 ? 0 : t->scol));
                if (cp_append(&c->logical, gap.p, gap.n)) return -1;
            }
        }
        if (t->type == PT_STRING) {
            if (append_muted(&c->logical, text)) return -1;
        } else if (cp_append(&c->logical, text.p, text.n))
            return -1;
        if (map_push(c, c->logical.n, t->erow, t->ecol)) return -1;
        prev_row = t->erow, prev_col = t->ecol;
    }
    c->noqa = have_comments && noqa;
    return (long)c->mn;
}

/* offset in the logical line -> (row, col) via the mapping (bisect_left) */
static void map_offset(const checker *c, long offset, long *row, long *col) {
    size_t lo = 0, hi = c->mn;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((long)c->moff[mid] < offset) lo = mid + 1;
        else hi = mid;
    }
    if (lo >= c->mn) lo = c->mn - 1;
    *row = c->mrow[lo];
    *col = c->mcol[lo] + offset - (long)c->moff[lo];
}

static void report_off(checker *c, long offset, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report_off(checker *c, long offset, const char *code, const char *fmt, ...) {
    if (ignore_code(c, code)) return;
    long row, col;
    map_offset(c, offset, &row, &col);
    va_list ap;
    va_start(ap, fmt);
    vreport(c, row, col, code, fmt, ap);
    va_end(ap);
}

/* ---- keyword sets ------------------------------------------------------------ */

/* keyword.iskeyword (Python 3.11's kwlist), by length */
static int iskeyword(us u) {
    static const char *const k2[] = {"as", "if", "in", "is", "or", NULL};
    static const char *const k3[] = {"and", "def", "del", "for", "not", "try", NULL};
    static const char *const k4[] = {"None", "True", "elif", "else", "from", "pass", "with", NULL};
    static const char *const k5[] = {"False", "async", "await", "break", "class", "raise", "while", "yield", NULL};
    static const char *const k6[] = {"assert", "except", "global", "import", "lambda", "return", NULL};
    static const char *const k7[] = {"finally", NULL};
    static const char *const k8[] = {"continue", "nonlocal", NULL};
    static const char *const *const by_len[9] = {NULL, NULL, k2, k3, k4, k5, k6, k7, k8};
    if (u.n < 2 || u.n > 8 || u.p[0] >= 128) return 0;
    for (const char *const *k = by_len[u.n]; *k; k++)
        if ((unsigned char)(*k)[0] == u.p[0] && eq(u, *k)) return 1;
    return 0;
}
static int issoftkeyword(us u) { return eq(u, "_") || eq(u, "case") || eq(u, "match"); }
static int is_singleton(us u) { return eq(u, "False") || eq(u, "None") || eq(u, "True"); }
/* pycodestyle KEYWORDS = kwlist + print, async - singletons */
static int is_pcs_keyword(us u) {
    if (u.n < 2 || u.n > 8 || u.p[0] < 'a' || u.p[0] > 'y') return 0; /* no singletons: they are capitalised */
    return iskeyword(u) || eq(u, "print");
}

/* ---- logical line checks --------------------------------------------------- */

/* extraneous_whitespace and missing_whitespace are folded into run_logical_checks' pass. */

static void whitespace_around_keywords(checker *c) {
    us L = LL(c);
    size_t n = L.n, q = 0;
    while (q < n) {
        size_t r = q;
        while (r < n && pep8_isspace(L.p[r])) r++;
        int ok = 0;
        size_t e = r;
        if (r < n && wordb(L, (long)r)) {
            while (e < n && pep8_isword(L.p[e])) e++;
            if (e > r && is_pcs_keyword(mk(L.p + r, e - r))) ok = 1;
        }
        if (!ok) {
            q = r > q ? r : q + 1;
            continue;
        }
        size_t t = e;
        while (t < n && pep8_isspace(L.p[t])) t++;
        int tab = 0;
        for (size_t i = q; i < r; i++) tab |= L.p[i] == '\t';
        if (tab) report_off(c, (long)q, "E274", "tab before keyword");
        else if (r - q > 1) report_off(c, (long)q, "E272", "multiple spaces before keyword");
        tab = 0;
        for (size_t i = e; i < t; i++) tab |= L.p[i] == '\t';
        if (tab) report_off(c, (long)e, "E273", "tab after keyword");
        else if (t - e > 1) report_off(c, (long)e, "E271", "multiple spaces after keyword");
        q = t;
    }
}

static void missing_whitespace_after_keyword(checker *c) {
    for (size_t i = 0; i + 1 < c->ntok; i++) {
        const pep8_tok *t0 = &c->tokens[i], *t1 = &c->tokens[i + 1];
        us s0 = tok_text(c, t0), s1 = tok_text(c, t1);
        if (t0->erow == t1->srow && t0->ecol == t1->scol && iskeyword(s0) && !is_singleton(s0) &&
            !eq(s0, "async") && !eq(s0, "await") && !(eq(s0, "except") && eq(s1, "*")) &&
            !(eq(s0, "yield") && eq(s1, ")")) && !in_str(s1, ":\n"))
            report(c, t0->erow, t0->ecol, "E275", "missing whitespace after keyword");
    }
}

static void indentation(checker *c) {
    int logical = c->logical.n > 0;
    int k = logical ? 0 : 3;
    const char *suffix = logical ? "" : " (comment)";
    char code[8];
    if (c->indent_level % 4) {
        snprintf(code, sizeof code, "E11%d", 1 + k);
        report_off(c, 0, code, "indentation is not a multiple of 4%s", suffix);
    }
    us prev = mk(c->previous_logical.p, c->previous_logical.n);
    int indent_expect = endswith_ch(prev, ':');
    if (indent_expect && c->indent_level <= c->previous_indent_level) {
        snprintf(code, sizeof code, "E11%d", 2 + k);
        report_off(c, 0, code, "expected an indented block%s", suffix);
    } else if (!indent_expect && c->indent_level > c->previous_indent_level) {
        snprintf(code, sizeof code, "E11%d", 3 + k);
        report_off(c, 0, code, "unexpected indentation%s", suffix);
    }
    if (indent_expect) {
        long amount = c->indent_char == '\t' ? 8 : 4;
        if (c->indent_level > c->previous_indent_level + amount)
            report_off(c, 0, "E117", "over-indented%s", suffix);
    }
}

/* indent_chances: column -> True / str / text */
typedef struct {
    long col;
    int kind; /* 1 True, 2 str, 3 text */
    us text;
} chance;
typedef struct {
    chance *p;
    size_t n, cap;
} chances;
static chance *ch_get(chances *m, long col) {
    for (size_t i = 0; i < m->n; i++)
        if (m->p[i].col == col) return &m->p[i];
    return NULL;
}
static int ch_set(chances *m, long col, int kind, us text) {
    chance *e = ch_get(m, col);
    if (e) {
        e->kind = kind, e->text = text;
        return 0;
    }
    chance *np = pst_grow(m->p, &m->cap, m->n + 1, sizeof *np, 16, NULL);
    if (!np) return -1;
    m->p = np;
    m->p[m->n].col = col, m->p[m->n].kind = kind, m->p[m->n].text = text;
    m->n++;
    return 0;
}

#define HANG_NONE LONG_MIN

/* The rows that opened a bracket (or ended with ':') at one bracket depth. */
PST_ARRAY(row_list, long)

/* pycodestyle's continued_indentation over one logical line, its state: per bracket
 * depth the rows that opened it (open_rows), its visual indent column (indent) and its
 * hanging indent (hangs); per row (from the line's first), the brackets it opened
 * (parens) and its indent relative to the logical line (rel_indent); the columns a
 * token may line up with (ic, pycodestyle's indent_chances). */
typedef struct {
    checker *c;
    long first_row, nrows, row, depth;
    long *parens, *rel_indent; /* [nrows + 1] */
    row_list *open_rows;       /* [nlevels] */
    size_t nlevels, cap_levels;
    long *indent, *hangs;      /* [nstack] */
    size_t nstack, cap_indent, cap_hangs;
    chances ic;
    long last_indent_col;
    int vi_kind; /* visual_indent: 0 falsy, 1 True, 2 str, 3 text */
    us vi_text;
    long hang;
    int hanging_indent, tabs;
} indent_state;

static int indent_state_open(indent_state *s, checker *c, long first_row, long nrows) {
    memset(s, 0, sizeof *s);
    s->c = c, s->first_row = first_row, s->nrows = nrows;
    s->tabs = c->indent_char == '\t';
    s->last_indent_col = c->tokens[0].scol;
    s->parens = pst_calloc((size_t)nrows + 1, sizeof(long), NULL);
    s->rel_indent = pst_calloc((size_t)nrows + 1, sizeof(long), NULL);
    s->open_rows = pst_grow(NULL, &s->cap_levels, 1, sizeof *s->open_rows, 8, NULL);
    s->indent = pst_grow(NULL, &s->cap_indent, 1, sizeof(long), 8, NULL);
    s->hangs = pst_grow(NULL, &s->cap_hangs, 1, sizeof(long), 8, NULL);
    if (!s->parens || !s->rel_indent || !s->open_rows || !s->indent || !s->hangs) return -1;
    s->open_rows[0] = (row_list){0};
    s->nlevels = 1, s->nstack = 1;
    s->indent[0] = s->last_indent_col;
    s->hangs[0] = HANG_NONE;
    return row_list_push(&s->open_rows[0], 0, NULL);
}

static void indent_state_close(indent_state *s) {
    for (size_t lv = 0; s->open_rows && lv < s->nlevels; lv++) free(s->open_rows[lv].v);
    free(s->open_rows);
    free(s->hangs);
    free(s->indent);
    free(s->parens);
    free(s->rel_indent);
    free(s->ic.p);
}

/* The first token t of a continuation line: its hang against the rows that opened the
 * innermost bracket, then E121–E131 by where it starts (pycodestyle's "if newline"). */
static void check_continuation_start(indent_state *s, const pep8_tok *t, us text, us line, int indent_next) {
    checker *c = s->c;
    long row = s->row, depth = s->depth;
    long *indent = s->indent, *hangs = s->hangs;
    s->last_indent_col = t->scol;
    s->rel_indent[row] = expand_indent(line) - c->indent_level;
    int close_bracket = t->type == PT_OP && in_str(text, "]})");
    const row_list *open = &s->open_rows[depth];
    for (size_t k = open->n; k-- > 0;) {
        s->hang = s->rel_indent[row] - s->rel_indent[open->v[k]];
        s->hanging_indent = s->hang == 4 || (s->tabs && s->hang == 8);
        if (s->hanging_indent) break;
    }
    long hang = s->hang;
    if (hangs[depth] != HANG_NONE && hangs[depth] != 0) s->hanging_indent = hang == hangs[depth];
    if (close_bracket || !(hang > 0)) s->vi_kind = 0;
    else {
        chance *e = ch_get(&s->ic, t->scol);
        if (e) s->vi_kind = e->kind, s->vi_text = e->text;
        else s->vi_kind = 0;
    }
    if (close_bracket && indent[depth]) {
        if (t->scol != indent[depth])
            report(c, t->srow, t->scol, "E124", "closing bracket does not match visual indentation");
    } else if (close_bracket && !hang) {
        if (c->o->hang_closing) report(c, t->srow, t->scol, "E133", "closing bracket is missing indentation");
    } else if (indent[depth] && t->scol < indent[depth]) {
        if (s->vi_kind != 1)
            report(c, t->srow, t->scol, "E128", "continuation line under-indented for visual indent");
    } else if (s->hanging_indent || (indent_next && s->rel_indent[row] == 8)) {
        if (close_bracket && !c->o->hang_closing)
            report(c, t->srow, t->scol, "E123",
                   "closing bracket does not match indentation of opening bracket's line");
        hangs[depth] = hang;
    } else if (s->vi_kind == 1) {
        indent[depth] = t->scol;
    } else if (s->vi_kind == 2 || (s->vi_kind == 3 && s->vi_text.n == text.n &&
                                   memcmp(s->vi_text.p, text.p, text.n * sizeof(cp)) == 0)) {
        /* token lined up with a matching one from a previous line */
    } else {
        const char *code, *msg;
        if (hang <= 0) code = "E122", msg = "missing indentation or outdented";
        else if (indent[depth]) code = "E127", msg = "over-indented for visual indent";
        else if (!close_bracket && hangs[depth] != HANG_NONE && hangs[depth] != 0)
            code = "E131", msg = "unaligned for hanging indent";
        else {
            hangs[depth] = hang;
            if (hang > 4) code = "E126", msg = "over-indented for hanging indent";
            else code = "E121", msg = "under-indented for hanging indent";
        }
        report(c, t->srow, t->scol, code, "continuation line %s", msg);
    }
}

/* Where later lines may line up (visual indenting): the first token after an opening
 * bracket, strings and comments, the text after assert/raise/with/if; a ':' ending the
 * line opens a hanging indent. Returns -1 when out of memory. */
static int note_indent_chances(indent_state *s, const pep8_tok *t, us text, us line) {
    us none = {0};
    long row = s->row, depth = s->depth;
    if (s->parens[row] && t->type != PT_NL && t->type != PT_COMMENT && !s->indent[depth]) {
        s->indent[depth] = t->scol;
        return ch_set(&s->ic, t->scol, 1, none);
    }
    if (t->type == PT_STRING || t->type == PT_COMMENT || eq(text, "u") || eq(text, "ur") || eq(text, "b") ||
        eq(text, "br"))
        return ch_set(&s->ic, t->scol, 2, none);
    if (!row && !depth && (eq(text, "assert") || eq(text, "raise") || eq(text, "with")))
        return ch_set(&s->ic, t->ecol + 1, 1, none);
    if (s->ic.n == 0 && !row && !depth && eq(text, "if")) return ch_set(&s->ic, t->ecol + 1, 1, none);
    if (eq(text, ":") && isspace_str(sub(line, (size_t)t->ecol, line.n)))
        return row_list_push(&s->open_rows[depth], row, NULL);
    return 0;
}

/* An opening bracket: one depth more, with no visual indent or hang yet, opened on
 * this row. */
static int open_bracket(indent_state *s) {
    s->depth++;
    long *a = pst_grow(s->indent, &s->cap_indent, s->nstack + 1, sizeof *a, 8, NULL);
    if (a) s->indent = a;
    long *b = a ? pst_grow(s->hangs, &s->cap_hangs, s->nstack + 1, sizeof *b, 8, NULL) : NULL;
    if (!b) return -1;
    s->hangs = b;
    s->indent[s->nstack] = 0, s->hangs[s->nstack] = HANG_NONE;
    s->nstack++;
    if (s->nlevels == (size_t)s->depth) {
        row_list *lv = pst_grow(s->open_rows, &s->cap_levels, s->nlevels + 1, sizeof *lv, 8, NULL);
        if (!lv) return -1;
        s->open_rows = lv;
        lv[s->nlevels++] = (row_list){0};
    }
    if (row_list_push(&s->open_rows[s->depth], s->row, NULL) < 0) return -1;
    s->parens[s->row]++;
    return 0;
}

/* A closing bracket: the visual indents and chances right of the closed bracket's
 * indent are forgotten, the deeper levels dropped, the row's open bracket closed. */
static int close_bracket(indent_state *s) {
    long prev_indent = s->indent[--s->nstack];
    if (!prev_indent) prev_indent = s->last_indent_col;
    for (long d = 0; d < s->depth; d++)
        if (s->indent[d] > prev_indent) s->indent[d] = 0;
    size_t w = 0;
    for (size_t k = 0; k < s->ic.n; k++)
        if (!(s->ic.p[k].col >= prev_indent)) s->ic.p[w++] = s->ic.p[k];
    s->ic.n = w;
    for (size_t lv = (size_t)s->depth + 1; lv < s->nlevels; lv++) free(s->open_rows[lv].v);
    if (s->nlevels > (size_t)s->depth + 1) s->nlevels = (size_t)s->depth + 1;
    s->depth--;
    if (s->depth && ch_set(&s->ic, s->indent[s->depth], 1, (us){0})) return -1;
    for (long idx = s->row; idx >= 0; idx--)
        if (s->parens[idx]) {
            s->parens[idx]--;
            break;
        }
    return 0;
}

/* Every token of the logical line in order; -1 when out of memory. */
static int scan_continuation_lines(indent_state *s, int indent_next) {
    checker *c = s->c;
    int last_token_multiline = 0;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        us text = tok_text(c, t), line = tok_line(c, t);
        int newline = s->row < t->srow - s->first_row;
        if (newline) {
            s->row = t->srow - s->first_row;
            newline = !last_token_multiline && t->type != PT_NL && t->type != PT_NEWLINE;
        }
        if (newline) check_continuation_start(s, t, text, line, indent_next);
        if (note_indent_chances(s, t, text, line) < 0) return -1;
        if (t->type == PT_OP) {
            if (in_str(text, "([{")) {
                if (open_bracket(s) < 0) return -1;
            } else if (in_str(text, ")]}") && s->depth > 0) {
                if (close_bracket(s) < 0) return -1;
            }
            if (!ch_get(&s->ic, t->scol) && ch_set(&s->ic, t->scol, 3, text)) return -1;
        }
        last_token_multiline = t->srow != t->erow;
        if (last_token_multiline) {
            long r = t->erow - s->first_row;
            if (r >= 0 && r <= s->nrows) s->rel_indent[r] = s->rel_indent[s->row];
        }
    }
    return 0;
}

/* E125 / E129: the last line of a logical line ending with ':' has the indent of the
 * block that follows. */
static void check_last_line(const indent_state *s, const pep8_tok *t) {
    checker *c = s->c;
    if (expand_indent(tok_line(c, t)) != c->indent_level + 4) return;
    int truthy = s->vi_kind == 1 || s->vi_kind == 2 || (s->vi_kind == 3 && s->vi_text.n > 0);
    if (truthy)
        report(c, t->srow, s->indent[0] + 4, "E129", "visually indented line with same indent as next logical line");
    else
        report(c, t->srow, s->indent[0] + 4, "E125", "continuation line with same indent as next logical line");
}

/* E12x: the indentation of continuation lines (pycodestyle's continued_indentation). */
static void continued_indentation(checker *c) {
    pep8_tok *tk = c->tokens;
    size_t n = c->ntok;
    long first_row = tk[0].srow;
    long nrows = 1 + tk[n - 1].srow - first_row;
    if (c->noqa || nrows == 1) return;
    int indent_next = endswith_ch(LL(c), ':');
    indent_state s;
    if (indent_state_open(&s, c, first_row, nrows) < 0 || scan_continuation_lines(&s, indent_next) < 0)
        c->oom = 1;
    else if (indent_next)
        check_last_line(&s, &tk[n - 1]);
    indent_state_close(&s);
}

static void whitespace_before_parameters(checker *c) {
    const pep8_tok *t0 = &c->tokens[0];
    int prev_type = t0->type;
    us prev_text = tok_text(c, t0);
    long per = t0->erow, pec = t0->ecol;
    for (size_t i = 1; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        us text = tok_text(c, t);
        if (t->type == PT_OP && in_str(text, "([") && (t->srow != per || t->scol != pec) &&
            (prev_type == PT_NAME || in_str(prev_text, "}])")) &&
            (i < 2 || !eq(tok_text(c, &c->tokens[i - 2]), "class")) && !iskeyword(prev_text) &&
            !issoftkeyword(prev_text)) {
            char b[8];
            report(c, per, pec, "E211", "whitespace before '%s'", utf8(text.p[0], b));
        }
        prev_type = t->type, prev_text = text, per = t->erow, pec = t->ecol;
    }
}

static void whitespace_around_operator(checker *c) {
    us L = LL(c);
    size_t n = L.n, p = 0;
    while (p < n) {
        int found = 0;
        for (size_t q = p; q < n; q++) {
            if (L.p[q] == ',' || pep8_isspace(L.p[q])) continue;
            size_t s = q + 1;
            while (s < n && pep8_isspace(L.p[s])) s++;
            size_t e = s;
            while (e < n && is_opch(L.p[e])) e++;
            if (e == s) {
                if (s + 1 < n && L.p[s] == ':' && L.p[s + 1] == '=') e = s + 2;
                else continue;
            }
            size_t t = e;
            while (t < n && pep8_isspace(L.p[t])) t++;
            int tab = 0;
            for (size_t i = q + 1; i < s; i++) tab |= L.p[i] == '\t';
            if (tab) report_off(c, (long)q + 1, "E223", "tab before operator");
            else if (s - (q + 1) > 1) report_off(c, (long)q + 1, "E221", "multiple spaces before operator");
            tab = 0;
            for (size_t i = e; i < t; i++) tab |= L.p[i] == '\t';
            if (tab) report_off(c, (long)e, "E224", "tab after operator");
            else if (t - e > 1) report_off(c, (long)e, "E222", "multiple spaces after operator");
            p = t;
            found = 1;
            break;
        }
        if (!found) break;
    }
}

/* WS_NEEDED_OPERATORS, ARITHMETIC_OP, WS_OPTIONAL_OPERATORS, UNARY_OPERATORS */
static int in_ws_needed(us u) {
    if (u.n == 0 || u.n > 3) return 0;
    cp a = u.p[0], b = u.n > 1 ? u.p[1] : 0, d = u.n > 2 ? u.p[2] : 0;
    if (u.n == 1) return a == '<' || a == '>' || a == '=';
    if (u.n == 2) {
        if (b == '=') return a == '*' || a == '/' || a == '+' || a == '-' || a == '!' || a == '%' || a == '^' ||
                             a == '&' || a == '|' || a == '=' || a == '<' || a == '>' || a == ':';
        return (a == '<' && b == '>') || (a == 'i' && (b == 'n' || b == 's')) || (a == 'o' && b == 'r') ||
               (a == '-' && b == '>');
    }
    if (d == '=') return (a == '*' && b == '*') || (a == '/' && b == '/') || (a == '<' && b == '<') || (a == '>' && b == '>');
    return a == 'a' && b == 'n' && d == 'd';
}
static int in_arith(us u) {
    if (u.n == 1) {
        cp a = u.p[0];
        return a == '*' || a == '/' || a == '+' || a == '-' || a == '@';
    }
    return u.n == 2 && ((u.p[0] == '*' && u.p[1] == '*') || (u.p[0] == '/' && u.p[1] == '/'));
}
static int in_ws_optional(us u) {
    if (in_arith(u)) return 1;
    if (u.n == 1) return u.p[0] == '^' || u.p[0] == '&' || u.p[0] == '|' || u.p[0] == '%';
    return u.n == 2 && ((u.p[0] == '<' && u.p[1] == '<') || (u.p[0] == '>' && u.p[1] == '>'));
}
static int in_unary(us u) {
    if (u.n == 1) return u.p[0] == '*' || u.p[0] == '+' || u.p[0] == '-';
    return u.n == 2 && ((u.p[0] == '>' && u.p[1] == '>') || (u.p[0] == '*' && u.p[1] == '*'));
}

static void missing_whitespace_around_operator(checker *c) {
    long parens = 0;
    /* need_space: 0 False, 1 True, 2 tuple (pos, bool) */
    int need = 0, need_flag = 0;
    long need_row = 0, need_col = 0;
    int prev_type = PT_OP;
    us prev_text = {0};
    int have_prev = 0;
    long per = 0, pec = 0;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        int ty = t->type;
        if (ty == PT_NL || ty == PT_NEWLINE || ty == PT_INDENT || ty == PT_DEDENT || ty == PT_COMMENT ||
            ty == PT_ERRORTOKEN)
            continue;
        us text = tok_text(c, t);
        if (text.n == 1) {
            if (text.p[0] == '(') parens++;
            else if (text.p[0] == ')') parens--;
        } else if (text.n == 6 && eq(text, "lambda")) {
            parens++;
        }
        int moved = t->srow != per || t->scol != pec;
        if (need) {
            if (moved) {
                if (need == 2 && !need_flag) report(c, need_row, need_col, "E225", "missing whitespace around operator");
                need = 0;
            } else if (eq(text, ">") && (eq(prev_text, "<") || eq(prev_text, "-"))) {
            } else if ((eq(prev_text, "/") && (eq(text, ",") || eq(text, ")") || eq(text, ":"))) ||
                       (eq(prev_text, ")") && eq(text, ":"))) {
            } else {
                if (need == 1 || need_flag) report(c, per, pec, "E225", "missing whitespace around operator");
                else if (!eq(prev_text, "**")) {
                    const char *code = "E226", *optype = "arithmetic";
                    if (eq(prev_text, "%")) code = "E228", optype = "modulo";
                    else if (!in_arith(prev_text)) code = "E227", optype = "bitwise or shift";
                    report(c, need_row, need_col, code, "missing whitespace around %s operator", optype);
                }
                need = 0;
            }
        } else if ((ty == PT_OP || ty == PT_NAME) && have_prev) {
            int none = 0;
            if (eq(text, "=") && parens) {
            } else if (in_ws_needed(text)) {
                need = 1;
            } else if (in_unary(text)) {
                if ((prev_type == PT_OP && in_str(prev_text, "}])")) ||
                    (prev_type != PT_OP && !is_pcs_keyword(prev_text) && !issoftkeyword(prev_text)))
                    none = 1;
            } else if (in_ws_optional(text)) {
                none = 1;
            }
            if (none) {
                need = 2, need_row = per, need_col = pec, need_flag = moved;
            } else if (need == 1 && !moved) {
                report(c, per, pec, "E225", "missing whitespace around operator");
                need = 0;
            }
        }
        prev_type = ty, prev_text = text, have_prev = 1;
        per = t->erow, pec = t->ecol;
    }
}

static void whitespace_around_comma(checker *c) {
    us L = LL(c);
    size_t n = L.n, q = 0;
    while (q < n) {
        if (!is_csc(L.p[q])) { q++; continue; }
        size_t s = q + 1, k = 0;
        while (s + k < n && pep8_isspace(L.p[s + k])) k++;
        long best = -1;
        size_t mlen = 0;
        for (long lb = (long)k; lb >= 0; lb--) {
            if ((size_t)lb + 2 <= k && L.p[s + lb] == ' ' && L.p[s + lb + 1] == ' ') { best = lb, mlen = 2; break; }
            if ((size_t)lb + 1 <= k && L.p[s + lb] == '\t') { best = lb, mlen = 1; break; }
        }
        if (best < 0) { q++; continue; }
        size_t end = s + (size_t)best + mlen;
        int tab = 0;
        for (size_t i = q; i < end; i++) tab |= L.p[i] == '\t';
        if (tab) report_off(c, (long)q + 1, "E242", "tab after '%c'", (char)L.p[q]);
        else report_off(c, (long)q + 1, "E241", "multiple spaces after '%c'", (char)L.p[q]);
        q = end;
    }
}

/* ^(async\s+def|def)\b */
static int startswith_def(us u) {
    size_t i = 0;
    if (startswith(u, "async")) {
        i = 5;
        size_t j = i;
        while (j < u.n && pep8_isspace(u.p[j])) j++;
        if (j > i && startswith(sub(u, j, u.n), "def") && wordb(u, (long)j + 3)) return 1;
    }
    return startswith(u, "def") && wordb(u, 3);
}
/* ^(async\s+def\s+|def\s+|class\s+|@) */
static int startswith_top_level(us u) {
    if (startswith(u, "@")) return 1;
    size_t i;
    if (startswith(u, "async")) {
        i = 5;
        size_t j = i;
        while (j < u.n && pep8_isspace(u.p[j])) j++;
        if (j > i && startswith(sub(u, j, u.n), "def") && j + 3 < u.n && pep8_isspace(u.p[j + 3])) return 1;
    }
    if (startswith(u, "def") && u.n > 3 && pep8_isspace(u.p[3])) return 1;
    if (startswith(u, "class") && u.n > 5 && pep8_isspace(u.p[5])) return 1;
    return 0;
}
/* ^\s*(def|async\s+def|for|async\s+for|if|elif|else|try|except|finally|with|async\s+with|class|while)\b */
static int startswith_indent_statement(us u) {
    size_t i = 0;
    while (i < u.n && pep8_isspace(u.p[i])) i++;
    us r = sub(u, i, u.n);
    static const char *const words[] = {"def", "for", "if", "elif", "else", "try", "except", "finally",
                                        "with", "class", "while", NULL};
    for (int k = 0; words[k]; k++) {
        size_t wl = strlen(words[k]);
        if (startswith(r, words[k]) && wordb(u, (long)(i + wl))) return 1;
    }
    if (startswith(r, "async")) {
        size_t j = i + 5;
        while (j < u.n && pep8_isspace(u.p[j])) j++;
        if (j > i + 5) {
            us r2 = sub(u, j, u.n);
            if ((startswith(r2, "def") || startswith(r2, "for")) && wordb(u, (long)j + 3)) return 1;
            if (startswith(r2, "with") && wordb(u, (long)j + 4)) return 1;
        }
    }
    return 0;
}

static void whitespace_around_named_parameter_equals(checker *c) {
    long parens = 0;
    int no_space = 0, require_space = 0, annotated = 0, have_prev = 0;
    long per = 0, pec = 0;
    int in_def = startswith_def(LL(c));
    const char *msg = "unexpected spaces around keyword / parameter equals";
    const char *missing = "missing whitespace around parameter equals";
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (t->type == PT_NL) continue;
        int same = have_prev && t->srow == per && t->scol == pec;
        if (no_space) {
            no_space = 0;
            if (!same) report(c, per, pec, "E251", "%s", msg);
        }
        if (require_space) {
            require_space = 0;
            if (same) report(c, per, pec, "E252", "%s", missing);
        }
        if (t->type == PT_OP) {
            us text = tok_text(c, t);
            if (in_str(text, "([")) parens++;
            else if (in_str(text, ")]")) parens--;
            else if (in_def && eq(text, ":") && parens == 1) annotated = 1;
            else if (parens == 1 && eq(text, ",")) annotated = 0;
            else if (parens && eq(text, "=")) {
                if (annotated && parens == 1) {
                    require_space = 1;
                    if (same) report(c, per, pec, "E252", "%s", missing);
                } else {
                    no_space = 1;
                    if (!same) report(c, per, pec, "E251", "%s", msg);
                }
            }
            if (!parens) annotated = 0;
        }
        per = t->erow, pec = t->ecol, have_prev = 1;
    }
}

static void whitespace_before_comment(checker *c) {
    long per = 0, pec = 0;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (t->type == PT_COMMENT) {
            us line = tok_line(c, t);
            us inline_c = strip(sub(line, 0, (size_t)t->scol));
            us text = tok_text(c, t);
            long sp = find_ch(text, ' ', 0);
            us symbol = sp < 0 ? text : sub(text, 0, (size_t)sp);
            us comment = sp < 0 ? mk(text.p, 0) : sub(text, (size_t)sp + 1, text.n);
            if (inline_c.n && per == t->srow && t->scol < pec + 2)
                report(c, per, pec, "E261", "at least two spaces before inline comment");
            cp bad = 0;
            int has_bad = 0; /* bad_prefix is False */
            if (!in_str(symbol, "#:")) {
                size_t k = 0;
                while (k < symbol.n && symbol.p[k] == '#') k++;
                bad = k < symbol.n ? symbol.p[k] : '#';
                has_bad = 1;
            }
            if (inline_c.n) {
                if (has_bad || (comment.n && (comment.p[0] == ' ' || comment.p[0] == '\t' || comment.p[0] == 0xa0)))
                    report(c, t->srow, t->scol, "E262", "inline comment should start with '# '");
            } else if (has_bad && (bad != '!' || t->srow > 1)) {
                if (bad != '#') report(c, t->srow, t->scol, "E265", "block comment should start with '# '");
                else if (comment.n) report(c, t->srow, t->scol, "E266", "too many leading '#' for block comment");
            }
        } else if (t->type != PT_NL) {
            per = t->erow, pec = t->ecol;
        }
    }
}

static void imports_on_separate_lines(checker *c) {
    us L = LL(c);
    if (startswith(L, "import ")) {
        long found = find_ch(L, ',', 0);
        if (found > -1 && find_ch(sub(L, 0, (size_t)found), ';', 0) < 0)
            report_off(c, found, "E401", "multiple imports on one line");
    }
}

/* ^__([^\s]+)__(?::\s*[a-zA-Z.0-9_\[\]\"]+)? = */
static int dunder_match(us u) {
    if (!startswith(u, "__")) return 0;
    size_t m = 2;
    while (m < u.n && !pep8_isspace(u.p[m])) m++;
    for (size_t e = m; e >= 3; e--) {
        if (!(e + 2 <= u.n && u.p[e] == '_' && u.p[e + 1] == '_')) continue;
        size_t a = e + 2;
        if (a < u.n && u.p[a] == ':') {
            size_t j = a + 1;
            while (j < u.n && pep8_isspace(u.p[j])) j++;
            size_t k = j;
            while (k < u.n && (chr_in(u.p[k], "._[]\"") || (u.p[k] < 128 && pep8_isword(u.p[k])))) k++;
            if (k > j && startswith(sub(u, k, u.n), " = ")) return 1;
        }
        if (startswith(sub(u, a, u.n), " = ")) return 1;
    }
    return 0;
}

static void module_imports_on_top_of_file(checker *c) {
    if (c->indent_level) return;
    us L = LL(c);
    if (!L.n) return;
    if (c->noqa) return;
    if (startswith(L, "import ") || startswith(L, "from ")) {
        if (c->seen_non_imports) report_off(c, 0, "E402", "module level import not at top of file");
        return;
    }
    if (dunder_match(L)) return;
    static const char *const kws[] = {"try", "except", "else", "finally", "with", "if", "elif", NULL};
    for (int k = 0; kws[k]; k++)
        if (startswith(L, kws[k])) return;
    us s = L;
    if (s.n && chr_in(s.p[0], "uUbB")) s = sub(s, 1, s.n);
    if (s.n && chr_in(s.p[0], "rR")) s = sub(s, 1, s.n);
    if (s.n && (s.p[0] == '"' || s.p[0] == '\'')) {
        if (c->seen_docstring) c->seen_non_imports = 1;
        else c->seen_docstring = 1;
    } else {
        c->seen_non_imports = 1;
    }
}

/* \blambda\b searched in u[0:end] */
static long lambda_search(us u, size_t end) {
    us v = sub(u, 0, end);
    for (size_t i = 0; i + 6 <= v.n; i++)
        if (startswith(sub(v, i, v.n), "lambda") && wordb(v, (long)i) && wordb(v, (long)i + 6)) return (long)i;
    return -1;
}

static void compound_statements(checker *c) {
    us L = LL(c);
    long last_char = (long)L.n - 1;
    long found = find_ch(L, ':', 0);
    long prev_found = 0;
    long cnt[6] = {0}; /* { } [ ] ( ) */
    while (-1 < found && found < last_char) {
        for (long i = prev_found; i < found; i++) {
            switch (L.p[i]) {
            case '{': cnt[0]++; break;
            case '}': cnt[1]++; break;
            case '[': cnt[2]++; break;
            case ']': cnt[3]++; break;
            case '(': cnt[4]++; break;
            case ')': cnt[5]++; break;
            }
        }
        if (cnt[0] <= cnt[1] && cnt[2] <= cnt[3] && cnt[4] <= cnt[5] && L.p[found + 1] != '=') {
            long lk = lambda_search(L, (size_t)found);
            if (lk >= 0) {
                us before = rstrip(sub(L, 0, (size_t)lk));
                if (endswith_ch(before, '=') && isidentifier(strip(sub(before, 0, before.n - 1))))
                    report_off(c, 0, "E731", "do not assign a lambda expression, use a def");
                break;
            }
            if (startswith_def(L)) report_off(c, 0, "E704", "multiple statements on one line (def)");
            else if (startswith_indent_statement(L))
                report_off(c, found, "E701", "multiple statements on one line (colon)");
        }
        prev_found = found;
        found = find_ch(L, ':', (size_t)found + 1);
    }
    found = find_ch(L, ';', 0);
    while (-1 < found) {
        if (found < last_char) report_off(c, found, "E702", "multiple statements on one line (semicolon)");
        else report_off(c, found, "E703", "statement ends with a semicolon");
        found = find_ch(L, ';', (size_t)found + 1);
    }
}

static void explicit_line_join(checker *c) {
    long prev_start = 0, prev_end = 0, parens = 0;
    int comment = 0, have_bs = 0;
    long bs_row = 0, bs_col = 0;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (t->type == PT_COMMENT) comment = 1;
        if (t->srow != prev_start && parens && have_bs && !comment)
            report(c, bs_row, bs_col, "E502", "the backslash is redundant between brackets");
        if (t->erow != prev_end) {
            us line = tok_line(c, t);
            us r = rstrip_chars(line, "\r\n");
            if (endswith_ch(r, '\\')) {
                /* len(line.splitlines()[-1]) - 1 */
                size_t e = line.n;
                if (e && line.p[e - 1] == '\n') {
                    e--;
                    if (e && line.p[e - 1] == '\r') e--;
                } else if (e && pep8_islinebreak(line.p[e - 1])) e--;
                size_t a = e;
                while (a > 0 && !pep8_islinebreak(line.p[a - 1])) a--;
                have_bs = 1, bs_row = t->erow, bs_col = (long)(e - a) - 1;
            } else {
                have_bs = 0;
            }
            prev_start = prev_end = t->erow;
        } else {
            prev_start = t->srow;
        }
        if (t->type == PT_OP) {
            us text = tok_text(c, t);
            if (in_str(text, "([{")) parens++;
            else if (in_str(text, ")]}")) parens--;
        }
    }
}

static int is_binary_operator(int type, us text, int have) {
    if (!have) return 0;
    if (!(type == PT_OP || eq(text, "and") || eq(text, "or"))) return 0;
    if (text.n == 1 && chr_in(text.p[0], "()[]{},:.;@=%~")) return 0;
    if (eq(text, "...")) return 0;
    return 1;
}

static void break_around_binary_operators(checker *c) {
    int line_break = 0, unary_context = 1;
    int prev_type = 0, have_prev = 0;
    us prev_text = {0};
    long prow = 0, pcol = 0;
    int have_pstart = 0;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (t->type == PT_COMMENT) continue;
        us text = tok_text(c, t);
        int has_nl = find_ch(text, '\n', 0) >= 0 || find_ch(text, '\r', 0) >= 0;
        if (has_nl && t->type != PT_STRING) {
            line_break = 1;
            continue;
        }
        /* W503 */
        if (is_binary_operator(t->type, text, 1) && line_break && !unary_context &&
            !is_binary_operator(prev_type, prev_text, have_prev))
            report(c, t->srow, t->scol, "W503", "line break before binary operator");
        /* W504 */
        if (is_binary_operator(prev_type, prev_text, have_prev) && line_break && !unary_context &&
            !is_binary_operator(t->type, text, 1) && have_pstart)
            report(c, prow, pcol, "W504", "line break after binary operator");
        prow = t->srow, pcol = t->scol, have_pstart = 1;
        unary_context = in_str(text, "([{,;");
        line_break = 0;
        prev_type = t->type, prev_text = text, have_prev = 1;
    }
}

/* COMPARE_SINGLETON_REGEX = (\bNone|\bFalse|\bTrue)?\s*([=!]=)\s*(?(1)|(None|False|True))\b */
static int singleton_at(us u, size_t i) {
    if (startswith(sub(u, i, u.n), "None")) return 4;
    if (startswith(sub(u, i, u.n), "False")) return 5;
    if (startswith(sub(u, i, u.n), "True")) return 4;
    return 0;
}
static void comparison_to_singleton(checker *c) {
    if (c->noqa) return;
    us L = LL(c);
    size_t n = L.n, p = 0;
    while (p < n) {
        int matched = 0;
        for (size_t q = p; q < n && !matched; q++) {
            cp ch = L.p[q];
            if (!(ch == 'N' || ch == 'F' || ch == 'T' || ch == '=' || ch == '!' || pep8_isspace(ch))) continue;
            /* option A: group 1 */
            int sl = wordb(L, (long)q) ? singleton_at(L, q) : 0;
            if (sl) {
                size_t r = q + (size_t)sl;
                while (r < n && pep8_isspace(L.p[r])) r++;
                if (r + 1 < n && (L.p[r] == '=' || L.p[r] == '!') && L.p[r + 1] == '=') {
                    size_t t = r + 2;
                    while (t < n && pep8_isspace(L.p[t])) t++;
                    if (wordb(L, (long)t)) {
                        us single = sub(L, q, q + (size_t)sl);
                        int same = L.p[r] == '=';
                        char sname[8];
                        snprintf(sname, sizeof sname, "%s", sl == 5 ? "False" : L.p[q] == 'N' ? "None" : "True");
                        (void)single;
                        if (!strcmp(sname, "None"))
                            report_off(c, (long)r, "E711", "comparison to None should be 'if cond is %sNone:'",
                                       same ? "" : "not ");
                        else {
                            int nonzero = (!strcmp(sname, "True") && same) || (!strcmp(sname, "False") && !same);
                            report_off(c, (long)r, "E712",
                                       "comparison to %s should be 'if cond is %s%s:' or 'if %scond:'", sname,
                                       same ? "" : "not ", sname, nonzero ? "" : "not ");
                        }
                        p = t;
                        matched = 1;
                        break;
                    }
                }
            }
            /* option B: no group 1 */
            size_t r = q;
            while (r < n && pep8_isspace(L.p[r])) r++;
            if (r + 1 < n && (L.p[r] == '=' || L.p[r] == '!') && L.p[r + 1] == '=') {
                size_t t = r + 2;
                while (t < n && pep8_isspace(L.p[t])) t++;
                int s3 = singleton_at(L, t);
                if (s3 && wordb(L, (long)(t + (size_t)s3))) {
                    const char *sname = s3 == 5 ? "False" : L.p[t] == 'N' ? "None" : "True";
                    int same = L.p[r] == '=';
                    if (!strcmp(sname, "None"))
                        report_off(c, (long)r, "E711", "comparison to None should be 'if cond is %sNone:'",
                                   same ? "" : "not ");
                    else {
                        int nonzero = (!strcmp(sname, "True") && same) || (!strcmp(sname, "False") && !same);
                        report_off(c, (long)r, "E712", "comparison to %s should be 'if cond is %s%s:' or 'if %scond:'",
                                   sname, same ? "" : "not ", sname, nonzero ? "" : "not ");
                    }
                    p = t + (size_t)s3;
                    matched = 1;
                    break;
                }
            }
        }
        if (!matched) break;
    }
}

/* \b(?<!is\s)(not)\s+[^][)(}{ ]+\s+(in|is)\s */
static void comparison_negative(checker *c) {
    us L = LL(c);
    size_t n = L.n;
    for (size_t p = 0; p + 3 <= n; p++) {
        if (!(L.p[p] == 'n' && L.p[p + 1] == 'o' && L.p[p + 2] == 't')) continue;
        if (!wordb(L, (long)p)) continue;
        if (p >= 3 && L.p[p - 3] == 'i' && L.p[p - 2] == 's' && pep8_isspace(L.p[p - 1])) continue;
        size_t i = p + 3, k1 = 0;
        while (i + k1 < n && pep8_isspace(L.p[i + k1])) k1++;
        for (size_t a1 = k1; a1 >= 1; a1--) {
            size_t j = i + a1, m = 0;
            while (j + m < n && !chr_in(L.p[j + m], "][)(}{ ")) m++;
            for (size_t b = m; b >= 1; b--) {
                size_t u = j + b, k2 = 0;
                while (u + k2 < n && pep8_isspace(L.p[u + k2])) k2++;
                if (k2 < 1) continue;
                size_t v = u + k2;
                if (v + 2 < n && L.p[v] == 'i' && (L.p[v + 1] == 'n' || L.p[v + 1] == 's') && pep8_isspace(L.p[v + 2])) {
                    if (L.p[v + 1] == 'n') report_off(c, (long)p, "E713", "test for membership should be 'not in'");
                    else report_off(c, (long)p, "E714", "test for object identity should be 'is not'");
                    return;
                }
            }
        }
    }
}

/* (?:[=!]=|is(?:\s+not)?)\s+type(?:s.\w+Type|\s*\(\s*([^)]*[^ )])\s*\)) */
static int type_tail(us L, size_t i, us *group, int *has_group) {
    size_t n = L.n;
    *has_group = 0;
    if (!startswith(sub(L, i, n), "type")) return 0;
    size_t j = i + 4;
    /* s.\w+Type */
    if (j + 1 < n && L.p[j] == 's' && L.p[j + 1] != '\n') {
        size_t w = j + 2, e = w;
        while (e < n && pep8_isword(L.p[e])) e++;
        for (size_t k = w + 1; k + 4 <= e; k++)
            if (startswith(sub(L, k, n), "Type")) return 1;
    }
    size_t k = j;
    while (k < n && pep8_isspace(L.p[k])) k++;
    if (k >= n || L.p[k] != '(') return 0;
    size_t s0 = k + 1, s = s0;
    while (s < n && pep8_isspace(L.p[s])) s++;
    long close = find_ch(L, ')', s0);
    if (close < 0) return 0;
    /* group ends at the last non-' ' char before ')', starting at s (or earlier by backtracking) */
    for (size_t gs = s + 1; gs-- > s0;) {
        long last = -1;
        for (long x = close - 1; x >= (long)gs; x--)
            if (L.p[x] != ' ') { last = x; break; }
        if (last < 0) continue;
        int ok = 1;
        for (long x = last + 1; x < close; x++)
            if (!pep8_isspace(L.p[x])) ok = 0;
        if (!ok) continue;
        *group = sub(L, gs, (size_t)last + 1);
        *has_group = 1;
        return 1;
    }
    return 0;
}

static void comparison_type(checker *c) {
    us L = LL(c);
    size_t n = L.n;
    for (size_t p = 0; p < n; p++) {
        size_t heads[2];
        int nh = 0;
        if (p + 1 < n && (L.p[p] == '=' || L.p[p] == '!') && L.p[p + 1] == '=') heads[nh++] = p + 2;
        else if (p + 1 < n && L.p[p] == 'i' && L.p[p + 1] == 's') {
            size_t j = p + 2, k = j;
            while (k < n && pep8_isspace(L.p[k])) k++;
            if (k > j && startswith(sub(L, k, n), "not")) heads[nh++] = k + 3;
            heads[nh++] = p + 2;
        }
        for (int h = 0; h < nh; h++) {
            size_t j = heads[h], k = j;
            while (k < n && pep8_isspace(L.p[k])) k++;
            if (k == j) continue;
            us g;
            int hg;
            if (type_tail(L, k, &g, &hg)) {
                if (hg && isidentifier(g) && !is_singleton(g)) return;
                if (!c->noqa) report_off(c, (long)p, "E721", "do not compare types, use 'isinstance()'");
                return;
            }
        }
    }
}

static void bare_except(checker *c) {
    if (c->noqa) return;
    us L = LL(c);
    if (startswith(L, "except")) {
        size_t i = 6;
        while (i < L.n && pep8_isspace(L.p[i])) i++;
        if (i < L.n && L.p[i] == ':') report_off(c, 0, "E722", "do not use bare 'except'");
    }
}

enum { A_OTHER, A_DEF, A_LAMBDA, A_CLASS, A_AS, A_FOR, A_GLOBAL, A_NONLOCAL, A_COLON, A_WALRUS, A_EQ,
       A_AVOID, A_COMMA, A_STAR, A_DSTAR, A_LPAR };
static int aid(us u) {
    switch (u.n) {
    case 1:
        switch (u.p[0]) {
        case ':': return A_COLON;
        case '=': return A_EQ;
        case 'l': case 'O': case 'I': return A_AVOID;
        case ',': return A_COMMA;
        case '*': return A_STAR;
        case '(': return A_LPAR;
        default: return A_OTHER;
        }
    case 2:
        if (eq(u, ":=")) return A_WALRUS;
        if (eq(u, "as")) return A_AS;
        if (eq(u, "**")) return A_DSTAR;
        return A_OTHER;
    case 3:
        if (eq(u, "def")) return A_DEF;
        if (eq(u, "for")) return A_FOR;
        return A_OTHER;
    case 5: return eq(u, "class") ? A_CLASS : A_OTHER;
    case 6:
        if (eq(u, "lambda")) return A_LAMBDA;
        if (eq(u, "global")) return A_GLOBAL;
        return A_OTHER;
    case 8: return eq(u, "nonlocal") ? A_NONLOCAL : A_OTHER;
    default: return A_OTHER;
    }
}

static void ambiguous_identifier(checker *c) {
    int func_depth_set = 0, seen_colon = 0;
    long func_depth = 0, brace_depth = 0;
    const pep8_tok *t0 = &c->tokens[0];
    us prev_text = tok_text(c, t0);
    int pid = aid(prev_text);
    long psr = t0->srow, psc = t0->scol;
    for (size_t i = 1; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        us text = tok_text(c, t);
        int id = aid(text);
        us ident = {0};
        int has_ident = 0;
        long pr = 0, pc = 0;
        if (pid == A_DEF || pid == A_LAMBDA) {
            func_depth = brace_depth, func_depth_set = 1;
            seen_colon = 0;
        } else if (func_depth_set && id == A_COLON && brace_depth == func_depth) {
            seen_colon = 1;
        }
        if (in_str(text, "([{")) brace_depth++;
        else if (in_str(text, ")]}")) brace_depth--;
        if (id == A_WALRUS || (id == A_EQ && brace_depth == 0)) {
            if (pid == A_AVOID) ident = prev_text, has_ident = 1, pr = psr, pc = psc;
        }
        if (pid == A_AS || pid == A_FOR || pid == A_GLOBAL || pid == A_NONLOCAL) {
            if (id == A_AVOID) ident = text, has_ident = 1, pr = t->srow, pc = t->scol;
        }
        if (func_depth_set && !seen_colon && id == A_AVOID && i + 1 < c->ntok &&
            in_str(tok_text(c, &c->tokens[i + 1]), ":,=)") &&
            (pid == A_LAMBDA || pid == A_COMMA || pid == A_STAR || pid == A_DSTAR || pid == A_LPAR))
            ident = text, has_ident = 1, pr = t->srow, pc = t->scol;
        if (pid == A_CLASS && id == A_AVOID)
            report(c, t->srow, t->scol, "E742", "ambiguous class definition '%c'", (char)text.p[0]);
        if (pid == A_DEF && id == A_AVOID)
            report(c, t->srow, t->scol, "E743", "ambiguous function definition '%c'", (char)text.p[0]);
        if (has_ident) report(c, pr, pc, "E741", "ambiguous variable name '%c'", (char)ident.p[0]);
        prev_text = text, pid = id;
        psr = t->srow, psc = t->scol;
    }
}

static void python_3000_invalid_escape_sequence(checker *c) {
    if (c->noqa) return;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (t->type != PT_STRING) continue;
        us text = tok_text(c, t);
        size_t qlen = 1;
        if (text.n >= 3 && ((text.p[text.n - 1] == '"' && text.p[text.n - 2] == '"' && text.p[text.n - 3] == '"') ||
                            (text.p[text.n - 1] == '\'' && text.p[text.n - 2] == '\'' && text.p[text.n - 3] == '\'')))
            qlen = 3;
        us quote = sub(text, text.n - qlen, text.n);
        size_t qpos = 0;
        for (; qpos + qlen <= text.n; qpos++)
            if (memcmp(text.p + qpos, quote.p, qlen * sizeof(cp)) == 0) break;
        int raw = 0;
        for (size_t k = 0; k < qpos; k++) raw |= (text.p[k] | 0x20) == 'r';
        if (raw) continue;
        size_t st = qpos + qlen;
        us string = st + qlen <= text.n ? sub(text, st, text.n - qlen) : mk(text.p, 0);
        long pos = find_ch(string, '\\', 0);
        while (pos >= 0) {
            pos += 1;
            if ((size_t)pos >= string.n) break;
            cp ch = string.p[pos];
            if (!(ch == '\n' || chr_in(ch, "\\'\"abfnrtv01234567xNuU"))) {
                long nlc = 0, lastnl = -1;
                for (long k = 0; k < pos; k++)
                    if (string.p[k] == '\n') nlc++, lastnl = k;
                long line = t->srow + nlc, col;
                if (line == t->srow) col = t->scol + (long)qpos + (long)qlen + pos;
                else col = pos - lastnl - 1;
                char b[8], msg[40];
                size_t n = (size_t)snprintf(msg, sizeof msg, "invalid escape sequence '\\%s'", utf8(ch, b));
                if (ch == 0) { /* pycodestyle quotes the character as is, a NUL too */
                    n = (size_t)snprintf(msg, sizeof msg, "invalid escape sequence '\\");
                    msg[n++] = 0;
                    msg[n++] = '\'';
                }
                report_bytes(c, line, col - 1, "W605", msg, n);
            }
            pos = find_ch(string, '\\', (size_t)pos + 1);
        }
    }
}

static void python_3000_async_await_keywords(checker *c) {
    int state = 0; /* 0 None, 1 async_stmt, 2 await, 3 define */
    long sr = 0, sc = 0;
    const char *msg = "'async' and 'await' are reserved keywords starting with Python 3.7";
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (t->type == PT_NL) continue;
        us text = tok_text(c, t);
        int error = 0;
        if (state == 0) {
            if (t->type == PT_NAME) {
                if (eq(text, "async")) state = 1, sr = t->srow, sc = t->scol;
                else if (eq(text, "await")) state = 2, sr = t->srow, sc = t->scol;
                else if (eq(text, "def") || eq(text, "for")) state = 3, sr = t->srow, sc = t->scol;
            }
        } else if (state == 1) {
            if (t->type == PT_NAME && (eq(text, "def") || eq(text, "with") || eq(text, "for"))) state = 0;
            else error = 1;
        } else if (state == 2) {
            if (t->type == PT_NAME) state = 0;
            else if (t->type == PT_OP && eq(text, "(")) state = 0;
            else error = 1;
        } else {
            if (t->type == PT_NAME && (eq(text, "async") || eq(text, "await"))) error = 1;
            else state = 0;
        }
        if (error) {
            report(c, sr, sc, "W606", "%s", msg);
            state = 0;
        }
    }
    if (state) report(c, sr, sc, "W606", "%s", msg);
}

static void maximum_doc_length(checker *c) {
    int maxd = c->o->max_doc_length;
    if (maxd <= 0 || c->noqa) return;
    /* skip_lines: lines of tokens that are not comments/strings/skip tokens */
    int any_skip = 0;
    for (size_t i = 0; i < c->ntok; i++) {
        int ty = c->tokens[i].type;
        if (!(is_skip(ty) || ty == PT_COMMENT || ty == PT_ERRORTOKEN || ty == PT_STRING)) any_skip = 1;
    }
    int prev_type = -1;
    for (size_t i = 0; i < c->ntok; i++) {
        const pep8_tok *t = &c->tokens[i];
        if (t->type == PT_STRING && any_skip) continue; /* prev_token is not updated */
        if (t->type == PT_STRING || t->type == PT_COMMENT) {
            if (prev_type == -1 || is_skip(prev_type)) {
                us line = tok_line(c, t);
                /* line.splitlines() */
                size_t a = 0;
                long nlines = 0;
                {
                    size_t x = 0;
                    while (x < line.n) {
                        size_t y = x;
                        while (y < line.n && !pep8_islinebreak(line.p[y])) y++;
                        nlines++;
                        if (y < line.n && line.p[y] == '\r' && y + 1 < line.n && line.p[y + 1] == '\n') y++;
                        x = y + 1;
                    }
                }
                long ln = 0;
                while (a < line.n) {
                    size_t b = a;
                    while (b < line.n && !pep8_islinebreak(line.p[b])) b++;
                    us pl = sub(line, a, b);
                    size_t next = b + 1;
                    if (b < line.n && line.p[b] == '\r' && b + 1 < line.n && line.p[b + 1] == '\n') next = b + 2;
                    if (t->srow + ln == 1 && startswith(line, "#!")) return;
                    long length = (long)pl.n;
                    us first = {0}, last = {0};
                    int k = split_chunks(pl, &first, &last);
                    int skip = 0;
                    if (t->type == PT_COMMENT && k == 2 && length - (long)last.n < 72) skip = 1;
                    if (!skip && k == 1 && ln + 1 < nlines && length - (long)last.n < 72) skip = 1;
                    if (!skip && length > maxd)
                        report(c, t->srow + ln, maxd, "W505", "doc line too long (%ld > %d characters)", length, maxd);
                    ln++;
                    a = next;
                }
            }
        }
        prev_type = t->type;
    }
}

/* _is_one_liner */
static int is_one_liner(checker *c) {
    us L = LL(c);
    if (!startswith_top_level(L)) return 0;
    long nl = c->s->nlines;
    long line_idx = c->line_number - 1;
    long prev_indent = line_idx < 1 ? 0 : expand_indent(pep8_line(c->s, line_idx - 1));
    if (prev_indent > c->indent_level) return 0;
    if (line_idx < 0) line_idx = 0; /* lines[-1] would be read by Python; only at line 0 */
    while (line_idx < nl) {
        us line = strip(pep8_line(c->s, line_idx));
        if (!startswith(line, "@") && startswith_top_level(line)) break;
        line_idx++;
    }
    if (line_idx >= nl) return 0;
    long next_idx = line_idx + 1;
    while (next_idx < nl) {
        if (strip(pep8_line(c->s, next_idx)).n) break;
        next_idx++;
    }
    if (next_idx >= nl) return 1;
    return expand_indent(pep8_line(c->s, next_idx)) <= c->indent_level;
}

static void blank_lines(checker *c) {
    us L = LL(c);
    us prev = mk(c->previous_logical.p, c->previous_logical.n);
    us prev_unind = c->unindented_is_previous ? prev : mk(c->previous_unindented.p, c->previous_unindented.n);
    long bl = c->blank_lines, bb = c->blank_before;
    if (!prev.n && bb < 2) return;
    if (startswith(prev, "@")) {
        if (bl) report_off(c, 0, "E304", "blank lines found after function decorator");
    } else if (bl > 2 || (c->indent_level && bl == 2)) {
        report_off(c, 0, "E303", "too many blank lines (%ld)", bl);
    } else if (startswith_top_level(L)) {
        if (is_one_liner(c) && bb == 0) return;
        if (c->indent_level) {
            int docstr = 0;
            {
                size_t i = 0;
                if (i < prev.n && prev.p[i] == 'u') i++;
                if (i < prev.n && prev.p[i] == 'r') i++;
                docstr = i < prev.n && (prev.p[i] == '"' || prev.p[i] == '\'');
            }
            if (!(bb == 1 || c->previous_indent_level < c->indent_level || docstr)) {
                long ancestor = c->indent_level;
                int nested = 0;
                long nl = c->s->nlines;
                long start = c->line_number - 2;
                if (start < 0) start += nl;
                if (start >= nl) start = nl - 1;
                for (long k = start; k >= 0; k--) {
                    us line = pep8_line(c->s, k);
                    if (strip(line).n && expand_indent(line) < ancestor) {
                        ancestor = expand_indent(line);
                        nested = startswith_def(lstrip(line));
                        if (nested || ancestor == 0) break;
                    }
                }
                if (nested) report_off(c, 0, "E306", "expected 1 blank line before a nested definition, found 0");
                else report_off(c, 0, "E301", "expected 1 blank line, found 0");
            }
        } else if (bb != 2) {
            report_off(c, 0, "E302", "expected 2 blank lines, found %ld", bb);
        }
    } else if (L.n && !c->indent_level && bb != 2 && (startswith(prev_unind, "def ") || startswith(prev_unind, "class "))) {
        report_off(c, 0, "E305", "expected 2 blank lines after class or function definition, found %ld", bb);
    }
}

/* ---- Checker driver ---------------------------------------------------------- */

/* A check runs when one of the codes it can emit is reported (pycodestyle's
 * get_checks) and, for the regex checks, when the logical line has what their
 * pattern needs (the skipped cases cannot match). */
static int any_reported(const checker *c, const char *codes) {
    char code[5];
    for (const char *p = codes; *p; p += 5) {
        memcpy(code, p, 4);
        code[4] = 0;
        if (!ignore_code(c, code)) return 1;
        if (!p[4]) break;
    }
    return 0;
}

static void run_logical_checks(checker *c) {
    us L = LL(c);
    const int *en = c->enabled;
    int ws2 = 0, eqeq = 0, not3 = 0, type4 = 0, colsemi = 0;
    size_t run = 0, n = L.n;
    /* one pass: the pattern prefilters, extraneous_whitespace (E201-E203,
     * non-overlapping matches from ext_next) and missing_whitespace (E231) */
    size_t ext_next = 0;
    long nl = 0, nr = 0, last_brace = -1, last_sq = -1;
    int do_ext = en[10], do_e231 = en[14];
    for (size_t i = 0; i < n; i++) {
        cp ch = L.p[i];
        if (ch < 128 && (pep8_ascii_class[ch] & 2)) { /* fast path: ASCII word character */
            run = 0;
            if (ch == 't' && i >= 2 && L.p[i - 1] == 'o' && L.p[i - 2] == 'n') not3 = 1;
            else if (ch == 'e' && i >= 3 && L.p[i - 1] == 'p' && L.p[i - 2] == 'y' && L.p[i - 3] == 't') type4 = 1;
            continue;
        }
        if (pep8_isspace(ch)) {
            if (++run >= 2 || ch == '\t') ws2 = 1;
        } else {
            run = 0;
            if (ch == ':' || ch == ';') colsemi = 1;
            else if (ch == '=' && i > 0 && (L.p[i - 1] == '=' || L.p[i - 1] == '!')) eqeq = 1;
            else if (ch == 't' && i >= 2 && L.p[i - 1] == 'o' && L.p[i - 2] == 'n') not3 = 1;
            else if (ch == 'e' && i >= 3 && L.p[i - 1] == 'p' && L.p[i - 2] == 'y' && L.p[i - 3] == 't') type4 = 1;
        }
        if (i + 1 >= n) break;
        cp nx = L.p[i + 1];
        if (do_ext && i >= ext_next) {
            if (is_open(ch) && (nx == ' ' || nx == '\t')) {
                report_off(c, (long)i + 1, "E201", "whitespace after '%c'", (char)ch);
                ext_next = i + 2;
            } else if ((ch == ' ' || ch == '\t') && is_closepunct(nx) && !(i + 2 < n && L.p[i + 2] == '=')) {
                cp prev = i == 0 ? L.p[n - 1] : L.p[i - 1];
                if (prev != ',') {
                    const char *code = (nx == '}' || nx == ']' || nx == ')') ? "E202" : "E203";
                    report_off(c, (long)i, code, "whitespace before '%c'", (char)nx);
                }
                ext_next = i + 2;
            }
        }
        if (do_e231) {
            if (is_csc(ch) && nx != ' ' && nx != '\t' && nx != 0xa0) {
                int skip = 0;
                if (ch == ':' && nl > nr && last_brace < last_sq) skip = 1;
                else if (ch == ',' && (nx == ')' || nx == ']')) skip = 1;
                else if (ch == ':' && nx == '=') skip = 1;
                if (!skip) report_off(c, (long)i, "E231", "missing whitespace after '%c'", (char)ch);
            }
            if (ch == '[') nl++, last_sq = (long)i;
            else if (ch == ']') nr++;
            else if (ch == '{') last_brace = (long)i;
        }
    }
    /* pycodestyle runs them in name order; the report is sorted anyway */
    scan_token_facts(c);
    if (en[0] && c->has_avoid) ambiguous_identifier(c);
    if (en[1]) bare_except(c);
    if (en[2]) blank_lines(c);
    if (en[3]) break_around_binary_operators(c);
    if (en[4] && not3) comparison_negative(c);
    if (en[5] && eqeq) comparison_to_singleton(c);
    if (en[6] && type4) comparison_type(c);
    if (en[7] && colsemi) compound_statements(c);
    if (en[8]) continued_indentation(c);
    if (en[9] && c->multi_row) explicit_line_join(c);
    if (en[11]) imports_on_separate_lines(c);
    if (en[12]) indentation(c);
    if (en[13]) maximum_doc_length(c);
    if (en[15]) missing_whitespace_after_keyword(c);
    if (en[16]) missing_whitespace_around_operator(c);
    if (en[17]) module_imports_on_top_of_file(c);
    if (en[18] && (c->has_async || c->async_tail)) python_3000_async_await_keywords(c);
    if (en[19] && c->has_string) python_3000_invalid_escape_sequence(c);
    if (en[20] && ws2) whitespace_around_comma(c);
    if (en[21] && ws2) whitespace_around_keywords(c);
    if (en[22] && c->has_eq) whitespace_around_named_parameter_equals(c);
    if (en[23] && ws2) whitespace_around_operator(c);
    if (en[24] && c->has_comment) whitespace_before_comment(c);
    if (en[25]) whitespace_before_parameters(c);
}

static void set_enabled(checker *c) {
    static const char *const codes[26] = {
        "E741,E742,E743", "E722", "E301,E302,E303,E304,E305,E306", "W503,W504", "E713,E714", "E711,E712",
        "E721", "E701,E702,E703,E704,E731", "E121,E122,E123,E124,E125,E126,E127,E128,E129,E131,E133", "E502",
        "E201,E202,E203", "E401", "E111,E112,E113,E114,E115,E116,E117", "W505", "E231", "E275",
        "E225,E226,E227,E228", "E402", "W606", "W605", "E241,E242", "E271,E272,E273,E274", "E251,E252",
        "E221,E222,E223,E224", "E261,E262,E265,E266", "E211"};
    for (int i = 0; i < 26; i++) c->enabled[i] = any_reported(c, codes[i]);
}

static int check_logical(checker *c) {
    long nm = build_tokens_line(c);
    if (nm < 0) return -1;
    if (nm == 0) return 0; /* tokens are kept, as in pycodestyle */
    long srow = c->mrow[0], scol = c->mcol[0];
    us sl = pep8_line(c->s, srow - 1);
    c->indent_level = expand_indent(sub(sl, 0, (size_t)(scol < 0 ? 0 : scol)));
    if (c->blank_before < c->blank_lines) c->blank_before = c->blank_lines;
    run_logical_checks(c);
    if (c->logical.n) {
        c->previous_indent_level = c->indent_level;
        /* previous_logical = logical_line, by swapping buffers; the unindented
         * one is only materialised when it stops being the previous one */
        if (c->indent_level && c->unindented_is_previous) {
            if (cp_set(&c->previous_unindented, mk(c->previous_logical.p, c->previous_logical.n))) return -1;
            c->unindented_is_previous = 0;
        }
        cpvec tmp = c->previous_logical;
        c->previous_logical = c->logical;
        c->logical = tmp;
        c->logical.n = 0;
        if (!c->indent_level) c->unindented_is_previous = 1;
    }
    c->blank_lines = 0;
    c->ntok = 0;
    return 0;
}

static int is_eol_token(const checker *c, const pep8_tok *t) {
    if (t->type == PT_NL || t->type == PT_NEWLINE) return 1;
    us line = tok_line(c, t);
    us rest = lstrip(sub(line, (size_t)(t->ecol < 0 ? 0 : t->ecol), line.n));
    return rest.n == 2 && rest.p[0] == '\\' && rest.p[1] == '\n';
}

static void maybe_check_physical(checker *c, const pep8_tok *t, us prev_physical) {
    if (is_eol_token(c, t)) {
        if (t->llen == 0) check_physical(c, prev_physical);
        else check_physical(c, tok_line(c, t));
    } else if (t->type == PT_STRING && find_ch(tok_text(c, t), '\n', 0) >= 0) {
        if (noqa_search(tok_line(c, t))) return;
        c->multiline = 1;
        c->line_number = t->srow;
        /* src = lines[row-1][:scol] + text; every line of it but the last */
        us first = pep8_line(c->s, t->srow - 1);
        us text = tok_text(c, t);
        size_t pre = (size_t)t->scol < first.n ? (size_t)t->scol : first.n;
        size_t tot = pre + text.n;
        cp *buf = malloc((tot + 1) * sizeof(cp));
        if (!buf) { c->oom = 1; return; }
        memcpy(buf, first.p, pre * sizeof(cp));
        memcpy(buf + pre, text.p, text.n * sizeof(cp));
        size_t a = 0;
        for (size_t i = 0; i < tot; i++)
            if (buf[i] == '\n') {
                check_physical(c, mk(buf + a, i + 1 - a));
                c->line_number++;
                a = i + 1;
            }
        free(buf);
        c->multiline = 0;
    }
}

static int push_token(checker *c, const pep8_tok *t) {
    pep8_tok *np = pst_grow(c->tokens, &c->captok, c->ntok + 1, sizeof *np, 256, NULL);
    if (!np) return -1;
    c->tokens = np;
    c->tokens[c->ntok++] = *t;
    return 0;
}

static void update_indent_char(checker *c, long lines_read) {
    while (c->indent_char < 0 && c->ic_scanned < lines_read && c->ic_scanned < c->s->nlines) {
        us l = pep8_line(c->s, c->ic_scanned);
        if (l.n && (l.p[0] == ' ' || l.p[0] == '\t' || l.p[0] == 0xa0)) c->indent_char = (int)l.p[0];
        c->ic_scanned++;
    }
    if (c->indent_char >= 0) c->ic_scanned = lines_read;
}

static int check_all(checker *c, pst_error *err) {
    pep8_tokenizer tk;
    if (pep8_tokenizer_init(&tk, c->s, err)) return -1;
    c->total_lines = c->s->nlines;
    c->line_number = 0;
    c->indent_char = -1;
    long parens = 0;
    us prev_physical = {0};
    int rc = 0;
    long noqa_cache_off = -1, noqa_cache_len = -1;
    int noqa_cache = 0;
    for (;;) {
        pep8_tok t;
        int r = pep8_tokenizer_next(&tk, &t, err);
        if (r < 0) { rc = -1; break; }
        if (r == 0) break;
        c->line_number = t.ln;
        update_indent_char(c, t.ln);
        if (t.srow > c->total_lines) break;
        if (t.llen == 0) c->noqa = 0;
        else {
            if ((long)t.loff != noqa_cache_off || (long)t.llen != noqa_cache_len) {
                noqa_cache = noqa_search(tok_line(c, &t));
                noqa_cache_off = (long)t.loff, noqa_cache_len = (long)t.llen;
            }
            c->noqa = noqa_cache;
        }
        maybe_check_physical(c, &t, prev_physical);
        if (push_token(c, &t)) { rc = pst_fail_oom(err, "the checks of the source"); break; }
        prev_physical = tok_line(c, &t);
        us text = tok_text(c, &t);
        if (t.type == PT_OP) {
            if (in_str(text, "([{")) parens++;
            else if (in_str(text, "}])")) parens--;
        } else if (!parens) {
            if (t.type == PT_NEWLINE) {
                if (check_logical(c)) { rc = pst_fail_oom(err, "the checks of the source"); break; }
                c->blank_before = 0;
            } else if (t.type == PT_NL) {
                if (c->ntok == 1) {
                    c->blank_lines++;
                    c->ntok = 0;
                } else if (check_logical(c)) {
                    rc = pst_fail_oom(err, "the checks of the source");
                    break;
                }
            }
        }
        if (c->oom) break;
    }
    /* lines the tokenizer read without yielding tokens still set indent_char */
    update_indent_char(c, tk.lnum < c->s->nlines ? tk.lnum : c->s->nlines);
    if (rc == 0 && !c->oom && tk.error && tk.finished) {
        /* E901 from tokenize's TokenError / IndentationError */
        const char *m = tk.errmsg;
        report(c, tk.err_row, tk.err_col, "E901", "%s", m);
        c->line_number = tk.lnum < c->s->nlines ? tk.lnum : c->s->nlines;
    }
    if (rc == 0 && !c->oom && c->ntok) {
        check_physical(c, c->s->nlines ? pep8_line(c->s, c->s->nlines - 1) : mk(NULL, 0));
        if (check_logical(c)) rc = pst_fail_oom(err, "the checks of the source");
    }
    pep8_tokenizer_free(&tk);
    if (c->oom && rc == 0) rc = pst_fail_oom(err, "the checks of the source");
    return rc;
}

/* ---- public API ---------------------------------------------------------------- */

void pst_pep8_options_default(pst_pep8_options *o) {
    memset(o, 0, sizeof *o);
    o->select = NULL;
    o->ignore = NULL;
    o->max_line_length = 79;
    o->max_doc_length = 0;
    o->hang_closing = 0;
}

static int cmp_finding(const void *a, const void *b) {
    const pst_pep8_finding *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    int k = strcmp(x->code, y->code);
    if (k) return k;
    size_t n = x->message_len < y->message_len ? x->message_len : y->message_len;
    k = memcmp(x->message, y->message, n);
    if (k) return k;
    return x->message_len < y->message_len ? -1 : x->message_len > y->message_len;
}

static void free_checker(checker *c) {
    free(c->previous_logical.p);
    free(c->previous_unindented.p);
    free(c->tokens);
    free(c->logical.p);
    free(c->moff);
    free(c->mrow);
    free(c->mcol);
}

int pep8_check_src(const pep8_src *s, const pst_pep8_options *o, pst_pep8_finding **findings, size_t *n_findings,
                   pst_error *err);
int pep8_check_src(const pep8_src *s, const pst_pep8_options *o, pst_pep8_finding **findings, size_t *n_findings,
                   pst_error *err) {
    checker c;
    memset(&c, 0, sizeof c);
    c.s = s;
    c.o = o;
    if (o->max_line_length < 0) return pst_fail(err, "pep8: max_line_length %d is negative", o->max_line_length);
    if (parse_codes(&c.select, o->select, err)) return -1;
    codelist ig;
    if (parse_codes(&ig, o->ignore, err)) return -1;
    /* StyleGuide.__init__: default ignore unless select or ignore is given */
    if (!c.select.n && !ig.n) {
        if (parse_codes(&c.ignore, DEFAULT_IGNORE, err)) return -1;
    } else if (c.select.n) {
        c.ignore.n = 1;
        c.ignore.prefix[0][0] = 0; /* ('',): everything not selected; the ignore list is dropped */
    } else {
        c.ignore = ig;
    }
    c.run_e101 = !ignore_code(&c, "E101");
    set_enabled(&c);
    int rc = check_all(&c, err);
    free_checker(&c);
    if (rc) {
        pst_pep8_findings_free(c.f, c.nf);
        return -1;
    }
    /* StandardReport.get_file_results: sorted by (row, col, code, text) */
    if (c.nf > 1) qsort(c.f, c.nf, sizeof *c.f, cmp_finding);
    *findings = c.f;
    *n_findings = c.nf;
    return 0;
}

int pst_pep8_check(const char *source, size_t len, const pst_pep8_options *o, pst_pep8_finding **findings,
                   size_t *n_findings, pst_error *err) {
    *findings = NULL;
    *n_findings = 0;
    pst_pep8_options def;
    if (!o) {
        pst_pep8_options_default(&def);
        o = &def;
    }
    pep8_src s;
    if (pep8_src_decode(&s, source, len, err)) return -1;
    int rc = pep8_check_src(&s, o, findings, n_findings, err);
    pep8_src_free(&s);
    return rc;
}

void pst_pep8_findings_free(pst_pep8_finding *f, size_t n) {
    if (!f) return;
    for (size_t i = 0; i < n; i++) free(f[i].message);
    free(f);
}

long pst_pep8_count(const char *source, size_t len, const pst_pep8_options *o, pst_error *err) {
    pst_pep8_finding *f;
    size_t n;
    if (pst_pep8_check(source, len, o, &f, &n, err)) return -1;
    pst_pep8_findings_free(f, n);
    return (long)n;
}

int pst_pep8_code_reported(const pst_pep8_options *o, const char *code) {
    checker c;
    memset(&c, 0, sizeof c);
    pst_error err;
    codelist ig;
    if (parse_codes(&c.select, o->select, &err) || parse_codes(&ig, o->ignore, &err)) return 1;
    if (!c.select.n && !ig.n) parse_codes(&c.ignore, DEFAULT_IGNORE, &err);
    else if (c.select.n) c.ignore.n = 1, c.ignore.prefix[0][0] = 0;
    else c.ignore = ig;
    return !ignore_code(&c, code);
}
