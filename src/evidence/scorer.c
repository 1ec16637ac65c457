/* The scorer interface: spec parsing, composition (products, not:, below:,
 * above:), the pep8 wrapper, and the generic parts of scoring (log b, φ for
 * one-dimensional scorers, per-segment scores, findings order).
 *
 * Grammar of a spec:
 *   spec   := factor ('&' factor)*            b(x) = Π b_i(x), factors pointwise
 *   factor := 'not:' factor                   b = 1 − b_factor
 *           | 'below:' T ':' factor           b = [s(x) < T]
 *           | 'above:' T ':' factor           b = [s(x) > T]
 *           | 'pep8' | 'pii' | 'pii:' TYPE(,TYPE)* | 'toxicity'
 *           | 'contains:' W(,W)* | 'length:' MIN ':' MAX | 'features:' FILE
 *           | 'python-compiles'
 *           | 'regex:' PATTERN | 'external:' CMD | 'rm:' DIR   (these take the rest of the spec)
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence/scorer_internal.h"
#include "posterior/pep8.h"

/* ---- small helpers ------------------------------------------------------ */

size_t pst_utf8_chars(const char *text, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

pst_scorer *pst_scorer_new(const char *spec, size_t spec_len, pst_error *err) {
    pst_scorer *s = pst_calloc(1, sizeof *s, err);
    if (!s) return NULL;
    s->spec = pst_strndup(spec, spec_len, err);
    if (!s->spec) {
        free(s);
        return NULL;
    }
    s->k = 1;
    s->timeout = PST_SCORER_DEFAULT_TIMEOUT;
    return s;
}

int pst_scorer_make(const char *spec, size_t spec_len, const pst_scorer_ops *ops, void *impl,
                    pst_scorer_kind kind, pst_scorer **out, pst_error *err) {
    *out = NULL;
    pst_scorer *s = impl ? pst_scorer_new(spec, spec_len, err) : NULL;
    if (!s) {
        if (impl) ops->destroy(impl);
        return -1;
    }
    s->ops = ops;
    s->impl = impl;
    s->kind = kind;
    *out = s;
    return 0;
}

void pst_scorers_free(pst_scorer **v, size_t n) {
    for (size_t i = 0; v && i < n; i++) pst_scorer_free(v[i]);
    free(v);
}

void pst_scorer_free(pst_scorer *s) {
    if (!s) return;
    if (s->ops && s->ops->destroy) s->ops->destroy(s->impl);
    if (s->names)
        for (size_t i = 0; i < s->k; i++) free(s->names[i]);
    free(s->names);
    free(s->spec);
    free(s);
}

const char *pst_scorer_spec(const pst_scorer *s) { return s->spec; }
pst_scorer_kind pst_scorer_kind_of(const pst_scorer *s) { return s->kind; }
size_t pst_scorer_n_features(const pst_scorer *s) { return s->k; }
int pst_scorer_needs_context(const pst_scorer *s) {
    int needs = s->needs_context;
    for (size_t i = 0; !needs && i < s->n_parts; i++) needs = pst_scorer_needs_context(s->parts[i]);
    return needs;
}
const char *pst_scorer_feature_name(const pst_scorer *s, size_t i) {
    if (i >= s->k) return NULL;
    return s->names ? s->names[i] : s->spec;
}
void pst_scorer_set_timeout(pst_scorer *s, double seconds) {
    if (!(seconds > 0)) return;
    s->timeout = seconds;
    for (size_t i = 0; i < s->n_parts; i++) pst_scorer_set_timeout(s->parts[i], seconds);
}

int pst_score_add_finding(pst_score *r, const char *type, size_t start, size_t end, double rating,
                          pst_error *err) {
    size_t n = r->n_findings;
    if ((n & (n - 1)) == 0) { /* capacity is the next power of two */
        pst_finding *v = pst_realloc(r->findings, (n ? 2 * n : 1) * sizeof *v, err);
        if (!v) return -1;
        r->findings = v;
    }
    pst_finding *f = &r->findings[n];
    size_t tl = strlen(type);
    if (tl > sizeof f->type - 1) tl = sizeof f->type - 1;
    memcpy(f->type, type, tl);
    f->type[tl] = 0;
    f->start = start;
    f->end = end;
    f->rating = rating;
    r->n_findings = n + 1;
    return 0;
}

int pst_score_append_findings(pst_score *dst, const pst_score *src, pst_error *err) {
    for (size_t f = 0; f < src->n_findings; f++) {
        const pst_finding *x = &src->findings[f];
        if (pst_score_add_finding(dst, x->type, x->start, x->end, x->rating, err) < 0) return -1;
    }
    return 0;
}

void pst_score_clear(pst_score *r) {
    if (!r) return;
    free(r->features);
    free(r->segments);
    free(r->segment_scores);
    free(r->findings);
    memset(r, 0, sizeof *r);
    r->log_b = NAN;
}

static void free_findings(pst_score *r) {
    free(r->findings);
    r->findings = NULL;
    r->n_findings = 0;
}

/* ---- composition: product, not, below/above ----------------------------- */

typedef struct {
    pst_scorer **child;
    size_t n;
    int op; /* 0 product, 1 not, 2 below, 3 above */
    double threshold;
} compose_impl;

static void compose_destroy(void *p) {
    compose_impl *c = p;
    if (!c) return;
    pst_scorers_free(c->child, c->n);
    free(c);
}

static int compose_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                         const char *const *contexts, int want_findings, pst_score *out,
                         pst_error *err) {
    compose_impl *c = s->impl;
    pst_score *tmp = pst_calloc(n, sizeof *tmp, err);
    if (!tmp) return -1;
    for (size_t i = 0; i < n; i++) out[i].score = c->op == 0 ? 1.0 : 0.0;
    int rc = 0;
    for (size_t j = 0; j < c->n && rc == 0; j++) {
        pst_scorer *ch = c->child[j];
        memset(tmp, 0, n * sizeof *tmp);
        if (ch->ops->score(ch, n, texts, lens, contexts, want_findings, tmp, err) < 0) {
            pst_fail_context(err, "scorer '%s'", s->spec);
            rc = -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (rc == 0) {
                double v = tmp[i].score;
                switch (c->op) {
                case 0: out[i].score *= v; break;
                case 1: out[i].score = 1.0 - v; break;
                case 2: out[i].score = v < c->threshold; break;
                default: out[i].score = v > c->threshold; break;
                }
                /* not: the child's findings are what the text lacks; keep them
                 * only for products and thresholds */
                if (c->op != 1) rc = pst_score_append_findings(&out[i], &tmp[i], err);
            }
            pst_score_clear(&tmp[i]);
        }
    }
    free(tmp);
    return rc;
}

