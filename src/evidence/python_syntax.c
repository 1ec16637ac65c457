/* python-compiles: b(x) = 1 iff Python 3.11's compile(x, "<x>", "exec") accepts x.
 *
 * Written in C, no Python at run time: the tokens come from the pep8
 * checker's port of Lib/tokenize.py (pep8_text.c), decoded as UTF-8 the way
 * compile() decodes a str (no coding cookie); on top of them a recursive-
 * descent parser of the Python 3.11 grammar (docs.python.org/3.11/reference/
 * grammar.html) and the checks compile() makes beyond the grammar:
 *   - tokens: NUL bytes (ValueError), invalid UTF-8, characters that start no
 *     token, unterminated strings, EOF inside brackets, unindent mismatch;
 *   - targets: assignment / del / for / with / augmented / annotated targets
 *     (no literals, calls, operators, keywords, __debug__), at most one
 *     starred target, starred expressions only where a sequence is built;
 *   - arguments: duplicates, non-default after default, bare '*', '/' rules;
 *     calls: positional after keyword, *x after **y, repeated keywords, an
 *     unparenthesised generator that is not the sole argument;
 *   - context: return / yield / await / async for / async with outside
 *     (async) functions, yield in comprehensions, break / continue outside a
 *     loop, nonlocal at module level or without a binding, name both
 *     parameter and global / nonlocal, import * outside the module level,
 *     'return' with a value in an async generator, default except not last;
 *   - from __future__ only at the top (after the docstring), known features;
 *   - literals: f-string fields (empty expression, backslash or '#' in an
 *     expression, bad conversion, single '}', nesting depth), bytes with
 *     non-ASCII characters, bad \x \u \U \N escapes, bytes + str concatenation.
 * Invalid escapes like "\d" are only warnings in 3.11: accepted.
 * Measured agreement with compile(): docs/evidence.md (python-compiles). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/pep8_text.h"
#include "evidence/python_syntax.h"
#include "evidence/scorer_internal.h"

/* ---- tokens ------------------------------------------------------------------ */

/* T_BAD: where the tokenizer failed (bad character, unterminated string, EOF
 * in brackets, indentation); the parser fails when it reaches it, so an
 * earlier syntax error is reported first, as compile() does. */
enum { T_NAME, T_NUMBER, T_STRING, T_NEWLINE, T_INDENT, T_DEDENT, T_OP, T_END, T_BAD };

enum {
    K_NONE_ = 0, K_FALSE, K_NONE, K_TRUE, K_AND, K_AS, K_ASSERT, K_ASYNC, K_AWAIT, K_BREAK, K_CLASS,
    K_CONTINUE, K_DEF, K_DEL, K_ELIF, K_ELSE, K_EXCEPT, K_FINALLY, K_FOR, K_FROM, K_GLOBAL, K_IF,
    K_IMPORT, K_IN, K_IS, K_LAMBDA, K_NONLOCAL, K_NOT, K_OR, K_PASS, K_RAISE, K_RETURN, K_TRY,
    K_WHILE, K_WITH, K_YIELD
};
static const char *const keywords[] = {"", "False", "None", "True", "and", "as", "assert", "async",
                                       "await", "break", "class", "continue", "def", "del", "elif",
                                       "else", "except", "finally", "for", "from", "global", "if",
                                       "import", "in", "is", "lambda", "nonlocal", "not", "or",
                                       "pass", "raise", "return", "try", "while", "with", "yield"};

typedef struct {
    int type, kw;
    uint32_t op; /* up to 3 ASCII characters of an operator, packed */
    long row, col;
    size_t off, len; /* code points in src->buf */
    const char *bad; /* T_BAD: the tokenizer's message */
} tok;

#define OP1(a) ((uint32_t)(a))
#define OP2(a, b) ((uint32_t)(a) | (uint32_t)(b) << 8)
#define OP3(a, b, c) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16)

/* ---- expression nodes (only what target and argument checks need) ------------ */

enum {
    N_NAME, N_CONST, N_KWCONST, N_ATTR, N_SUB, N_CALL, N_TUPLE, N_LIST, N_STAR, N_OTHER, N_COMPARE,
    N_LAMBDA, N_NAMED, N_YIELD, N_AWAIT, N_GENEXP, N_COMP, N_DICT, N_SET, N_IFEXP, N_BOOL, N_UNARY,
    N_BINOP, N_ELLIPSIS, N_FSTRING, N_KEYWORD, N_DSTAR
};
typedef struct {
    int kind, paren; /* paren: written inside ( ) */
    long t;          /* its first token */
    int child, next; /* first child, next sibling (-1: none) */
} node;

/* ---- scopes (for nonlocal / global checks) --------------------------------- */

enum { S_MODULE, S_FUNC, S_CLASS };
enum { F_BOUND = 1, F_PARAM = 2, F_GLOBAL = 4, F_NONLOCAL = 8, F_USED = 16 };
typedef struct {
    size_t off, len;
    int flags;
    long t; /* the nonlocal declaration's token */
} sym;
typedef struct {
    int kind, parent;
    sym *syms;
    size_t n, cap;
} scope;

/* The innermost function's state while parsing its body. */
typedef struct {
    int in_func, is_async, in_loop, in_lambda, comp_depth, comp_genexp;
    int has_yield;
    long return_value; /* token of the first 'return <value>' or -1 */
    int blocks;        /* the compiler's frame blocks (loops, with, try) around here */
} fctx;

typedef struct parser {
    const pep8_src *src;
    tok *t;
    size_t n, cap, pos;
    node *nd;
    size_t nn, ncap;
    scope *sc;
    size_t nsc, capsc;
    int cur_scope;
    fctx f;
    int failed;
    long err_row, err_col;
    const char *err_kind;
    char msg[160];
    int oom;
    int fdepth; /* f-string nesting */
    int future_ok; /* from __future__ still allowed at module level */
    int module_level;
    int in_target_comp; /* binding comprehension targets: not the function's */
    int in_fstring;     /* parsing an f-string field (its own tokens: names not recorded) */
    int depth;          /* recursion guard */
    long pending_await; /* an await outside an async function, unless a genexp takes it (-1) */
    long n_yield;       /* yield expressions parsed so far (comprehensions refuse them) */
    int tok_err;        /* the tokenizer raised: tok_msg */
    char tok_msg[96];
    long *pat;          /* match: the names a case's pattern binds (token indices) */
    size_t pat_n, pat_cap, pat_case, pat_skip_lo, pat_skip_hi;
} parser;

static int fail_at(parser *p, long ti, const char *msg) {
    if (p->failed) return -1;
    p->failed = 1;
    p->err_kind = "syntax";
    if (p->n == 0) {
        p->err_row = 1, p->err_col = 0;
    } else {
        const tok *k = &p->t[ti < (long)p->n ? ti : (long)p->n - 1];
        p->err_row = k->row, p->err_col = k->col;
        if (k->type == T_BAD) {
            msg = k->bad;
            if (strstr(msg, "ndentation") || strstr(msg, "tabs")) p->err_kind = "indent";
        }
    }
    snprintf(p->msg, sizeof p->msg, "%s", msg);
    return -1;
}
static int fail(parser *p, const char *msg) { return fail_at(p, (long)p->pos, msg); }