static const pst_scorer_ops compose_ops = {compose_score, compose_destroy};

static int make_compose(const char *spec, size_t len, int op, double threshold, pst_scorer **child,
                        size_t n_child, pst_scorer **out, pst_error *err) {
    compose_impl *c = pst_calloc(1, sizeof *c, err);
    if (!c) {
        pst_scorers_free(child, n_child);
        return -1;
    }
    c->child = child;
    c->n = n_child;
    c->op = op;
    c->threshold = threshold;
    if (pst_scorer_make(spec, len, &compose_ops, c, PST_SCORER_POINTWISE, out, err) < 0) return -1;
    (*out)->parts = c->child;
    (*out)->n_parts = c->n;
    return 0;
}

/* ---- pep8 ---------------------------------------------------------------- */

/* A finding's position and index, sorted by (row, col), ties in the checker's order. */
typedef struct {
    int row, col;
    size_t j;
} rowcol;

static int by_row_col(const void *a, const void *b) {
    const rowcol *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* Adds pycodestyle's (row, col) positions (1-based, col in characters) as
 * findings: the span is the character pointed at (empty at the end of the
 * text; a col past the line's end points at its newline). One sweep over
 * the text in (row, col) order with a cursor: O(len + nf log nf) -- walking
 * from the line start per finding was quadratic on long lines. */
static int add_pep8_findings(const char *text, size_t len, const pst_pep8_finding *f, size_t nf,
                             pst_score *out, pst_error *err) {
    rowcol *order = pst_malloc((nf ? nf : 1) * sizeof *order, err);
    if (!order) return -1;
    for (size_t j = 0; j < nf; j++) order[j] = (rowcol){f[j].row, f[j].col, j};
    qsort(order, nf, sizeof *order, by_row_col);
    size_t p = 0; /* byte offset of character c of row `row` */
    int row = 1, c = 1;
    int rc = 0;
    for (size_t k = 0; k < nf && rc == 0; k++) {
        const pst_pep8_finding *x = &f[order[k].j];
        while (row < x->row && p < len) { /* to the next line's start */
            const char *nl = memchr(text + p, '\n', len - p);
            p = nl ? (size_t)(nl - text) + 1 : len;
            row++;
            c = 1;
        }
        for (; c < x->col && p < len && text[p] != '\n'; c++) {
            p++;
            while (p < len && ((unsigned char)text[p] & 0xC0) == 0x80) p++;
        }
        rc = pst_score_add_finding(out, x->code, p, p < len ? p + 1 : p, 1.0, err);
    }
    free(order);
    return rc;
}

/* score = violations per character; findings typed by code (E225 ...), the
 * span is the character pycodestyle points at. */
static int pep8_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                      const char *const *contexts, int want_findings, pst_score *out,
                      pst_error *err) {
    pst_pep8_options o;
    pst_pep8_options_default(&o);
    for (size_t i = 0; i < n; i++) {
        pst_pep8_finding *f = NULL;
        size_t nf = 0;
        if (pst_pep8_check(texts[i], lens[i], &o, &f, &nf, err) < 0)
            return pst_fail_context(err, "scorer 'pep8': text %zu", i);
        size_t chars = pst_utf8_chars(texts[i], lens[i]);
        out[i].score = chars ? (double)nf / (double)chars : 0.0;
        int rc = want_findings ? add_pep8_findings(texts[i], lens[i], f, nf, &out[i], err) : 0;
        pst_pep8_findings_free(f, nf);
        if (rc < 0) return -1;
    }
    return 0;
}

static const pst_scorer_ops pep8_ops = {pep8_score, NULL};

/* ---- parsing ------------------------------------------------------------- */

static int starts(const char *s, const char *end, const char *prefix) {
    size_t n = strlen(prefix);
    return (size_t)(end - s) >= n && memcmp(s, prefix, n) == 0;
}

static const char *find_amp(const char *s, const char *end) {
    const char *a = memchr(s, '&', (size_t)(end - s));
    return a ? a : end;
}

static int parse_factor(const char *s, const char *end, const pst_spec_ctx *ctx, const char **stop,
                        pst_scorer **out, pst_error *err);

static int parse_threshold(const char *s, const char *end, const pst_spec_ctx *ctx, const char **stop,
                           int op, pst_scorer **out, pst_error *err) {
    const char *name = op == 2 ? "below" : "above";
    const char *p = s + 6; /* after "below:" / "above:" */
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (!colon)
        return pst_fail(err, "scorer '%.*s': %s:T:SPEC needs a threshold and a spec",
                        (int)(end - s), s, name);
    char num[64];
    size_t nl = (size_t)(colon - p);
    if (nl == 0 || nl >= sizeof num)
        return pst_fail(err, "scorer '%.*s': bad threshold '%.*s'", (int)(end - s), s, (int)nl, p);
    memcpy(num, p, nl);
    num[nl] = 0;
    char *ep;
    errno = 0;
    double t = strtod(num, &ep);
    if (*ep || errno || !isfinite(t))
        return pst_fail(err, "scorer '%.*s': threshold '%s' is not a finite number",
                        (int)(end - s), s, num);
    pst_scorer *inner;
    if (parse_factor(colon + 1, end, ctx, stop, &inner, err) < 0) return -1;
    pst_scorer **child = pst_malloc(sizeof *child, err);
    if (!child) {
        pst_scorer_free(inner);
        return -1;
    }
    child[0] = inner;
    return make_compose(s, (size_t)(*stop - s), op, t, child, 1, out, err);
}

static int parse_factor(const char *s, const char *end, const pst_spec_ctx *outer, const char **stop,
                        pst_scorer **out, pst_error *err) {
    *out = NULL;
    pst_spec_ctx in = *outer, *ctx = &in;
    if (++in.depth > PST_SCORER_MAX_DEPTH)
        return pst_fail(err, "scorer '%.*s%s': nested more than %d levels deep (not:, below:, "
                        "above:, features files)", (int)(end - s > 40 ? 40 : end - s), s,
                        end - s > 40 ? "..." : "", PST_SCORER_MAX_DEPTH);
    if (starts(s, end, "not:")) {
        pst_scorer *inner;
        if (parse_factor(s + 4, end, ctx, stop, &inner, err) < 0) return -1;
        if (inner->kind != PST_SCORER_POINTWISE) {
            pst_fail(err, "scorer '%.*s': not: needs a pointwise spec (b in {0,1}); '%s' is not "
                     "one (wrap it: below:T:%s)", (int)(*stop - s), s, inner->spec, inner->spec);
            pst_scorer_free(inner);
            return -1;
        }
        pst_scorer **child = pst_malloc(sizeof *child, err);
        if (!child) {
            pst_scorer_free(inner);
            return -1;
        }
        child[0] = inner;
        return make_compose(s, (size_t)(*stop - s), 1, 0, child, 1, out, err);
    }
    if (starts(s, end, "below:")) return parse_threshold(s, end, ctx, stop, 2, out, err);
    if (starts(s, end, "above:")) return parse_threshold(s, end, ctx, stop, 3, out, err);
    if (starts(s, end, "regex:")) {
        *stop = end;
        return pst_scorer_create_regex(s, (size_t)(end - s), s + 6, (size_t)(end - s - 6), out, err);
    }
    if (starts(s, end, "rm:")) { /* a directory name may hold '&': rm: takes the rest of the spec */
        *stop = end;
        char *dir = pst_strndup(s + 3, (size_t)(end - s - 3), err);
        if (!dir) return -1;
        int rc = pst_scorer_create_rm(s, (size_t)(end - s), dir, out, err);
        free(dir);
        return rc;
    }
    if (starts(s, end, "external:")) {
        *stop = end;
        char *cmd = pst_strndup(s + 9, (size_t)(end - s - 9), err);
        if (!cmd) return -1;
        int rc = pst_scorer_create_external(s, (size_t)(end - s), cmd, ctx->timeout, out, err);
        free(cmd);
        return rc;
    }
    const char *e = find_amp(s, end);
    *stop = e;
    size_t n = (size_t)(e - s);
    pst_scorer *ctx_scorer;
    int context_rule = pst_scorer_create_context(s, n, &ctx_scorer, err);
    if (context_rule != 0) {
        *out = ctx_scorer;
        return context_rule > 0 ? 0 : -1;
    }
    if (n == 4 && memcmp(s, "pep8", 4) == 0) {
        pst_scorer *sc = pst_scorer_new(s, n, err);
        if (!sc) return -1;
        sc->ops = &pep8_ops;
        sc->kind = PST_SCORER_SCORE;
        sc->segment_from_findings = 1;
        *out = sc;
        return 0;
    }
    if (n == 15 && memcmp(s, "python-compiles", 15) == 0) return pst_scorer_create_python_compiles(s, n, out, err);
    if (n == 3 && memcmp(s, "pii", 3) == 0) return pst_scorer_create_pii(s, n, NULL, out, err);
    if (starts(s, e, "pii:")) {
        char *types = pst_strndup(s + 4, n - 4, err);
        if (!types) return -1;
        int rc = *types ? pst_scorer_create_pii(s, n, types, out, err)
                        : pst_fail(err, "scorer '%.*s': expected pii:TYPE[,TYPE...]", (int)n, s);
        free(types);
        return rc;
    }
    if (n == 8 && memcmp(s, "toxicity", 8) == 0) return pst_scorer_create_toxicity(s, n, out, err);
    if (starts(s, e, "contains:"))
        return pst_scorer_create_contains(s, n, s + 9, n - 9, out, err);
    if (starts(s, e, "length:")) return pst_scorer_create_length(s, n, s + 7, n - 7, out, err);
    if (starts(s, e, "features:")) {
        if (ctx->in_features)
            return pst_fail(err, "scorer '%.*s': a features file cannot include another (features:)",
                            (int)n, s);
        char *path = pst_strndup(s + 9, n - 9, err);
        if (!path) return -1;
        int rc = pst_scorer_create_features(s, n, path, ctx, out, err);
        free(path);
        return rc;
    }
    if (n == 0)
        return pst_fail(err, "scorer: empty spec (expected pep8, pii, toxicity, contains:W, "
                             "regex:P, length:MIN:MAX, features:FILE, external:CMD, not:S, "
                             "below:T:S, above:T:S, numbers-copied, entities-from-context[:K], pep8-clean, python-compiles or A&B)");
    return pst_fail(err, "scorer '%.*s': unknown spec (expected pep8, pii, toxicity, contains:W, "
                    "regex:P, length:MIN:MAX, features:FILE, external:CMD, not:S, below:T:S, "
                    "above:T:S, numbers-copied, entities-from-context[:K], pep8-clean, python-compiles or A&B)", (int)n, s);
}

int pst_scorer_create_n(const char *spec, size_t len, const pst_spec_ctx *ctx, pst_scorer **out,
                        pst_error *err) {
    *out = NULL;
    const char *end = spec + len, *p = spec;
    pst_scorer **factors = NULL;
    size_t n = 0;
    for (;;) {
        const char *stop;
        pst_scorer *f;
        if (parse_factor(p, end, ctx, &stop, &f, err) < 0) goto fail;
        pst_scorer **v = pst_realloc(factors, (n + 1) * sizeof *v, err);
        if (!v) {
            pst_scorer_free(f);
            goto fail;
        }
        factors = v;
        factors[n++] = f;
        if (stop >= end) break;
        p = stop + 1; /* skip '&' */
        if (p >= end) {
            pst_fail(err, "scorer '%.*s': '&' at the end; expected another factor", (int)len, spec);
            goto fail;
        }
    }
    if (n == 1) {
        *out = factors[0];
        free(factors);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (factors[i]->kind != PST_SCORER_POINTWISE) {
            pst_fail(err, "scorer '%.*s': factor '%s' of a product is not pointwise (b in {0,1}); "
                     "wrap it, e.g. below:T:%s", (int)len, spec, factors[i]->spec, factors[i]->spec);
            goto fail;
        }
    return make_compose(spec, len, 0, 0, factors, n, out, err);
fail:
    pst_scorers_free(factors, n);
    return -1;
}

int pst_scorer_create_timeout(const char *spec, double timeout, pst_scorer **out, pst_error *err) {
    *out = NULL;
    if (!spec) return pst_fail(err, "scorer: no spec given");
    if (!(timeout > 0)) return pst_fail(err, "scorer '%s': the timeout must be positive, got %g", spec, timeout);
    pst_spec_ctx ctx = {timeout, 0, 0};
    return pst_scorer_create_n(spec, strlen(spec), &ctx, out, err);
}

int pst_scorer_create(const char *spec, pst_scorer **out, pst_error *err) {
    return pst_scorer_create_timeout(spec, PST_SCORER_DEFAULT_TIMEOUT, out, err);
}

/* ---- scoring ------------------------------------------------------------- */

static int by_finding_start(const void *a, const void *b) {
    const pst_finding *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* log b, φ for one-dimensional scorers, findings order. */
static int finalize(const pst_scorer *s, pst_score *r, pst_error *err) {
    r->log_b = s->kind == PST_SCORER_POINTWISE ? (r->score > 0 ? log(r->score) : -INFINITY) : NAN;
    if (s->kind != PST_SCORER_FEATURES) {
        r->features = pst_malloc(sizeof *r->features, err);
        if (!r->features) return -1;
        r->features[0] = r->score;
        r->n_features = 1;
    }
    if (r->n_findings > 1) qsort(r->findings, r->n_findings, sizeof *r->findings, by_finding_start);
    return 0;
}

static int score_segments(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                          const char *const *contexts, pst_segmenter kind, pst_score *out,
                          pst_error *err) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (pst_segment(kind, texts[i], lens[i], &out[i].segments, &out[i].n_segments, err) < 0)
            return pst_fail_context(err, "scorer '%s': segmenting text %zu", s->spec, i);
        out[i].segment_scores = pst_calloc(out[i].n_segments, sizeof(double), err);
        if (!out[i].segment_scores) return -1;
        total += out[i].n_segments;
    }
    if (s->segment_from_findings) {
        /* findings starting in the segment / characters of the segment */
        for (size_t i = 0; i < n; i++) {
            size_t f = 0;
            for (size_t j = 0; j < out[i].n_segments; j++) {
                pst_span sp = out[i].segments[j];
                size_t count = 0;
                while (f < out[i].n_findings && out[i].findings[f].start < sp.end) {
                    count += out[i].findings[f].start >= sp.start;
                    f++;
                }
                size_t chars = pst_utf8_chars(texts[i] + sp.start, sp.end - sp.start);
                out[i].segment_scores[j] = chars ? (double)count / (double)chars : 0.0;
            }
        }
        return 0;
    }
    if (total == 0) return 0;
    /* every segment is a text of its own, scored in one batch */
    const char **st = pst_calloc(total, sizeof *st, err);
    size_t *sl = st ? pst_calloc(total, sizeof *sl, err) : NULL;
    const char **sc = sl && contexts ? pst_calloc(total, sizeof *sc, err) : NULL;
    pst_score *tmp = sl && (sc || !contexts) ? pst_calloc(total, sizeof *tmp, err) : NULL;
    int rc = -1;
    if (tmp) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < out[i].n_segments; j++, k++) {
                st[k] = texts[i] + out[i].segments[j].start;
                sl[k] = out[i].segments[j].end - out[i].segments[j].start;
                if (sc) sc[k] = contexts[i];
            }
        rc = s->ops->score(s, total, st, sl, sc, 0, tmp, err);
        k = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < out[i].n_segments; j++, k++) {
                out[i].segment_scores[j] = tmp[k].score;
                pst_score_clear(&tmp[k]);
            }
    }
    free(tmp);
    free(sc);
    free(sl);
    free(st);
    return rc;
}

int pst_scorer_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                     const char *const *contexts, const pst_score_options *opt, pst_score *out,
                     pst_error *err) {
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].log_b = NAN;
    }
    if (n == 0) return 0;
    size_t *own = NULL;
    if (!lens) {
        own = pst_calloc(n, sizeof *own, err);
        if (!own) return -1;
        for (size_t i = 0; i < n; i++) own[i] = texts[i] ? strlen(texts[i]) : 0;
        lens = own;
    }
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) {
            free(own);
            return pst_fail(err, "scorer '%s': text %zu is NULL", s->spec, i);
        }
    int segmented = opt && opt->segmented;
    int want = opt && (opt->findings || (segmented && s->segment_from_findings));
    int rc = s->ops->score(s, n, texts, lens, contexts, want, out, err);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = finalize(s, &out[i], err);
    if (rc == 0 && segmented) rc = score_segments(s, n, texts, lens, contexts, opt->segmenter, out, err);
    if (rc == 0 && want && !opt->findings)
        for (size_t i = 0; i < n; i++) free_findings(&out[i]);
    if (rc < 0)
        for (size_t i = 0; i < n; i++) pst_score_clear(&out[i]);
    free(own);
    return rc;
}

typedef enum { WANT_SCORES, WANT_LOG_B, WANT_FEATURES } fast_want;