static const tok *cur(parser *p) { return &p->t[p->pos]; }
static const tok *peek(parser *p, size_t k) {
    size_t i = p->pos + k;
    return &p->t[i < p->n ? i : p->n - 1];
}
static int is_op(const tok *k, uint32_t op) { return k->type == T_OP && k->op == op; }
static int at_op(parser *p, uint32_t op) { return is_op(cur(p), op); }
static int at_kw(parser *p, int kw) { return cur(p)->type == T_NAME && cur(p)->kw == kw; }
static int accept_op(parser *p, uint32_t op) {
    if (!at_op(p, op)) return 0;
    p->pos++;
    return 1;
}
static int accept_kw(parser *p, int kw) {
    if (!at_kw(p, kw)) return 0;
    p->pos++;
    return 1;
}
static int expect_op(parser *p, uint32_t op) {
    if (accept_op(p, op)) return 0;
    return fail(p, "invalid syntax");
}
static int expect_kw(parser *p, int kw) {
    if (accept_kw(p, kw)) return 0;
    return fail(p, "invalid syntax");
}
static int tok_is(parser *p, const tok *k, const char *s) {
    size_t n = strlen(s);
    if (k->len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (p->src->buf[k->off + i] != (pep8_cp)(unsigned char)s[i]) return 0;
    return 1;
}
/* a plain NAME (not a keyword), optionally with the given text */
static int at_name(parser *p) { return cur(p)->type == T_NAME && cur(p)->kw == 0; }
static int at_soft(parser *p, const char *s) { return at_name(p) && tok_is(p, cur(p), s); }

static int new_node(parser *p, int kind, long t) {
    if (p->nn == p->ncap) {
        size_t nc = p->ncap ? p->ncap * 2 : 256;
        node *v = realloc(p->nd, nc * sizeof *v);
        if (!v) {
            p->oom = 1;
            fail(p, "out of memory");
            return -1;
        }
        p->nd = v, p->ncap = nc;
    }
    node *x = &p->nd[p->nn];
    x->kind = kind, x->paren = 0, x->t = t, x->child = -1, x->next = -1;
    return (int)p->nn++;
}
/* AST depth: compile() gives up (RecursionError, MemoryError) on expressions
 * nested about 3000 levels deep; its limit moves with the caller's Python
 * stack depth (2989 to 2990 unary minus pass when called 2 to 3 frames deep,
 * lambda and '**' chains fail a few levels earlier), so this is approximate.
 * Counted per unary operator, binary operator in a chain, trailer, 'not',
 * 'if' 'else' and lambda. */
#define MAX_DEPTH 2990
static int enter(parser *p) {
    if (++p->depth > MAX_DEPTH) return fail(p, "too complex: expression nested deeper than compile() allows");
    return 0;
}

/* The compiler's static block limit (CO_MAXBLOCKS 20): loops, with items,
 * try bodies count 1, except handlers 2, finally bodies 1. */
static int push_blocks(parser *p, int k) {
    p->f.blocks += k;
    if (p->f.blocks > 20) return fail(p, "too many statically nested blocks");
    return 0;
}

/* appends child c to node a's children (kept with a tail walk: lists are short) */
static void add_child(parser *p, int a, int c) {
    if (a < 0 || c < 0) return;
    if (p->nd[a].child < 0) {
        p->nd[a].child = c;
        return;
    }
    int k = p->nd[a].child;
    while (p->nd[k].next >= 0) k = p->nd[k].next;
    p->nd[k].next = c;
}

/* ---- scopes ---------------------------------------------------------------- */

static int push_scope(parser *p, int kind) {
    if (p->nsc == p->capsc) {
        size_t nc = p->capsc ? p->capsc * 2 : 16;
        scope *v = realloc(p->sc, nc * sizeof *v);
        if (!v) {
            p->oom = 1;
            return fail(p, "out of memory");
        }
        p->sc = v, p->capsc = nc;
    }
    scope *s = &p->sc[p->nsc];
    memset(s, 0, sizeof *s);
    s->kind = kind, s->parent = p->cur_scope;
    p->cur_scope = (int)p->nsc++;
    return 0;
}

static sym *find_sym(parser *p, scope *s, size_t off, size_t len) {
    for (size_t i = 0; i < s->n; i++)
        if (s->syms[i].len == len &&
            memcmp(p->src->buf + s->syms[i].off, p->src->buf + off, len * sizeof(pep8_cp)) == 0)
            return &s->syms[i];
    return NULL;
}

/* Records flags for the name of token ti in the current scope (functions only:
 * module and class names never matter to the checks made here). */
static int note_name(parser *p, long ti, int flags) {
    scope *s = &p->sc[p->cur_scope];
    if (p->in_fstring || (p->in_target_comp && flags == F_USED)) return 0;
    const tok *k = &p->t[ti];
    sym *y = find_sym(p, s, k->off, k->len);
    if (!y) {
        if (s->n == s->cap) {
            size_t nc = s->cap ? s->cap * 2 : 16;
            sym *v = realloc(s->syms, nc * sizeof *v);
            if (!v) {
                p->oom = 1;
                return fail(p, "out of memory");
            }
            s->syms = v, s->cap = nc;
        }
        y = &s->syms[s->n++];
        y->off = k->off, y->len = k->len, y->flags = 0, y->t = ti;
    }
    if ((flags & F_GLOBAL) && (y->flags & F_PARAM)) return fail_at(p, ti, "name is parameter and global");
    if ((flags & F_NONLOCAL) && (y->flags & F_PARAM))
        return fail_at(p, ti, "name is parameter and nonlocal");
    if (((flags & F_GLOBAL) && (y->flags & F_NONLOCAL)) || ((flags & F_NONLOCAL) && (y->flags & F_GLOBAL)))
        return fail_at(p, ti, "name is nonlocal and global");
    if ((flags & F_PARAM) && (y->flags & F_PARAM)) return fail_at(p, ti, "duplicate argument in function definition");
    if ((flags & (F_GLOBAL | F_NONLOCAL)) && (y->flags & (F_BOUND | F_USED)))
        return fail_at(p, ti, "name is used or assigned to before global/nonlocal declaration");
    if (flags & F_NONLOCAL) y->t = ti;
    y->flags |= flags;
    return 0;
}

/* nonlocal x needs an enclosing function (classes skipped) that binds x. */
static int resolve_nonlocals(parser *p) {
    for (size_t i = 0; i < p->nsc; i++) {
        scope *s = &p->sc[i];
        for (size_t j = 0; j < s->n; j++) {
            if (!(s->syms[j].flags & F_NONLOCAL)) continue;
            int found = 0;
            for (int q = s->parent; q >= 0 && !found; q = p->sc[q].parent) {
                scope *e = &p->sc[q];
                if (e->kind == S_MODULE) break;
                if (e->kind == S_CLASS) continue;
                sym *y = find_sym(p, e, s->syms[j].off, s->syms[j].len);
                if (y && (y->flags & F_GLOBAL)) break;
                if (y && (y->flags & (F_BOUND | F_PARAM | F_NONLOCAL))) found = 1;
            }
            if (!found) return fail_at(p, s->syms[j].t, "no binding for nonlocal found");
        }
    }
    return 0;
}

/* ---- targets ------------------------------------------------------------------ */

enum { TG_ASSIGN, TG_DEL, TG_FOR, TG_AUG, TG_ANN };

/* Checks node x as a target of the given kind and records the names it binds.
 * star_ok: x sits directly in a tuple / list target. */
static int check_target(parser *p, int x, int kind, int star_ok) {
    node *d = &p->nd[x];
    switch (d->kind) {
    case N_NAME: {
        if (tok_is(p, &p->t[d->t], "__debug__")) return fail_at(p, d->t, "cannot assign to __debug__");
        if (p->in_target_comp) return 0;
        return note_name(p, d->t, F_BOUND);
    }
    case N_ATTR:
    case N_SUB: return 0;
    case N_TUPLE:
    case N_LIST: {
        if (kind == TG_AUG) return fail_at(p, d->t, "illegal expression for augmented assignment");
        if (kind == TG_ANN) return fail_at(p, d->t, "only single target (not tuple) can be annotated");
        int stars = 0;
        for (int c = d->child; c >= 0; c = p->nd[c].next) {
            if (p->nd[c].kind == N_STAR && ++stars > 1)
                return fail_at(p, p->nd[c].t, "multiple starred expressions in assignment");
            if (check_target(p, c, kind, 1)) return -1;
        }
        return 0;
    }
    case N_STAR:
        if (kind == TG_DEL) return fail_at(p, d->t, "cannot delete starred");
        if (!star_ok || d->paren) return fail_at(p, d->t, "starred assignment target must be in a list or tuple");
        return check_target(p, d->child, kind, 0);
    default: return fail_at(p, d->t, kind == TG_DEL ? "cannot delete expression" : "cannot assign to expression");
    }
}

/* ---- expressions --------------------------------------------------------------- */

static int expression(parser *p);
static int named_expression(parser *p);
static int star_expressions(parser *p);
static int bitwise_or(parser *p);
static int yield_expr(parser *p);
static int primary(parser *p);
static int check_string(parser *p, long ti, int *is_bytes, int *is_f);
static int factor(parser *p);

/* Can this token start an expression (or a starred one)? */
static int starts_expr(const tok *k) {
    if (k->type == T_NAME)
        return k->kw == 0 || k->kw == K_TRUE || k->kw == K_FALSE || k->kw == K_NONE || k->kw == K_NOT ||
               k->kw == K_LAMBDA || k->kw == K_AWAIT;
    if (k->type == T_NUMBER || k->type == T_STRING) return 1;
    if (k->type != T_OP) return 0;
    return k->op == '(' || k->op == '[' || k->op == '{' || k->op == '-' || k->op == '+' || k->op == '~' ||
           k->op == '*' || k->op == OP3('.', '.', '.');
}

/* A bare starred expression where no sequence is built is an error. */
static int no_bare_star(parser *p, int x) {
    if (x >= 0 && p->nd[x].kind == N_STAR) return fail_at(p, p->nd[x].t, "can't use starred expression here");
    return 0;
}

/* star_targets for 'for' and comprehensions: ['*'] primary (',' ...)* [','] */
static int star_targets(parser *p) {
    long t0 = (long)p->pos;
    int first = -1, tup = -1;
    for (;;) {
        int x;
        long ts = (long)p->pos;
        if (accept_op(p, '*')) {
            int y = primary(p);
            if (y < 0) return -1;
            x = new_node(p, N_STAR, ts);
            add_child(p, x, y);
        } else {
            x = primary(p);
        }
        if (x < 0) return -1;
        if (first < 0) first = x;
        else {
            if (tup < 0) {
                tup = new_node(p, N_TUPLE, t0);
                add_child(p, tup, first);
            }
            add_child(p, tup, x);
        }
        if (!at_op(p, ',')) break;
        p->pos++;
        if (tup < 0) {
            tup = new_node(p, N_TUPLE, t0);
            add_child(p, tup, first);
        }
        if (!starts_expr(cur(p))) break;
    }
    return tup >= 0 ? tup : first;
}

/* for_if_clauses: ('async'? 'for' star_targets 'in' disjunction ('if' disjunction)*)+ */
static int disjunction(parser *p);
static int comp_clauses(parser *p, int kind_genexp) {
    int saw = 0;
    for (;;) {
        long ta = (long)p->pos;
        int is_async = 0;
        if (at_kw(p, K_ASYNC) && peek(p, 1)->type == T_NAME && peek(p, 1)->kw == K_FOR) {
            p->pos++;
            is_async = 1;
        }
        if (!accept_kw(p, K_FOR)) {
            if (!saw) return fail(p, "invalid syntax");
            return 0;
        }
        saw = 1;
        if (is_async && !kind_genexp && !(p->f.in_func && p->f.is_async && !p->f.in_lambda))
            return fail_at(p, ta, "asynchronous comprehension outside of an asynchronous function");
        p->in_target_comp++;
        int t = star_targets(p);
        int rc = t < 0 ? -1 : check_target(p, t, TG_FOR, 0);
        p->in_target_comp--;
        if (rc) return -1;
        if (expect_kw(p, K_IN)) return -1;
        if (disjunction(p) < 0) return -1;
        while (accept_kw(p, K_IF))
            if (disjunction(p) < 0) return -1;
        if (!at_kw(p, K_FOR) && !at_kw(p, K_ASYNC)) return 0;
    }
}

/* Parses "elt for ..." after the element was parsed: checks done, the
 * comprehension's element (already parsed) may not hold yield. */
static int comprehension_tail(parser *p, int genexp) {
    p->f.comp_depth++;
    int save = p->f.comp_genexp;
    p->f.comp_genexp = genexp;
    int rc = comp_clauses(p, genexp);
    p->f.comp_depth--;
    p->f.comp_genexp = save;
    return rc;
}

/* '*' bitwise_or (at a '*'): a starred expression */
static int starred(parser *p) {
    long t0 = (long)p->pos++;
    int y = bitwise_or(p);
    if (y < 0) return -1;
    int x = new_node(p, N_STAR, t0);
    add_child(p, x, y);
    return x;
}

/* star_named_expression: '*' bitwise_or | named_expression (display elements) */
static int star_named_expression(parser *p) {
    if (at_op(p, '*')) return starred(p);
    return named_expression(p);
}

/* '(' ... ')': group, tuple, genexp, yield */
static int paren_atom(parser *p) {
    long t0 = (long)p->pos;
    p->pos++;
    if (accept_op(p, ')')) return new_node(p, N_TUPLE, t0);
    if (at_kw(p, K_YIELD)) {
        int y = yield_expr(p);
        if (y < 0 || expect_op(p, ')')) return -1;
        p->nd[y].paren = 1;
        return y;
    }
    long pa = p->pending_await, ny = p->n_yield;
    int x = star_named_expression(p);
    if (x < 0) return -1;
    if (at_kw(p, K_FOR) || at_kw(p, K_ASYNC)) {
        if (p->nd[x].kind == N_STAR) return fail_at(p, p->nd[x].t, "iterable unpacking cannot be used in comprehension");
        if (p->n_yield != ny) return fail_at(p, t0, "'yield' inside generator expression");
        p->pending_await = pa;
        if (comprehension_tail(p, 1) || expect_op(p, ')')) return -1;
        int g = new_node(p, N_GENEXP, t0);
        if (g >= 0) p->nd[g].paren = 1;
        return g;
    }
    if (accept_op(p, ')')) {
        if (p->nd[x].kind == N_STAR) return fail_at(p, p->nd[x].t, "cannot use starred expression here");
        p->nd[x].paren = 1;
        return x;
    }
    if (!at_op(p, ',')) return fail(p, "invalid syntax");
    int tup = new_node(p, N_TUPLE, t0);
    add_child(p, tup, x);
    while (accept_op(p, ',')) {
        if (at_op(p, ')')) break;
        int y = star_named_expression(p);
        if (y < 0) return -1;
        add_child(p, tup, y);
    }
    if (expect_op(p, ')')) return -1;
    p->nd[tup].paren = 1;
    return tup;
}

static int list_atom(parser *p) {
    long t0 = (long)p->pos;
    p->pos++;
    int l = new_node(p, N_LIST, t0);
    if (accept_op(p, ']')) return l;
    long ny = p->n_yield;
    int x = star_named_expression(p);
    if (x < 0) return -1;
    if (at_kw(p, K_FOR) || at_kw(p, K_ASYNC)) {
        if (p->nd[x].kind == N_STAR) return fail_at(p, p->nd[x].t, "iterable unpacking cannot be used in comprehension");
        if (p->n_yield != ny) return fail_at(p, t0, "'yield' inside list comprehension");
        if (comprehension_tail(p, 0) || expect_op(p, ']')) return -1;
        return new_node(p, N_COMP, t0);
    }
    add_child(p, l, x);
    while (accept_op(p, ',')) {
        if (at_op(p, ']')) break;
        int y = star_named_expression(p);
        if (y < 0) return -1;
        add_child(p, l, y);
    }
    if (expect_op(p, ']')) return -1;
    return l;
}

/* '{' ... '}': dict, set, and their comprehensions */
static int brace_atom(parser *p) {
    long t0 = (long)p->pos;
    p->pos++;
    if (accept_op(p, '}')) return new_node(p, N_DICT, t0);
    int is_dict;
    long ny = p->n_yield;
    if (accept_op(p, OP2('*', '*'))) {
        if (bitwise_or(p) < 0) return -1;
        is_dict = 1;
    } else {
        int x = star_named_expression(p);
        if (x < 0) return -1;
        if (accept_op(p, ':')) {
            if (p->nd[x].kind == N_STAR) return fail_at(p, p->nd[x].t, "cannot use a starred expression in a dictionary key");
            if (at_op(p, '*')) return fail(p, "cannot use a starred expression in a dictionary value");
            if (expression(p) < 0) return -1;
            is_dict = 1;
        } else {
            is_dict = 0;
        }
        if (at_kw(p, K_FOR) || at_kw(p, K_ASYNC)) {
            if (p->nd[x].kind == N_STAR) return fail_at(p, p->nd[x].t, "iterable unpacking cannot be used in comprehension");
            if (p->n_yield != ny) return fail_at(p, t0, "'yield' inside set or dict comprehension");
            if (comprehension_tail(p, 0) || expect_op(p, '}')) return -1;
            return new_node(p, N_COMP, t0);
        }
    }
    while (accept_op(p, ',')) {
        if (at_op(p, '}')) break;
        if (is_dict) {
            if (accept_op(p, OP2('*', '*'))) {
                if (bitwise_or(p) < 0) return -1;
                continue;
            }
            if (expression(p) < 0 || expect_op(p, ':')) return -1;
            if (at_op(p, '*')) return fail(p, "cannot use a starred expression in a dictionary value");
            if (expression(p) < 0) return -1;
        } else {
            if (at_op(p, OP2('*', '*'))) return fail(p, "invalid syntax");
            if (star_named_expression(p) < 0) return -1;
        }
    }
    if (expect_op(p, '}')) return -1;
    return new_node(p, is_dict ? N_DICT : N_SET, t0);
}

static int atom(parser *p) {
    const tok *k = cur(p);
    long t0 = (long)p->pos;
    switch (k->type) {
    case T_NAME:
        if (k->kw == 0) {
            p->pos++;
            if (note_name(p, t0, F_USED)) return -1;
            return new_node(p, N_NAME, t0);
        }
        if (k->kw == K_TRUE || k->kw == K_FALSE || k->kw == K_NONE) {
            p->pos++;
            return new_node(p, N_KWCONST, t0);
        }
        return fail(p, "invalid syntax");
    case T_NUMBER: p->pos++; return new_node(p, N_CONST, t0);
    case T_STRING: {
        int any_bytes = 0, any_str = 0, any_f = 0;
        while (cur(p)->type == T_STRING) {
            int b, f;
            if (check_string(p, (long)p->pos, &b, &f)) return -1;
            any_bytes |= b, any_str |= !b, any_f |= f;
            p->pos++;
        }
        if (any_bytes && any_str) return fail_at(p, t0, "cannot mix bytes and nonbytes literals");
        return new_node(p, any_f ? N_FSTRING : N_CONST, t0);
    }
    case T_OP:
        if (k->op == '(') return paren_atom(p);
        if (k->op == '[') return list_atom(p);
        if (k->op == '{') return brace_atom(p);
        if (k->op == OP3('.', '.', '.')) {
            p->pos++;
            return new_node(p, N_ELLIPSIS, t0);
        }
        return fail(p, "invalid syntax");
    default:
        if (k->type == T_INDENT) return fail(p, "unexpected indent");
        return fail(p, "invalid syntax");
    }
}

/* slices: slice | (slice | starred_expression) (',' ...)* [','] */
static int slice_item(parser *p) {
    if (at_op(p, '*')) return starred(p);
    if (!at_op(p, ':')) {
        if (named_expression(p) < 0) return -1;
        if (!at_op(p, ':')) return 0;
    }
    p->pos++; /* ':' */
    if (!at_op(p, ':') && !at_op(p, ',') && !at_op(p, ']'))
        if (expression(p) < 0) return -1;
    if (accept_op(p, ':'))
        if (!at_op(p, ',') && !at_op(p, ']'))
            if (expression(p) < 0) return -1;
    return 0;
}

/* call arguments after '(': checks ordering and keyword rules */
static int call_args(parser *p) {
    int saw_kw = 0, saw_dstar = 0, n = 0, bare_genexp = -1;
    long kws[64];
    int nk = 0;
    while (!at_op(p, ')')) {
        long ta = (long)p->pos;
        n++;
        if (accept_op(p, '*')) {
            if (saw_dstar) return fail_at(p, ta, "iterable argument unpacking follows keyword argument unpacking");
            if (expression(p) < 0) return -1;
        } else if (accept_op(p, OP2('*', '*'))) {
            saw_dstar = 1;
            if (expression(p) < 0) return -1;
        } else if (at_name(p) && is_op(peek(p, 1), '=')) {
            for (int i = 0; i < nk; i++)
                if (p->t[kws[i]].len == cur(p)->len &&
                    !memcmp(p->src->buf + p->t[kws[i]].off, p->src->buf + cur(p)->off,
                            cur(p)->len * sizeof(pep8_cp)))
                    return fail_at(p, ta, "keyword argument repeated");
            if (nk < 64) kws[nk++] = ta;
            if (tok_is(p, cur(p), "__debug__")) return fail_at(p, ta, "cannot assign to __debug__");
            p->pos += 2;
            saw_kw = 1;
            if (expression(p) < 0) return -1;
        } else {
            if (saw_dstar) return fail_at(p, ta, "positional argument follows keyword argument unpacking");
            if (saw_kw) return fail_at(p, ta, "positional argument follows keyword argument");
            long pa = p->pending_await, ny = p->n_yield;
            int x = named_expression(p);
            if (x < 0) return -1;
            if (at_op(p, '=')) return fail(p, "expression cannot contain assignment, perhaps you meant \"==\"?");
            if (at_kw(p, K_FOR) || at_kw(p, K_ASYNC)) {
                if (p->n_yield != ny) return fail_at(p, ta, "'yield' inside generator expression");
                p->pending_await = pa;
                if (comprehension_tail(p, 1)) return -1;
                bare_genexp = (int)ta;
            }
        }
        if (!accept_op(p, ',')) break;
        if (bare_genexp >= 0) return fail_at(p, bare_genexp, "Generator expression must be parenthesized");
    }
    if (bare_genexp >= 0 && n > 1) return fail_at(p, bare_genexp, "Generator expression must be parenthesized");
    return expect_op(p, ')');
}

/* primary: atom ('.' NAME | '(' args ')' | '[' slices ']')* */
static int primary(parser *p) {
    int x = atom(p), chain = 0;
    if (x < 0) return -1;
    for (;;) {
        if (at_op(p, '.') || at_op(p, '(') || at_op(p, '[')) {
            if (enter(p)) return -1;
            chain++;
        }
        if (accept_op(p, '.')) {
            if (!at_name(p)) return fail(p, "invalid syntax");
            p->pos++;
            x = new_node(p, N_ATTR, p->nd[x].t);
        } else if (accept_op(p, '(')) {
            if (call_args(p)) return -1;
            x = new_node(p, N_CALL, p->nd[x].t);
        } else if (accept_op(p, '[')) {
            for (;;) { /* slices: (slice | starred) (',' ...)* [','] */
                if (slice_item(p) < 0) return -1;
                if (!accept_op(p, ',')) break;
                if (at_op(p, ']')) break;
            }
            if (expect_op(p, ']')) return -1;
            x = new_node(p, N_SUB, p->nd[x].t);
        } else {
            p->depth -= chain;
            return x;
        }
        if (x < 0) return -1;
    }
}

static int power(parser *p) {
    long t0 = (long)p->pos;
    int x;
    if (at_kw(p, K_AWAIT)) {
        p->pos++;
        /* allowed in async functions and in generator expressions (which
         * become async); decided when the enclosing statement ends */
        int ok = p->f.in_func && p->f.is_async && !p->f.in_lambda;
        if (!ok && !(p->f.comp_depth && p->f.comp_genexp) && p->pending_await < 0) p->pending_await = t0;
        if (primary(p) < 0) return -1;
        x = new_node(p, N_AWAIT, t0);
    } else {
        x = primary(p);
    }
    if (x < 0) return -1;
    if (accept_op(p, OP2('*', '*'))) {
        if (enter(p) || factor(p) < 0) return -1;
        p->depth--;
        x = new_node(p, N_BINOP, t0);
    }
    return x;
}

static int factor(parser *p) {
    long t0 = (long)p->pos;
    if (at_op(p, '+') || at_op(p, '-') || at_op(p, '~')) {
        p->pos++;
        if (enter(p) || factor(p) < 0) return -1;
        p->depth--;
        return new_node(p, N_UNARY, t0);
    }
    return power(p);
}

/* Binary operator levels, lowest binding first. */
static int binlevel(parser *p, int level) {
    static const uint32_t ops[][5] = {
        {'|'}, {'^'}, {'&'}, {OP2('<', '<'), OP2('>', '>')}, {'+', '-'},
        {'*', '/', OP2('/', '/'), '%', '@'},
    };
    if (level == 6) return factor(p);
    long t0 = (long)p->pos;
    int x = binlevel(p, level + 1), chain = 0;
    for (;;) {
        if (x < 0) return -1;
        const tok *k = cur(p);
        int hit = 0;
        for (int i = 0; i < 5 && ops[level][i]; i++)
            if (is_op(k, ops[level][i])) hit = 1;
        if (!hit) {
            p->depth -= chain;
            return x;
        }
        p->pos++;
        chain++;
        if (enter(p) || binlevel(p, level + 1) < 0) return -1;
        x = new_node(p, N_BINOP, t0);
    }
}
static int bitwise_or(parser *p) { return binlevel(p, 0); }

static int comparison(parser *p) {
    long t0 = (long)p->pos;
    int x = bitwise_or(p);
    int any = 0;
    for (;;) {
        if (x < 0) return -1;
        const tok *k = cur(p);
        if (k->type == T_OP && (k->op == OP2('=', '=') || k->op == OP2('!', '=') || k->op == '<' ||
                                k->op == '>' || k->op == OP2('<', '=') || k->op == OP2('>', '=')))
            p->pos++;
        else if (at_kw(p, K_IN))
            p->pos++;
        else if (at_kw(p, K_NOT) && peek(p, 1)->type == T_NAME && peek(p, 1)->kw == K_IN)
            p->pos += 2;
        else if (at_kw(p, K_IS)) {
            p->pos++;
            accept_kw(p, K_NOT);
        } else
            return any ? new_node(p, N_COMPARE, t0) : x;
        any = 1;
        if (bitwise_or(p) < 0) return -1;
    }
}

static int inversion(parser *p) {
    long t0 = (long)p->pos;
    if (accept_kw(p, K_NOT)) {
        if (enter(p) || inversion(p) < 0) return -1;
        p->depth--;
        return new_node(p, N_UNARY, t0);
    }
    return comparison(p);
}

static int conjunction(parser *p) {
    long t0 = (long)p->pos;
    int x = inversion(p);
    if (x < 0 || !at_kw(p, K_AND)) return x;
    while (accept_kw(p, K_AND))
        if (inversion(p) < 0) return -1;
    return new_node(p, N_BOOL, t0);
}

static int disjunction(parser *p) {
    long t0 = (long)p->pos;
    int x = conjunction(p);
    if (x < 0 || !at_kw(p, K_OR)) return x;
    while (accept_kw(p, K_OR))
        if (conjunction(p) < 0) return -1;
    return new_node(p, N_BOOL, t0);
}

static int parameters(parser *p, int lambda);

static int lambdef(parser *p) {
    long t0 = (long)p->pos;
    p->pos++;
    fctx save = p->f;
    /* a lambda is a function scope of its own: its parameters do not bind in
     * the enclosing function (a fresh scope keeps duplicate checks apart) */
    int sc = p->cur_scope;
    if (push_scope(p, S_FUNC)) return -1;
    int rc = parameters(p, 1);
    p->f.in_func = 1, p->f.in_lambda = 1, p->f.comp_depth = 0, p->f.in_loop = 0; /* ':' taken */
    if (!rc) rc = enter(p) || expression(p) < 0 ? -1 : 0;
    if (!rc) p->depth--;
    p->sc[p->cur_scope].kind = S_CLASS; /* its names are invisible to nonlocal */
    p->cur_scope = sc;
    p->f = save;
    if (rc) return -1;
    return new_node(p, N_LAMBDA, t0);
}

static int expression(parser *p) {
    if (at_kw(p, K_LAMBDA)) return lambdef(p);
    long t0 = (long)p->pos;
    int x = disjunction(p);
    if (x < 0) return -1;
    if (!accept_kw(p, K_IF)) return x;
    if (disjunction(p) < 0) return -1;
    if (expect_kw(p, K_ELSE)) return fail(p, "expected 'else' after 'if' expression");
    if (enter(p) || expression(p) < 0) return -1;
    p->depth--;
    return new_node(p, N_IFEXP, t0);
}

/* named_expression: NAME ':=' expression | expression !':=' */
static int named_expression(parser *p) {
    long t0 = (long)p->pos;
    if (at_name(p) && is_op(peek(p, 1), OP2(':', '='))) {
        if (tok_is(p, cur(p), "__debug__")) return fail(p, "cannot assign to __debug__");
        /* a walrus in a comprehension binds in the enclosing function */
        int save = p->in_target_comp;
        p->in_target_comp = 0;
        int rc = note_name(p, t0, F_BOUND);
        p->in_target_comp = save;
        if (rc) return -1;
        p->pos += 2;
        if (expression(p) < 0) return -1;
        return new_node(p, N_NAMED, t0);
    }
    int x = expression(p);
    if (x >= 0 && at_op(p, OP2(':', '='))) return fail_at(p, p->nd[x].t, "cannot use assignment expressions with this expression");
    return x;
}

static int star_expression(parser *p) {
    if (at_op(p, '*')) return starred(p);
    return expression(p);
}

/* star_expressions: star_expression (',' star_expression)* [','] */
static int star_expressions(parser *p) {
    long t0 = (long)p->pos;
    int x = star_expression(p);
    if (x < 0 || !at_op(p, ',')) return x;
    int tup = new_node(p, N_TUPLE, t0);
    add_child(p, tup, x);
    while (accept_op(p, ',')) {
        if (!starts_expr(cur(p))) break;
        int y = star_expression(p);
        if (y < 0) return -1;
        add_child(p, tup, y);
    }
    return tup;
}

/* yield_expr: 'yield' 'from' expression | 'yield' [star_expressions] */
static int yield_expr(parser *p) {
    long t0 = (long)p->pos;
    p->pos++;
    p->n_yield++;
    if (p->f.comp_depth)
        return fail_at(p, t0, p->f.comp_genexp ? "'yield' inside generator expression" : "'yield' inside list comprehension");
    if (!p->f.in_func) return fail_at(p, t0, "'yield' outside function");
    p->f.has_yield = 1;
    if (accept_kw(p, K_FROM)) {
        if (p->f.is_async && !p->f.in_lambda) return fail_at(p, t0, "'yield from' inside async function");
        if (expression(p) < 0) return -1;
    } else {
        if (starts_expr(cur(p))) {
            int x = star_expressions(p);
            if (x < 0 || no_bare_star(p, x)) return -1;
        }
    }
    return new_node(p, N_YIELD, t0);
}

/* ---- parameters -------------------------------------------------------------- */

/* parameters up to ')' (def) or ':' (lambda), with the rules of Python 3.11:
 * '/' once, after a parameter, before '*'; no non-default positional parameter
 * after a default; a bare '*' needs a named parameter after it; '**' last;
 * no duplicate names (recorded as parameters of the current scope). */
/* an annotation or default: evaluated in the enclosing scope */
static int outer_expression(parser *p, int outer) {
    int sc = p->cur_scope;
    p->cur_scope = outer;
    int x = expression(p);
    p->cur_scope = sc;
    return x;
}

static int parameters(parser *p, int lambda) {
    int outer = p->sc[p->cur_scope].parent;
    uint32_t close = lambda ? ':' : ')';
    int n = 0, slash = 0, star = 0, dstar = 0, saw_default = 0;
    while (!at_op(p, close)) {
        long ta = (long)p->pos;
        if (dstar) return fail_at(p, ta, "arguments cannot follow var-keyword argument");
        if (accept_op(p, '/')) {
            if (slash) return fail_at(p, ta, "/ may appear only once");
            if (star) return fail_at(p, ta, "/ must be ahead of *");
            if (!n) return fail_at(p, ta, "at least one argument must precede /");
            slash = 1;
        } else if (accept_op(p, '*')) {
            if (star) return fail_at(p, ta, "* argument may appear only once");
            star = 1;
            if (at_op(p, ',') || at_op(p, close)) {
                if (at_op(p, close) || (is_op(peek(p, 1), close)) || is_op(peek(p, 1), OP2('*', '*')))
                    return fail_at(p, ta, "named arguments must follow bare *");
            } else {
                if (!at_name(p)) return fail(p, "invalid syntax");
                if (note_name(p, (long)p->pos, F_PARAM)) return -1;
                p->pos++;
                if (!lambda && accept_op(p, ':')) {
                    if (at_op(p, '*')) { /* *args: *Ts */
                        p->pos++;
                        if (bitwise_or(p) < 0) return -1;
                    } else if (outer_expression(p, outer) < 0)
                        return -1;
                }
                if (at_op(p, '=')) return fail(p, "var-positional argument cannot have default value");
            }
        } else if (accept_op(p, OP2('*', '*'))) {
            if (!at_name(p)) return fail(p, "invalid syntax");
            if (note_name(p, (long)p->pos, F_PARAM)) return -1;
            p->pos++;
            if (!lambda && accept_op(p, ':'))
                if (outer_expression(p, outer) < 0) return -1;
            if (at_op(p, '=')) return fail(p, "var-keyword argument cannot have default value");
            dstar = 1;
        } else {
            if (!at_name(p)) return fail(p, "invalid syntax");
            if (note_name(p, ta, F_PARAM)) return -1;
            p->pos++;
            n++;
            if (!lambda && accept_op(p, ':'))
                if (outer_expression(p, outer) < 0) return -1;
            if (accept_op(p, '=')) {
                if (outer_expression(p, outer) < 0) return -1;
                if (!star) saw_default = 1;
            } else if (saw_default && !star) {
                return fail_at(p, ta, "non-default argument follows default argument");
            }
        }
        if (!accept_op(p, ',')) break;
    }
    return expect_op(p, close);
}

/* ---- statements ---------------------------------------------------------------- */

static int statement(parser *p);
static int block(parser *p);

/* Speculative parsing (with-parentheses, match): a mark to come back to. */
typedef struct {
    size_t pos, nn, nsc;
    int cur_scope, in_target_comp;
    fctx f;
} mark;
static mark get_mark(parser *p) {
    mark m = {p->pos, p->nn, p->nsc, p->cur_scope, p->in_target_comp, p->f};
    return m;
}
/* Back to m after a failed attempt; 0 if the failure was not recoverable (OOM). */
static int back_to(parser *p, mark m) {
    if (p->oom) return 0;
    for (size_t i = m.nsc; i < p->nsc; i++) free(p->sc[i].syms);
    p->pos = m.pos, p->nn = m.nn, p->nsc = m.nsc, p->cur_scope = m.cur_scope;
    p->in_target_comp = m.in_target_comp, p->f = m.f;
    p->failed = 0;
    return 1;
}

static int end_simple(parser *p) {
    const tok *k = cur(p);
    return k->type == T_NEWLINE || k->type == T_END || is_op(k, ';');
}

/* dotted_name: NAME ('.' NAME)* ; returns its first token */
static int dotted_name(parser *p) {
    if (!at_name(p)) return fail(p, "invalid syntax");
    p->pos++;
    while (accept_op(p, '.')) {
        if (!at_name(p)) return fail(p, "invalid syntax");
        p->pos++;
    }
    return 0;
}

static const char *const future_features[] = {"nested_scopes", "generators", "division", "absolute_import",
                                               "with_statement", "print_function", "unicode_literals",
                                               "barry_as_FLUFL", "generator_stop", "annotations", NULL};

static int import_stmt(parser *p, int *is_future) {
    if (accept_kw(p, K_IMPORT)) {
        do {
            long t0 = (long)p->pos;
            if (dotted_name(p)) return -1;
            if (accept_kw(p, K_AS)) {
                if (!at_name(p)) return fail(p, "invalid syntax");
                t0 = (long)p->pos++;
            }
            if (note_name(p, t0, F_BOUND)) return -1;
        } while (accept_op(p, ','));
        return 0;
    }
    long tf = (long)p->pos;
    p->pos++; /* from */
    int dots = 0;
    while (at_op(p, '.') || at_op(p, OP3('.', '.', '.'))) dots++, p->pos++;
    int future = 0;
    if (!at_kw(p, K_IMPORT)) {
        future = !dots && at_name(p) && tok_is(p, cur(p), "__future__") && !is_op(peek(p, 1), '.');
        if (dotted_name(p)) return -1;
    } else if (!dots) {
        return fail(p, "invalid syntax");
    }
    if (expect_kw(p, K_IMPORT)) return -1;
    if (future && (!p->future_ok || !p->module_level)) return fail_at(p, tf, "from __future__ imports must occur at the beginning of the file");
    *is_future = future;
    if (at_op(p, '*')) {
        if (future) return fail(p, "future feature * is not defined");
        if (!p->module_level && p->sc[p->cur_scope].kind != S_MODULE)
            return fail(p, "import * only allowed at module level");
        p->pos++;
        return 0;
    }
    int paren = accept_op(p, '(');
    for (;;) {
        if (!at_name(p)) return fail(p, "invalid syntax");
        long t0 = (long)p->pos++;
        if (future) {
            if (tok_is(p, &p->t[t0], "braces")) return fail_at(p, t0, "not a chance");
            int known = 0;
            for (int i = 0; future_features[i]; i++) known |= tok_is(p, &p->t[t0], future_features[i]);
            if (!known) return fail_at(p, t0, "future feature is not defined");
        }
        if (accept_kw(p, K_AS)) {
            if (!at_name(p)) return fail(p, "invalid syntax");
            t0 = (long)p->pos++;
        }
        if (note_name(p, t0, F_BOUND)) return -1;
        if (!accept_op(p, ',')) break;
        if (paren && at_op(p, ')')) break;
        if (!paren && !at_name(p)) return fail(p, "trailing comma not allowed without surrounding parentheses");
    }
    if (paren) return expect_op(p, ')');
    return 0;
}

/* assignment, annotated / augmented assignment, or expression statement */
static int expr_stmt(parser *p, int *is_docstring) {
    long t0 = (long)p->pos;
    int x = at_kw(p, K_YIELD) ? yield_expr(p) : star_expressions(p);
    if (x < 0) return -1;
    if (accept_op(p, ':')) {
        node *d = &p->nd[x];
        if (d->kind == N_TUPLE || d->kind == N_LIST) return fail_at(p, d->t, "only single target (not tuple) can be annotated");
        if (d->kind == N_NAME && !d->paren) {
            if (check_target(p, x, TG_ANN, 0)) return -1;
        } else if (check_target(p, x, TG_ANN, 0)) {
            return -1;
        }
        if (expression(p) < 0) return -1;
        if (accept_op(p, '=')) {
            int v = at_kw(p, K_YIELD) ? yield_expr(p) : star_expressions(p);
            if (v < 0 || no_bare_star(p, v)) return -1;
        }
        return 0;
    }
    const tok *k = cur(p);
    static const uint32_t aug[] = {OP2('+', '='), OP2('-', '='), OP2('*', '='), OP2('@', '='), OP2('/', '='),
                                   OP2('%', '='), OP2('&', '='), OP2('|', '='), OP2('^', '='), OP3('<', '<', '='),
                                   OP3('>', '>', '='), OP3('*', '*', '='), OP3('/', '/', '=')};
    for (size_t i = 0; i < sizeof aug / sizeof aug[0]; i++)
        if (is_op(k, aug[i])) {
            node *d = &p->nd[x];
            if (d->kind != N_NAME && d->kind != N_ATTR && d->kind != N_SUB)
                return fail_at(p, d->t, "illegal expression for augmented assignment");
            if (check_target(p, x, TG_AUG, 0)) return -1;
            p->pos++;
            int v = at_kw(p, K_YIELD) ? yield_expr(p) : star_expressions(p);
            if (v < 0 || no_bare_star(p, v)) return -1;
            return 0;
        }
    if (at_op(p, '=')) {
        while (accept_op(p, '=')) {
            if (p->nd[x].kind == N_YIELD) return fail_at(p, p->nd[x].t, "assignment to yield expression not possible");
            if (check_target(p, x, TG_ASSIGN, 0)) return -1;
            x = at_kw(p, K_YIELD) ? yield_expr(p) : star_expressions(p);
            if (x < 0) return -1;
        }
        return no_bare_star(p, x);
    }
    *is_docstring = p->nd[x].kind == N_CONST && p->t[t0].type == T_STRING && !p->nd[x].paren;
    return no_bare_star(p, x);
}

/* name list of global / nonlocal */
static int decl_stmt(parser *p, int flags) {
    long t0 = (long)p->pos;
    p->pos++;
    if (flags == F_NONLOCAL && p->sc[p->cur_scope].kind == S_MODULE)
        return fail_at(p, t0, "nonlocal declaration not allowed at module level");
    do {
        if (!at_name(p)) return fail(p, "invalid syntax");
        if (note_name(p, (long)p->pos, flags)) return -1;
        if (flags == F_NONLOCAL && p->sc[p->cur_scope].kind == S_CLASS) {
            /* a class directly in the module: no enclosing function can bind it */
            int q = p->sc[p->cur_scope].parent;
            while (q >= 0 && p->sc[q].kind == S_CLASS) q = p->sc[q].parent;
            if (q < 0 || p->sc[q].kind == S_MODULE) return fail(p, "no binding for nonlocal found");
        }
        p->pos++;
    } while (accept_op(p, ','));
    return 0;
}

static int simple_stmt(parser *p, int *is_docstring, int *is_future) {
    const tok *k = cur(p);
    long t0 = (long)p->pos;
    if (k->type == T_NAME) switch (k->kw) {
        case K_PASS: p->pos++; return 0;
        case K_BREAK:
        case K_CONTINUE:
            p->pos++;
            if (!p->f.in_loop)
                return fail_at(p, t0, k->kw == K_BREAK ? "'break' outside loop" : "'continue' not properly in loop");
            return 0;
        case K_RETURN:
            p->pos++;
            if (!p->f.in_func) return fail_at(p, t0, "'return' outside function");
            if (!end_simple(p)) {
                int x = star_expressions(p);
                if (x < 0 || no_bare_star(p, x)) return -1;
                if (p->f.return_value < 0) p->f.return_value = t0;
            }
            return 0;
        case K_RAISE:
            p->pos++;
            if (!end_simple(p)) {
                if (expression(p) < 0) return -1;
                if (accept_kw(p, K_FROM) && expression(p) < 0) return -1;
            }
            return 0;
        case K_GLOBAL: return decl_stmt(p, F_GLOBAL);
        case K_NONLOCAL: return decl_stmt(p, F_NONLOCAL);
        case K_DEL: {
            p->pos++;
            int x = star_expressions(p);
            if (x < 0) return -1;
            if (p->nd[x].kind == N_TUPLE && !p->nd[x].paren) {
                for (int c = p->nd[x].child; c >= 0; c = p->nd[c].next)
                    if (check_target(p, c, TG_DEL, 0)) return -1;
                return 0;
            }
            return check_target(p, x, TG_DEL, 0);
        }
        case K_ASSERT:
            p->pos++;
            if (expression(p) < 0) return -1;
            if (accept_op(p, ',') && expression(p) < 0) return -1;
            return 0;
        case K_IMPORT:
        case K_FROM: return import_stmt(p, is_future);
        default: break;
        }
    return expr_stmt(p, is_docstring);
}

/* simple_stmts: simple_stmt (';' simple_stmt)* [';'] NEWLINE */
static int simple_stmts(parser *p) {
    for (;;) {
        int doc = 0, fut = 0;
        if (simple_stmt(p, &doc, &fut)) return -1;
        if (p->module_level) {
            /* from __future__ may follow only the docstring and other future imports */
            if (!(fut || (doc && p->future_ok == 2))) p->future_ok = 0;
            else if (p->future_ok == 2) p->future_ok = 1;
        }
        if (!accept_op(p, ';')) break;
        if (cur(p)->type == T_NEWLINE || cur(p)->type == T_END) break;
    }
    if (cur(p)->type == T_END) return 0;
    if (cur(p)->type != T_NEWLINE) return fail(p, "invalid syntax");
    p->pos++;
    return 0;
}

/* block: NEWLINE INDENT statement+ DEDENT | simple_stmts */
static int block(parser *p) {
    if (cur(p)->type != T_NEWLINE) {
        int save = p->module_level;
        p->module_level = 0;
        int rc = simple_stmts(p);
        p->module_level = save;
        return rc;
    }
    p->pos++;
    while (cur(p)->type == T_NEWLINE) p->pos++;
    if (cur(p)->type != T_INDENT) return fail(p, "expected an indented block");
    p->pos++;
    int save = p->module_level;
    p->module_level = 0;
    int rc = 0;
    while (!rc && cur(p)->type != T_DEDENT && cur(p)->type != T_END) rc = statement(p);
    p->module_level = save;
    if (rc) return -1;
    if (cur(p)->type == T_DEDENT) p->pos++;
    return 0;
}

static int colon_block(parser *p) {
    if (expect_op(p, ':')) return -1;
    return block(p);
}

/* a loop body: break / continue allowed inside, not in the else clause */
static int loop_body(parser *p) {
    int save = p->f.in_loop;
    p->f.in_loop = 1;
    int rc = push_blocks(p, 1) || colon_block(p);
    p->f.blocks--;
    p->f.in_loop = save;
    if (rc) return -1;
    if (accept_kw(p, K_ELSE)) return colon_block(p);
    return 0;
}

static int if_stmt(parser *p) {
    p->pos++;
    if (named_expression(p) < 0 || colon_block(p)) return -1;
    while (accept_kw(p, K_ELIF))
        if (named_expression(p) < 0 || colon_block(p)) return -1;
    if (accept_kw(p, K_ELSE)) return colon_block(p);
    return 0;
}

static int for_stmt(parser *p, long tasync) {
    if (tasync >= 0 && !(p->f.in_func && p->f.is_async))
        return fail_at(p, tasync, "'async for' outside async function");
    p->pos++;
    int t = star_targets(p);
    if (t < 0 || check_target(p, t, TG_FOR, 0) || expect_kw(p, K_IN)) return -1;
    int x = star_expressions(p);
    if (x < 0 || no_bare_star(p, x)) return -1;
    return loop_body(p);
}

/* with_item: expression ['as' star_target] */
static int with_item(parser *p) {
    if (expression(p) < 0) return -1;
    if (accept_kw(p, K_AS)) {
        if (at_op(p, '*')) return fail(p, "starred assignment target must be in a list or tuple");
        int t = primary(p);
        if (t < 0 || check_target(p, t, TG_ASSIGN, 0)) return -1;
        if (!at_op(p, ',') && !at_op(p, ':') && !at_op(p, ')')) return fail(p, "invalid syntax");
    }
    return 0;
}

/* a with statement's body: one block per item */
static int with_body(parser *p, int items) {
    int rc = push_blocks(p, items) || colon_block(p);
    p->f.blocks -= items;
    return rc;
}

static int with_stmt(parser *p, long tasync) {
    if (tasync >= 0 && !(p->f.in_func && p->f.is_async))
        return fail_at(p, tasync, "'async with' outside async function");
    p->pos++;
    if (at_op(p, '(')) { /* with (a as b, c as d): ... */
        mark m = get_mark(p);
        p->pos++;
        int rc = 0, items = 0;
        do {
            if (at_op(p, ')')) break;
            rc = with_item(p);
            items++;
        } while (!rc && accept_op(p, ','));
        if (!rc && accept_op(p, ')') && at_op(p, ':')) return with_body(p, items);
        if (!back_to(p, m)) return -1;
    }
    int items = 0;
    do {
        if (with_item(p)) return -1;
        items++;
    } while (accept_op(p, ','));
    return with_body(p, items);
}

/* a block inside k more frame blocks */
static int colon_block_in(parser *p, int k) {
    int rc = push_blocks(p, k) || colon_block(p);
    p->f.blocks -= k;
    return rc;
}

/* The token after the block that starts at ':' t[i] (a look-ahead). */
static size_t skip_block(parser *p, size_t i) {
    i++;
    if (i + 1 < p->n && p->t[i].type == T_NEWLINE && p->t[i + 1].type == T_INDENT) {
        int depth = 0;
        for (i++; i < p->n; i++) {
            if (p->t[i].type == T_INDENT) depth++;
            else if (p->t[i].type == T_DEDENT && --depth == 0) return i + 1;
            else if (p->t[i].type == T_END || p->t[i].type == T_BAD) return i;
        }
        return i;
    }
    while (i < p->n && p->t[i].type != T_NEWLINE && p->t[i].type != T_END && p->t[i].type != T_BAD) i++;
    return i + (i < p->n && p->t[i].type == T_NEWLINE);
}

/* Does the try statement whose ':' is at p->pos have both handlers and a finally? */
static int try_has_both(parser *p) {
    size_t i = skip_block(p, p->pos);
    int handlers = 0;
    while (i < p->n && p->t[i].type == T_NAME && p->t[i].kw == K_EXCEPT) {
        int level = 0;
        while (i < p->n && !(level == 0 && is_op(&p->t[i], ':'))) {
            if (p->t[i].type == T_NEWLINE || p->t[i].type == T_END || p->t[i].type == T_BAD) return 0;
            if (p->t[i].type == T_OP && (p->t[i].op == '(' || p->t[i].op == '[' || p->t[i].op == '{')) level++;
            if (p->t[i].type == T_OP && (p->t[i].op == ')' || p->t[i].op == ']' || p->t[i].op == '}')) level--;
            i++;
        }
        if (i >= p->n) return 0;
        i = skip_block(p, i);
        handlers = 1;
    }
    if (!handlers) return 0;
    if (i + 1 < p->n && p->t[i].type == T_NAME && p->t[i].kw == K_ELSE) i = skip_block(p, i + 1);
    return i < p->n && p->t[i].type == T_NAME && p->t[i].kw == K_FINALLY;
}

/* try: the body is 1 block (2 with handlers and finally: try-finally around
 * try-except), a handler 2 (3), the finally body 1 */
static int try_stmt(parser *p) {
    p->pos++;
    int both = at_op(p, ':') && try_has_both(p);
    if (colon_block_in(p, 1 + both)) return -1;
    int n = 0, bare = 0, plain = 0, star = 0;
    while (at_kw(p, K_EXCEPT)) {
        long te = (long)p->pos++;
        if (bare) return fail_at(p, te, "default 'except:' must be last");
        int is_star = accept_op(p, '*');
        if (is_star) star = 1; else plain = 1;
        if (star && plain) return fail_at(p, te, "cannot have both 'except' and 'except*' on the same 'try'");
        if (at_op(p, ':')) {
            if (is_star) return fail(p, "expected one or more exception types");
            bare = 1;
        } else {
            if (expression(p) < 0) return -1;
            if (at_op(p, ',')) return fail(p, "multiple exception types must be parenthesized");
            if (accept_kw(p, K_AS)) {
                if (!at_name(p)) return fail(p, "invalid syntax");
                if (tok_is(p, cur(p), "__debug__")) return fail(p, "cannot assign to __debug__");
                if (note_name(p, (long)p->pos, F_BOUND)) return -1;
                p->pos++;
            }
        }
        n++;
        if (colon_block_in(p, 2 + both)) return -1;
    }
    if (n && accept_kw(p, K_ELSE) && colon_block_in(p, both)) return -1;
    if (accept_kw(p, K_FINALLY)) return colon_block_in(p, 1);
    if (!n) return fail(p, "expected 'except' or 'finally' block");
    return 0;
}

static int funcdef(parser *p, int is_async) {
    p->pos++; /* def */
    if (!at_name(p)) return fail(p, "invalid syntax");
    if (note_name(p, (long)p->pos, F_BOUND)) return -1;
    p->pos++;
    if (expect_op(p, '(')) return -1;
    int outer = p->cur_scope;
    if (push_scope(p, S_FUNC)) return -1;
    /* defaults and annotations are evaluated in the enclosing scope's context */
    if (parameters(p, 0)) return -1;
    if (accept_op(p, OP2('-', '>')) && expression(p) < 0) return -1;
    fctx save = p->f;
    fctx f = {1, is_async, 0, 0, 0, 0, 0, -1, 0};
    p->f = f;
    int rc = colon_block(p);
    if (!rc && is_async && p->f.has_yield && p->f.return_value >= 0)
        rc = fail_at(p, p->f.return_value, "'return' with value in async generator");
    p->f = save;
    p->cur_scope = outer;
    return rc;
}

static int classdef(parser *p) {
    p->pos++;
    if (!at_name(p)) return fail(p, "invalid syntax");
    if (note_name(p, (long)p->pos, F_BOUND)) return -1;
    p->pos++;
    if (accept_op(p, '(') && call_args(p)) return -1;
    int outer = p->cur_scope;
    if (push_scope(p, S_CLASS)) return -1;
    fctx save = p->f;
    fctx f = {0, 0, 0, 0, 0, 0, 0, -1, 0};
    p->f = f;
    int rc = colon_block(p);
    p->f = save;
    p->cur_scope = outer;
    return rc;
}

static int decorated(parser *p) {
    while (accept_op(p, '@')) {
        if (named_expression(p) < 0) return -1;
        if (cur(p)->type != T_NEWLINE) return fail(p, "invalid syntax");
        p->pos++;
    }
    if (at_kw(p, K_DEF)) return funcdef(p, 0);
    if (at_kw(p, K_CLASS)) return classdef(p);
    if (at_kw(p, K_ASYNC) && peek(p, 1)->kw == K_DEF && peek(p, 1)->type == T_NAME) {
        p->pos++;
        return funcdef(p, 1);
    }
    return fail(p, "invalid syntax");
}

/* ---- match ------------------------------------------------------------------ */

static int pattern(parser *p, int *irrefutable);

/* Names a case's pattern binds: p->pat[p->pat_case, p->pat_n), the range
 * [p->pat_skip_lo, p->pat_skip_hi) being an earlier alternative of the
 * or-pattern being read (the same names again are no duplicate). */
static int tok_same(parser *p, long a, long b) {
    return p->t[a].len == p->t[b].len &&
           !memcmp(p->src->buf + p->t[a].off, p->src->buf + p->t[b].off, p->t[a].len * sizeof(pep8_cp));
}

static int pattern_capture(parser *p, long ti) {
    for (size_t i = p->pat_case; i < p->pat_n; i++)
        if ((i < p->pat_skip_lo || i >= p->pat_skip_hi) && tok_same(p, p->pat[i], ti))
            return fail_at(p, ti, "multiple assignments to name in pattern");
    if (p->pat_n == p->pat_cap) {
        size_t nc = p->pat_cap ? p->pat_cap * 2 : 32;
        long *v = realloc(p->pat, nc * sizeof *v);
        if (!v) {
            p->oom = 1;
            return fail(p, "out of memory");
        }
        p->pat = v, p->pat_cap = nc;
    }
    p->pat[p->pat_n++] = ti;
    return note_name(p, ti, F_BOUND);
}

static int signed_number(parser *p) {
    accept_op(p, '-');
    if (cur(p)->type != T_NUMBER) return fail(p, "invalid syntax");
    p->pos++;
    if (at_op(p, '+') || at_op(p, '-')) { /* complex literal: real +/- imaginary */
        p->pos++;
        if (cur(p)->type != T_NUMBER) return fail(p, "invalid syntax");
        p->pos++;
    }
    return 0;
}

/* a pattern that can be a mapping key: literal or dotted value */
static int key_pattern(parser *p) {
    const tok *k = cur(p);
    if (k->type == T_STRING) {
        while (cur(p)->type == T_STRING) {
            int b, f;
            if (check_string(p, (long)p->pos, &b, &f)) return -1;
            if (f) return fail(p, "patterns may only match literals and attribute lookups");
            p->pos++;
        }
        return 0;
    }
    if (k->type == T_NUMBER || is_op(k, '-')) return signed_number(p);
    if (k->type == T_NAME && (k->kw == K_NONE || k->kw == K_TRUE || k->kw == K_FALSE)) {
        p->pos++;
        return 0;
    }
    if (at_name(p) && is_op(peek(p, 1), '.')) return dotted_name(p);
    return fail(p, "invalid syntax");
}

/* sequence items up to close (taken; ':' left for a case's open sequence):
 * patterns and at most one '*' NAME */
static int pattern_items(parser *p, uint32_t close, int stars) {
    while (!at_op(p, close) && !(close == ':' && at_kw(p, K_IF))) {
        if (at_op(p, '*')) {
            long ts = (long)p->pos++;
            if (++stars > 1) return fail_at(p, ts, "multiple starred names in sequence pattern");
            if (!at_name(p)) return fail(p, "invalid syntax");
            if (!tok_is(p, cur(p), "_") && pattern_capture(p, (long)p->pos)) return -1;
            p->pos++;
        } else {
            int irr;
            if (pattern(p, &irr)) return -1;
        }
        if (!accept_op(p, ',')) break;
    }
    if (close == ':') return 0;
    return expect_op(p, close);
}

static int closed_pattern(parser *p, int *irrefutable) {
    *irrefutable = 0;
    if (accept_op(p, '(')) {
        if (accept_op(p, ')')) return 0;
        int stars = 0, irr = 0;
        if (at_op(p, '*')) {
            p->pos++;
            stars = 1;
            if (!at_name(p)) return fail(p, "invalid syntax");
            if (!tok_is(p, cur(p), "_") && pattern_capture(p, (long)p->pos)) return -1;
            p->pos++;
        } else {
            if (pattern(p, &irr)) return -1;
            if (accept_op(p, ')')) { /* a group */
                *irrefutable = irr;
                return 0;
            }
        }
        if (accept_op(p, ')')) return 0;
        if (expect_op(p, ',')) return -1;
        return pattern_items(p, ')', stars);
    }
    if (accept_op(p, '[')) return pattern_items(p, ']', 0);
    if (accept_op(p, '{')) {
        while (!at_op(p, '}')) {
            if (accept_op(p, OP2('*', '*'))) {
                if (!at_name(p)) return fail(p, "invalid syntax");
                if (pattern_capture(p, (long)p->pos)) return -1;
                p->pos++;
            } else {
                int irr;
                if (key_pattern(p) || expect_op(p, ':') || pattern(p, &irr)) return -1;
            }
            if (!accept_op(p, ',')) break;
        }
        return expect_op(p, '}');
    }
    if (at_name(p)) {
        long t0 = (long)p->pos;
        if (dotted_name(p)) return -1;
        int dotted = (long)p->pos - t0 > 1;
        if (accept_op(p, '(')) { /* class pattern */
            int kw = 0;
            while (!at_op(p, ')')) {
                if (at_name(p) && is_op(peek(p, 1), '=')) {
                    p->pos += 2;
                    kw = 1;
                } else if (kw) {
                    return fail(p, "positional patterns follow keyword patterns");
                }
                int irr;
                if (pattern(p, &irr)) return -1;
                if (!accept_op(p, ',')) break;
            }
            return expect_op(p, ')');
        }
        if (dotted) return 0;
        *irrefutable = 1;
        if (tok_is(p, &p->t[t0], "_")) return 0;
        return pattern_capture(p, t0);
    }
    return key_pattern(p);
}

/* Do the names bound in [a0, a1) and [b0, b1) of p->pat form the same set? */
static int same_names(parser *p, size_t a0, size_t a1, size_t b0, size_t b1) {
    if (a1 - a0 != b1 - b0) return 0;
    for (size_t i = b0; i < b1; i++) {
        int found = 0;
        for (size_t j = a0; j < a1 && !found; j++) found = tok_same(p, p->pat[i], p->pat[j]);
        if (!found) return 0;
    }
    return 1;
}

/* pattern: closed ('|' closed)* ['as' NAME]; *irrefutable when it always
 * matches (a capture, '_', a group of one, an alternative of one). Every
 * alternative binds the same names; only the last may be irrefutable. */
static int pattern(parser *p, int *irrefutable) {
    size_t first = p->pat_n, first_end = 0;
    size_t lo = p->pat_skip_lo, hi = p->pat_skip_hi;
    int alt = 0, rc = 0;
    *irrefutable = 0;
    for (;;) {
        long ta = (long)p->pos;
        size_t start = p->pat_n;
        if (alt) p->pat_skip_lo = first, p->pat_skip_hi = first_end;
        int irr;
        rc = closed_pattern(p, &irr);
        p->pat_skip_lo = lo, p->pat_skip_hi = hi;
        if (rc) return -1;
        if (alt) {
            if (!same_names(p, first, first_end, start, p->pat_n))
                return fail_at(p, ta, "alternative patterns bind different names");
            p->pat_n = start;
        } else {
            first_end = p->pat_n;
        }
        if (!at_op(p, '|')) {
            *irrefutable = irr;
            break;
        }
        if (irr) return fail_at(p, ta, "name capture or wildcard makes remaining patterns unreachable");
        p->pos++;
        alt = 1;
    }
    if (accept_kw(p, K_AS)) {
        if (!at_name(p) || tok_is(p, cur(p), "_")) return fail(p, "invalid pattern target");
        if (pattern_capture(p, (long)p->pos)) return -1;
        p->pos++;
    }
    return 0;
}

/* "match" subject ':' NEWLINE INDENT ("case" patterns [guard] ':' block)+ DEDENT */
static int match_stmt(parser *p) {
    p->pos++;
    int x = at_op(p, '*') ? star_named_expression(p) : named_expression(p);
    if (x < 0) return -1;
    if (accept_op(p, ','))
        while (!at_op(p, ':'))
            if (star_named_expression(p) < 0 || (!accept_op(p, ',') && !at_op(p, ':'))) return fail(p, "invalid syntax");
    if (expect_op(p, ':')) return -1;
    if (cur(p)->type != T_NEWLINE || peek(p, 1)->type != T_INDENT) return fail(p, "expected an indented block");
    p->pos += 2;
    int n = 0;
    long last_irrefutable = -1;
    while (at_soft(p, "case")) {
        long tc = (long)p->pos++;
        p->pat_case = p->pat_n = 0;
        /* patterns: an open sequence (a, *b, c) or one pattern */
        int irr = 0;
        if (at_op(p, '*')) {
            if (pattern_items(p, ':', 0)) return -1;
        } else {
            if (pattern(p, &irr)) return -1;
            if (accept_op(p, ',')) {
                irr = 0;
                if (pattern_items(p, ':', 0)) return -1;
            }
        }
        int guard = 0;
        if (accept_kw(p, K_IF)) {
            guard = 1;
            if (named_expression(p) < 0) return -1;
        }
        if (irr && !guard && last_irrefutable < 0) last_irrefutable = tc;
        if (colon_block(p)) return -1;
        n++;
        if (last_irrefutable >= 0 && at_soft(p, "case"))
            return fail_at(p, last_irrefutable, "name capture or wildcard makes remaining patterns unreachable");
    }
    if (!n || cur(p)->type != T_DEDENT) return fail(p, "invalid syntax");
    p->pos++;
    return 0;
}

static int compound_or_simple(parser *p) {
    const tok *k = cur(p);
    if (is_op(k, '@')) return decorated(p);
    if (k->type != T_NAME) return simple_stmts(p);
    switch (k->kw) {
    case K_IF: return if_stmt(p);
    case K_WHILE:
        p->pos++;
        if (named_expression(p) < 0) return -1;
        return loop_body(p);
    case K_FOR: return for_stmt(p, -1);
    case K_WITH: return with_stmt(p, -1);
    case K_TRY: return try_stmt(p);
    case K_DEF: return funcdef(p, 0);
    case K_CLASS: return classdef(p);
    case K_ASYNC: {
        long ta = (long)p->pos;
        const tok *n = peek(p, 1);
        if (n->type == T_NAME && n->kw == K_DEF) {
            p->pos++;
            return funcdef(p, 1);
        }
        if (n->type == T_NAME && n->kw == K_FOR) {
            p->pos++;
            return for_stmt(p, ta);
        }
        if (n->type == T_NAME && n->kw == K_WITH) {
            p->pos++;
            return with_stmt(p, ta);
        }
        return fail(p, "invalid syntax");
    }
    default: break;
    }
    if (at_soft(p, "match") && starts_expr(peek(p, 1))) {
        mark m = get_mark(p);
        if (!match_stmt(p)) return 0;
        if (!back_to(p, m)) return -1;
    }
    return simple_stmts(p);
}

static int statement(parser *p) {
    while (cur(p)->type == T_NEWLINE) p->pos++; /* tokenize's NEWLINE after a blank last line */
    if (cur(p)->type == T_END || cur(p)->type == T_DEDENT) return 0;
    if (cur(p)->type == T_INDENT) return fail(p, "unexpected indent");
    int simple = !is_op(cur(p), '@') && !(cur(p)->type == T_NAME &&
                 (cur(p)->kw == K_IF || cur(p)->kw == K_WHILE || cur(p)->kw == K_FOR || cur(p)->kw == K_WITH ||
                  cur(p)->kw == K_TRY || cur(p)->kw == K_DEF || cur(p)->kw == K_CLASS || cur(p)->kw == K_ASYNC));
    int rc = compound_or_simple(p);
    if (!simple && p->module_level) p->future_ok = 0;
    if (!rc && p->pending_await >= 0)
        rc = fail_at(p, p->pending_await, p->f.in_func ? "'await' outside async function" : "'await' outside function");
    return rc;
}

/* ---- string literals and f-strings ---------------------------------------------- */

static int ishexd(pep8_cp c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* The escape at s[i] == '\\' in a non-raw literal: returns the index after it,
 * or -1 for an escape the codec refuses (\x, \u, \U need their digits, \N a
 * {name} of letters, digits, spaces and hyphens; whether the name exists is
 * not checked: "\N{NO SUCH NAME}" is accepted, compile() refuses it). */
static long check_escape(const pep8_cp *s, size_t n, size_t i, int bytes) {
    if (i + 1 >= n) return (long)n;
    pep8_cp c = s[i + 1];
    size_t need = c == 'x' ? 2 : (!bytes && c == 'u') ? 4 : (!bytes && c == 'U') ? 8 : 0;
    if (need) {
        uint32_t v = 0;
        for (size_t k = 0; k < need; k++) {
            if (i + 2 + k >= n || !ishexd(s[i + 2 + k])) return -1;
            v = v * 16 + (uint32_t)((s[i + 2 + k] <= '9') ? s[i + 2 + k] - '0' : (s[i + 2 + k] | 0x20) - 'a' + 10);
        }
        if (v > 0x10FFFF) return -1;
        return (long)(i + 2 + need);
    }
    if (!bytes && c == 'N') {
        if (i + 2 >= n || s[i + 2] != '{') return -1;
        size_t j = i + 3;
        while (j < n && s[j] != '}') {
            /* Unicode character names (and aliases) use only these: a name
             * made of them is accepted unchecked (no name database here) */
            pep8_cp c = s[j] | 0x20;
            if (!((c >= 'a' && c <= 'z') || (s[j] >= '0' && s[j] <= '9') || s[j] == ' ' || s[j] == '-')) return -1;
            j++;
        }
        if (j >= n || j == i + 3) return -1;
        return (long)j + 1;
    }
    return (long)(i + 2);
}

static int utf8_put(char *o, pep8_cp c) {
    if (c < 0x80) return o[0] = (char)c, 1;
    if (c < 0x800) return o[0] = (char)(0xC0 | c >> 6), o[1] = (char)(0x80 | (c & 63)), 2;
    if (c < 0x10000)
        return o[0] = (char)(0xE0 | c >> 12), o[1] = (char)(0x80 | (c >> 6 & 63)), o[2] = (char)(0x80 | (c & 63)), 3;
    o[0] = (char)(0xF0 | c >> 18), o[1] = (char)(0x80 | (c >> 12 & 63));
    o[2] = (char)(0x80 | (c >> 6 & 63)), o[3] = (char)(0x80 | (c & 63));
    return 4;
}

static int parse_module_tokens(parser *p, const char *text, size_t len, int fstring_expr);

/* Compiles one f-string field's expression as "(" expr ")" with the parser's context. */
static int fstring_expr(parser *p, long ti, const pep8_cp *e, size_t n) {
    int blank = 1;
    for (size_t i = 0; i < n; i++)
        if (!pep8_isspace(e[i])) blank = 0;
    if (blank) return fail_at(p, ti, "f-string: empty expression not allowed");
    char *buf = malloc(n * 4 + 3);
    if (!buf) {
        p->oom = 1;
        return fail_at(p, ti, "out of memory");
    }
    size_t w = 0;
    buf[w++] = '(';
    for (size_t i = 0; i < n; i++) w += (size_t)utf8_put(buf + w, e[i]);
    buf[w++] = ')';
    int rc = parse_module_tokens(p, buf, w, 1);
    free(buf);
    if (rc && !p->oom) { /* the error is inside the string token */
        p->err_row = p->t[ti].row, p->err_col = p->t[ti].col;
    }
    return rc;
}

/* f-string body s[*i, n) from a field's '{' (after it) to its '}' (after it). */
static int fstring_field(parser *p, long ti, const pep8_cp *s, size_t n, size_t *i, int raw, int level);

/* Literal text of an f-string at level 0 (whole body) or a format spec
 * (level >= 1, ends at an unmatched '}' which it leaves). */
static int fstring_literal(parser *p, long ti, const pep8_cp *s, size_t n, size_t *i, int raw, int level) {
    while (*i < n) {
        pep8_cp c = s[*i];
        if (!raw && c == '\\') {
            long e = check_escape(s, n, *i, 0);
            if (e < 0) return fail_at(p, ti, "(unicode error) 'unicodeescape' codec can't decode bytes");
            *i = (size_t)e;
            continue;
        }
        if (c == '{' || c == '}') {
            if (level == 0 && *i + 1 < n && s[*i + 1] == c) {
                *i += 2;
                continue;
            }
            if (c == '}') {
                if (level == 0) return fail_at(p, ti, "f-string: single '}' is not allowed");
                return 0;
            }
            (*i)++;
            if (fstring_field(p, ti, s, n, i, raw, level)) return -1;
            continue;
        }
        (*i)++;
    }
    if (level > 0) return fail_at(p, ti, "f-string: expecting '}'");
    return 0;
}

static int fstring_field(parser *p, long ti, const pep8_cp *s, size_t n, size_t *i, int raw, int level) {
    if (level >= 2) return fail_at(p, ti, "f-string: expressions nested too deeply");
    size_t a = *i, j = *i;
    pep8_cp quote = 0;
    int triple = 0, depth = 0;
    pep8_cp stack[200];
    for (; j < n; j++) {
        pep8_cp c = s[j];
        if (c == '\\') return fail_at(p, ti, "f-string expression part cannot include a backslash");
        if (quote) {
            if (c == quote && (!triple || (j + 2 < n && s[j + 1] == quote && s[j + 2] == quote))) {
                if (triple) j += 2;
                quote = 0;
            }
            continue;
        }
        if (c == '\'' || c == '"') {
            if (j + 2 < n && s[j + 1] == c && s[j + 2] == c) triple = 1, j += 2;
            else triple = 0;
            quote = c;
            continue;
        }
        if (c == '(' || c == '[' || c == '{') {
            if (depth >= 200) return fail_at(p, ti, "f-string: too many nested parenthesis");
            stack[depth++] = c;
            continue;
        }
        if (c == '#') return fail_at(p, ti, "f-string expression part cannot include '#'");
        if (depth == 0 && (c == '!' || c == ':' || c == '}' || c == '=' || c == '>' || c == '<')) {
            if (j + 1 < n && s[j + 1] == '=' && c != ':' && c != '}') {
                j++;
                continue;
            }
            if (c == '>' || c == '<') continue;
            break;
        }
        if (c == ')' || c == ']' || c == '}') {
            if (!depth) return fail_at(p, ti, "f-string: unmatched parenthesis");
            pep8_cp o = stack[--depth];
            if ((c == ')' && o != '(') || (c == ']' && o != '[') || (c == '}' && o != '{'))
                return fail_at(p, ti, "f-string: closing parenthesis does not match");
        }
    }
    (void)raw;
    if (quote) return fail_at(p, ti, "f-string: unterminated string");
    if (depth) return fail_at(p, ti, "f-string: unmatched parenthesis");
    if (j >= n) return fail_at(p, ti, "f-string: expecting '}'");
    if (fstring_expr(p, ti, s + a, j - a)) return -1;
    if (s[j] == '=') { /* self-documenting f"{x=}" */
        j++;
        while (j < n && pep8_isspace(s[j])) j++;
        if (j >= n) return fail_at(p, ti, "f-string: expecting '}'");
    }
    if (s[j] == '!') {
        j++;
        if (j >= n) return fail_at(p, ti, "f-string: expecting '}'");
        if (s[j] != 's' && s[j] != 'r' && s[j] != 'a') return fail_at(p, ti, "f-string: invalid conversion character");
        j++;
        if (j >= n || (s[j] != ':' && s[j] != '}')) return fail_at(p, ti, "f-string: expecting '}'");
    }
    if (j < n && s[j] == ':') {
        j++;
        if (fstring_literal(p, ti, s, n, &j, raw, level + 1)) return -1;
    }
    if (j >= n || s[j] != '}') return fail_at(p, ti, "f-string: expecting '}'");
    *i = j + 1;
    return 0;
}

/* One STRING token: prefix, escapes, bytes content, f-string fields. */
static int check_string(parser *p, long ti, int *is_bytes, int *is_f) {
    const tok *k = &p->t[ti];
    const pep8_cp *s = p->src->buf + k->off;
    size_t n = k->len, q = 0;
    int raw = 0, bytes = 0, f = 0;
    while (q < n && s[q] != '\'' && s[q] != '"') {
        pep8_cp c = s[q++] | 0x20;
        raw |= c == 'r', bytes |= c == 'b', f |= c == 'f';
    }
    *is_bytes = bytes, *is_f = f;
    size_t ql = q + 2 < n && s[q + 1] == s[q] && s[q + 2] == s[q] && n - q >= 6 ? 3 : 1;
    const pep8_cp *body = s + q + ql;
    size_t bn = n - q - 2 * ql;
    if (bytes)
        for (size_t i = 0; i < bn; i++)
            if (body[i] > 127) return fail_at(p, ti, "bytes can only contain ASCII literal characters");
    if (f) {
        size_t i = 0;
        return fstring_literal(p, ti, body, bn, &i, raw, 0);
    }
    if (!raw)
        for (size_t i = 0; i < bn; i++)
            if (body[i] == '\\') {
                long e = check_escape(body, bn, i, bytes);
                if (e < 0) return fail_at(p, ti, bytes ? "(value error) invalid \\x escape"
                                                       : "(unicode error) 'unicodeescape' codec can't decode bytes");
                i = (size_t)e - 1;
            }
    return 0;
}

/* ---- tokens from the pep8 tokenizer ------------------------------------------------ */

static int push_tok(parser *p, const tok *k) {
    tok *v = pst_grow(p->t, &p->cap, p->n + 1, sizeof *v, 256, NULL);
    if (!v) return -1;
    p->t = v;
    p->t[p->n++] = *k;
    return 0;
}

/* The C tokenizer's indentation check: columns with tabs to 8 and to 1 must
 * order the same way (else TabError). ind/alt: stacks of *nind entries. */
static int tab_check(const pep8_src *s, size_t loff, long *ind, long *alt, int *nind) {
    long col = 0, altcol = 0;
    for (size_t i = loff; i < s->n; i++) {
        pep8_cp c = s->buf[i];
        if (c == ' ') col++, altcol++;
        else if (c == '\t') col = (col / 8 + 1) * 8, altcol++;
        else if (c == '\f') col = altcol = 0;
        else break;
    }
    int t = *nind - 1;
    if (col == ind[t]) return altcol != alt[t];
    if (col > ind[t]) {
        if (altcol <= alt[t]) return 1;
        if (*nind < 128) ind[*nind] = col, alt[*nind] = altcol, (*nind)++;
        return 0;
    }
    while (t > 0 && col < ind[t]) t--;
    *nind = t + 1;
    return col == ind[t] && altcol != alt[t];
}

/* One pep8 token as a parser token in *k; the message when it is bad (a
 * character that starts no token, an unterminated string, a name that is no
 * identifier, too deep indentation or brackets), else NULL. */
static const char *convert_token(const pep8_src *src, const pep8_tok *t, tok *k, int *indents, int *level) {
    tok z = {0, 0, 0, t->srow, t->scol, t->toff, t->tlen, NULL};
    *k = z;
    const pep8_cp *x = src->buf + t->toff;
    const char *bad = NULL;
    switch (t->type) {
    case PT_NAME:
        k->type = T_NAME;
        for (size_t i = 1; i < t->tlen; i++)
            if (!pep8_isidcont(x[i])) bad = "invalid character in identifier";
        if (t->tlen <= 8 && x[0] < 128)
            for (int w = 1; w <= K_YIELD; w++) {
                size_t wl = strlen(keywords[w]), i = 0;
                if (wl != t->tlen) continue;
                while (i < wl && x[i] == (pep8_cp)keywords[w][i]) i++;
                if (i == wl) k->kw = w;
            }
        break;
    case PT_NUMBER: k->type = T_NUMBER; break;
    case PT_STRING: k->type = T_STRING; break;
    case PT_NEWLINE: k->type = T_NEWLINE; break;
    case PT_INDENT:
        k->type = T_INDENT;
        if (++*indents >= 100) bad = "too many levels of indentation";
        break;
    case PT_DEDENT: k->type = T_DEDENT, (*indents)--; break;
    case PT_ENDMARKER: k->type = T_END; break;
    case PT_OP:
        k->type = T_OP;
        if (t->tlen > 3) bad = "invalid syntax";
        for (size_t i = 0; i < t->tlen && i < 3; i++) {
            if (x[i] > 127) bad = "invalid character";
            k->op |= (uint32_t)(x[i] & 0x7f) << (8 * i);
        }
        if (k->op == '(' || k->op == '[' || k->op == '{') {
            if (++*level > 200) bad = "too many nested parentheses";
        } else if (k->op == ')' || k->op == ']' || k->op == '}') {
            (*level)--;
        }
        break;
    default: /* ERRORTOKEN: a character that starts no token, an unterminated string */
        bad = (x[0] == '\'' || x[0] == '"' || t->tlen > 1) ? "unterminated string literal" : "invalid character";
        break;
    }
    return bad;
}

/* Tokenizes src into p->t (comments and NL dropped); 0, or -1 with the error set. */
static int load_tokens(parser *p, const pep8_src *src, pst_error *err) {
    pep8_tokenizer tk;
    if (pep8_tokenizer_init(&tk, src, err)) {
        p->oom = 1;
        return -1;
    }
    long ind[128] = {0}, alt[128] = {0};
    int nind = 1, line_start = 1, level = 0, indents = 0, rc = 0;
    pep8_tok t;
    int r;
    while (!rc && (r = pep8_tokenizer_next(&tk, &t, err)) == 1) {
        if (t.type == PT_COMMENT || t.type == PT_NL) continue;
        tok k;
        const char *bad = convert_token(src, &t, &k, &indents, &level);
        if (!bad && line_start && k.type != T_INDENT && k.type != T_DEDENT && k.type != T_NEWLINE &&
            k.type != T_END && tab_check(src, t.loff, ind, alt, &nind))
            bad = "inconsistent use of tabs and spaces in indentation";
        if (k.type != T_INDENT && k.type != T_DEDENT) line_start = k.type == T_NEWLINE;
        if (bad) k.type = T_BAD, k.bad = bad;
        if (push_tok(p, &k)) {
            p->oom = 1;
            rc = -1;
        }
        if (bad) break; /* nothing after it is read */
    }
    if (!rc && r < 0) p->oom = 1, rc = -1;
    if (!rc && tk.error && (p->n == 0 || p->t[p->n - 1].type != T_BAD)) {
        p->tok_err = 1;
        memcpy(p->tok_msg, tk.errmsg, sizeof p->tok_msg);
        tok k = {T_BAD, 0, 0, tk.err_row, tk.err_col, 0, 0, p->tok_msg};
        if (push_tok(p, &k)) p->oom = 1, rc = -1;
    }
    pep8_tokenizer_free(&tk);
    if (!rc && (p->n == 0 || p->t[p->n - 1].type != T_END)) {
        long row = p->n ? p->t[p->n - 1].row : 1;
        tok k = {T_END, 0, 0, row, 0, 0, 0, NULL};
        if (push_tok(p, &k)) p->oom = 1, rc = -1;
    }
    if (rc && p->oom) pst_fail_oom(err, "the tokens of a Python text");
    return rc;
}

/* Parses text as a module (fstring_expr 0) or as one f-string field
 * "(expr)" in the current context; the parser's tokens are swapped meanwhile. */
static int parse_module_tokens(parser *p, const char *text, size_t len, int fstring_expr) {
    pep8_src src;
    pst_error err = {0};
    int d = pep8_src_decode_utf8(&src, text, len, &err);
    if (d < 0) {
        p->oom = 1;
        return fail(p, "out of memory");
    }
    if (d > 0) return fail(p, "invalid UTF-8");
    parser saved = *p;
    p->src = &src, p->t = NULL, p->n = p->cap = p->pos = 0;
    int rc = load_tokens(p, &src, &err);
    if (!rc && fstring_expr) {
        p->in_fstring++;
        int x = star_expressions(p);
        rc = x < 0 ? -1 : 0;
        while (!rc && cur(p)->type == T_NEWLINE) p->pos++;
        if (!rc && cur(p)->type != T_END) rc = fail(p, "f-string: invalid syntax");
        p->in_fstring--;
    } else if (!rc) {
        while (!rc && cur(p)->type != T_END) {
            if (cur(p)->type == T_DEDENT) {
                p->pos++;
                continue;
            }
            rc = statement(p);
        }
        if (!rc) rc = resolve_nonlocals(p);
    }
    free(p->t);
    p->src = saved.src, p->t = saved.t, p->n = saved.n, p->cap = saved.cap, p->pos = saved.pos;
    pep8_src_free(&src);
    return rc;
}

int pysyntax_check(const char *text, size_t len, pysyntax_result *r, pst_error *err) {
    memset(r, 0, sizeof *r);
    r->ok = 1;
    const char *nul = memchr(text, 0, len);
    if (nul) {
        r->ok = 0, r->kind = "null", r->row = 1;
        for (const char *c = text; c < nul; c++) r->row += *c == '\n';
        snprintf(r->msg, sizeof r->msg, "source code string cannot contain null bytes");
        return 0;
    }
    parser p;
    memset(&p, 0, sizeof p);
    p.cur_scope = -1;
    p.f.return_value = -1;
    p.pending_await = -1;
    p.f.blocks = 0;
    p.future_ok = 2;
    p.module_level = 1;
    int rc = push_scope(&p, S_MODULE);
    if (!rc) rc = parse_module_tokens(&p, text, len, 0);
    for (size_t i = 0; i < p.nsc; i++) free(p.sc[i].syms);
    free(p.sc);
    free(p.nd);
    free(p.pat);
    if (p.oom) return pst_fail_oom(err, "checking a Python text");
    if (rc || p.failed) {
        r->ok = 0;
        r->row = p.err_row, r->col = p.err_col;
        r->kind = p.err_kind ? p.err_kind : "syntax";
        snprintf(r->msg, sizeof r->msg, "%s", p.msg);
        if (!strcmp(p.msg, "invalid UTF-8")) r->kind = "utf-8";
    }
    return 0;
}

/* ---- the python-compiles scorer -------------------------------------------------- */

/* Byte offset of (row 1-based, col 0-based in characters) in text. */
static size_t byte_offset(const char *text, size_t len, long row, long col) {
    size_t o = 0;
    for (long r = 1; r < row && o < len; r++) {
        const char *nl = memchr(text + o, '\n', len - o);
        o = nl ? (size_t)(nl - text) + 1 : len;
    }
    for (long c = 0; c < col && o < len && text[o] != '\n'; c++) {
        o++;
        while (o < len && ((unsigned char)text[o] & 0xC0) == 0x80) o++;
    }
    return o;
}

/* b(x) = 1 iff compile(c + x) accepts it (c: the context when given, else
 * empty); a finding typed by the error's kind at the first error's character
 * (offsets within x; an error inside the context points at x's start). */
static int python_compiles_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                                 const char *const *contexts, int want_findings, pst_score *out, pst_error *err) {
    for (size_t i = 0; i < n; i++) {
        const char *c = contexts && contexts[i] ? contexts[i] : "";
        size_t cl = strlen(c), len = cl + lens[i];
        char *src = pst_malloc(len + 1, err);
        if (!src) return -1;
        memcpy(src, c, cl);
        memcpy(src + cl, texts[i], lens[i]);
        pysyntax_result r;
        int rc = pysyntax_check(src, len, &r, err);
        if (rc == 0) {
            out[i].score = r.ok;
            if (!r.ok && want_findings) {
                size_t o = byte_offset(src, len, r.row, r.col);
                o = o > cl ? o - cl : 0;
                rc = pst_score_add_finding(&out[i], r.kind, o, o < lens[i] ? o + 1 : o, 1.0, err);
            }
        }
        free(src);
        if (rc < 0) return pst_fail_context(err, "scorer '%s': text %zu", s->spec, i);
    }
    return 0;
}

static const pst_scorer_ops python_compiles_ops = {python_compiles_score, NULL};

int pst_scorer_create_python_compiles(const char *spec, size_t len, pst_scorer **out, pst_error *err) {
    *out = NULL;
    pst_scorer *s = pst_scorer_new(spec, len, err);
    if (!s) return -1;
    s->ops = &python_compiles_ops;
    s->kind = PST_SCORER_POINTWISE;
    *out = s;
    return 0;
}