static int fast_path(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                     const char *const *contexts, double *dst, fast_want want, pst_error *err) {
    if (want == WANT_LOG_B && s->kind != PST_SCORER_POINTWISE)
        return pst_fail(err, "scorer '%s' is not pointwise (b in {0,1}), so log b(x) is undefined; "
                        "use below:T:%s or above:T:%s", s->spec, s->spec, s->spec);
    size_t k = s->k;
    pst_score *tmp = pst_calloc(n ? n : 1, sizeof *tmp, err);
    if (!tmp) return -1;
    int rc = pst_scorer_score(s, n, texts, lens, contexts, NULL, tmp, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (want == WANT_SCORES) dst[i] = tmp[i].score;
        else if (want == WANT_LOG_B) dst[i] = tmp[i].log_b;
        else if (tmp[i].n_features != k)
            rc = pst_fail(err, "scorer '%s': text %zu has %zu features, expected %zu", s->spec, i,
                          tmp[i].n_features, k);
        else
            memcpy(dst + i * k, tmp[i].features, k * sizeof *dst);
    }
    for (size_t i = 0; i < n; i++) pst_score_clear(&tmp[i]);
    free(tmp);
    return rc;
}

int pst_scorer_scores(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                      const char *const *contexts, double *scores, pst_error *err) {
    return fast_path(s, n, texts, lens, contexts, scores, WANT_SCORES, err);
}

int pst_scorer_log_b(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                     const char *const *contexts, double *log_b, pst_error *err) {
    return fast_path(s, n, texts, lens, contexts, log_b, WANT_LOG_B, err);
}

int pst_scorer_features(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                        const char *const *contexts, double *phi, pst_error *err) {
    return fast_path(s, n, texts, lens, contexts, phi, WANT_FEATURES, err);
}
