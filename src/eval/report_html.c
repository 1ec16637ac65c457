/* The report's HTML: the text buffer and escaping, the configuration of a run, the tables
 * of an evaluation (exact beside importance-sampled estimates), its samples with the
 * scorers' findings highlighted, and the experiment table. Every text read from a file is
 * written through rp_escape. */
#include "report_internal.h"

#include "posterior/scorer.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffer --------------------------------------------------------------------------- */

void rp_putn(rp_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void rp_put(rp_buf *b, const char *s) {
    rp_putn(b, s, strlen(s));
}

void rp_printf(rp_buf *b, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        rp_putn(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rp_putn(b, big, (size_t)n);
    free(big);
}

void rp_escape(rp_buf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = pst_utf8_valid_len(s + i, n - i);
        const char *rep = NULL;
        if (k == 1) {
            switch (u[i]) {
            case '&': rep = "&amp;"; break;
            case '<': rep = "&lt;"; break;
            case '>': rep = "&gt;"; break;
            case '"': rep = "&quot;"; break;
            case '\'': rep = "&#39;"; break;
            default:
                if ((u[i] < 0x20 && u[i] != '\n' && u[i] != '\t') || u[i] == 0x7F) rep = "\xEF\xBF\xBD";
            }
        }
        if (k == 0) rep = "\xEF\xBF\xBD", k = 1;
        if (rep) rp_put(b, rep);
        else rp_putn(b, s + i, k);
        i += k;
    }
}

void rp_escape_str(rp_buf *b, const char *s) {
    rp_escape(b, s, strlen(s));
}

double rp_number(const cJSON *v, int i) {
    if (cJSON_IsNumber(v)) return i == 0 ? v->valuedouble : NAN;
    const cJSON *x = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : NULL;
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

static void estimate_i(rp_buf *b, const cJSON *v, const cJSON *se, int i) {
    double x = rp_number(v, i), e = rp_number(se, i);
    if (!isfinite(x)) {
        rp_put(b, "—");
        return;
    }
    rp_printf(b, "%.4g", x);
    if (isfinite(e)) rp_printf(b, " ± %.2g", e);
}

void rp_estimate(rp_buf *b, const cJSON *v, const cJSON *se) {
    estimate_i(b, v, se, 0);
}

/* ---- configuration -------------------------------------------------------------------- */

/* Rows "a.b.c | value" of a JSON object, nested objects flattened. */
static void config_rows(rp_buf *b, const cJSON *o, const char *prefix) {
    for (const cJSON *c = o->child; c; c = c->next) {
        char key[256];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", c->string ? c->string : "?");
        if (cJSON_IsObject(c)) {
            config_rows(b, c, key);
            continue;
        }
        rp_put(b, "<tr><th>");
        rp_escape_str(b, key);
        rp_put(b, "</th><td>");
        char *t = cJSON_IsString(c) ? NULL : cJSON_PrintUnformatted(c);
        rp_escape_str(b, cJSON_IsString(c) ? c->valuestring : t ? t : "?");
        free(t);
        rp_put(b, "</td></tr>\n");
    }
}

void rp_html_config(rp_buf *b, const rp_run *run, size_t i) {
    rp_printf(b, "<h2 style=\"color:%s\">Run ", rp_colour(i));
    rp_escape_str(b, run->dir);
    rp_printf(b, "</h2>\n<p class=\"note\">%zu metrics lines, %zu metrics.", run->n_lines, run->n_series);
    if (!run->config) {
        rp_put(b, " No run.json or train_config.json.</p>\n");
        return;
    }
    rp_put(b, "</p>\n<details><summary>configuration (");
    rp_escape_str(b, run->config_name);
    rp_put(b, ")</summary><table class=\"config\">\n");
    config_rows(b, run->config, "");
    rp_put(b, "</table></details>\n");
}

/* ---- an evaluation -------------------------------------------------------------------- */

typedef struct {
    const char *name, *exact, *exact_se, *is, *is_se;
} rp_row;

/* Quantities estimated both ways: from exact samples of p, and importance-sampled from
 * π's own samples (or, for KL(π‖a) and E_π, a plain Monte Carlo mean over them). */
static const rp_row eval_rows[] = {
    {"KL(p‖π)", "kl_p_pi_exact", "kl_p_pi_exact_se", "kl_p_pi", "kl_p_pi_se"},
    {"TVD(p, π)", "tvd_p_pi_exact", "tvd_p_pi_exact_se", "tvd_p_pi", "tvd_p_pi_se"},
    {"log Z", "log_z_exact", "log_z_exact_se", "log_z", "log_z_se"},
    {"KL(π‖a)", NULL, NULL, "kl_pi_a", "kl_pi_a_se"},
    {"ESS of π's samples", NULL, NULL, "ess", NULL},
    {"samples of p dropped by π", "dropped_fraction", NULL, NULL, NULL},
    {"distinct-1", NULL, NULL, "distinct_1", NULL},
    {"distinct-2", NULL, NULL, "distinct_2", NULL},
    {"distinct-3", NULL, NULL, "distinct_3", NULL},
    {"mean length (tokens)", NULL, NULL, "mean_length", NULL},
    {"LM loss on held-out text", NULL, NULL, "lm_loss", NULL},
    {"mean score s(x) of the samples", NULL, NULL, "mean_score", NULL},
    {"fraction of samples above the threshold", NULL, NULL, "fraction_above", NULL},
    {"expected max score", NULL, NULL, "expected_max_score", NULL},
    {"KL(ref‖π)", NULL, NULL, "kl_from_reference", "kl_stderr"},
    {"self-BLEU-5", NULL, NULL, "self_bleu_5", NULL},
};

static const cJSON *item(const cJSON *j, const char *k) {
    return k ? cJSON_GetObjectItemCaseSensitive(j, k) : NULL;
}

static void cell(rp_buf *b, const cJSON *j, const char *k, const char *se, int i) {
    rp_put(b, "<td class=\"num\">");
    if (k) estimate_i(b, item(j, k), item(j, se), i);
    else rp_put(b, "—");
    rp_put(b, "</td>");
}

static void eval_table(rp_buf *b, const cJSON *j) {
    const cJSON *feat = item(j, "features");
    rp_printf(b, "<table class=\"eval\"><tr><th>quantity</th><th>exact samples of p (n = %.0f)</th>"
                 "<th>importance-sampled / π's own samples (n = %.0f)</th></tr>\n",
              rp_number(item(j, "n_exact"), 0), rp_number(item(j, "n"), 0));
    int nf = cJSON_IsArray(feat) ? cJSON_GetArraySize(feat) : 0;
    for (int f = 0; f < nf || (f == 0 && item(j, "alignment")); f++) {
        const cJSON *name = cJSON_GetArrayItem(feat, f);
        rp_put(b, "<tr><th>E_π[");
        rp_escape_str(b, cJSON_IsString(name) ? name->valuestring : "b");
        rp_put(b, "]</th><td class=\"num\">—</td>");
        cell(b, j, "alignment", "alignment_se", f);
        rp_put(b, "</tr>\n");
        if (item(j, "moments_p")) {
            rp_printf(b, "<tr><th>E_p[φ_%d] (target μ̄ = %.4g)</th><td class=\"num\">—</td>", f,
                      rp_number(item(j, "moments_target"), f));
            cell(b, j, "moments_p", "moments_p_se", f);
            rp_put(b, "</tr>\n");
        }
    }
    for (size_t r = 0; r < sizeof eval_rows / sizeof *eval_rows; r++) {
        const rp_row *w = &eval_rows[r];
        if (!(w->exact && item(j, w->exact)) && !(w->is && item(j, w->is))) continue;
        rp_printf(b, "<tr><th>%s</th>", w->name);
        cell(b, j, w->exact && item(j, w->exact) ? w->exact : NULL, w->exact_se, 0);
        cell(b, j, w->is && item(j, w->is) ? w->is : NULL, w->is_se, 0);
        rp_put(b, "</tr>\n");
    }
    rp_put(b, "</table>\n");
    const cJSON *warn = item(j, "warnings");
    int nw = cJSON_IsArray(warn) ? cJSON_GetArraySize(warn) : 0;
    rp_printf(b, "<p class=\"%s\">%d warning%s%s</p>\n", nw ? "warn" : "note", nw, nw == 1 ? "" : "s", nw ? ":" : "");
    if (nw) rp_put(b, "<ul class=\"warn\">\n");
    for (int w = 0; w < nw; w++) {
        const cJSON *x = cJSON_GetArrayItem(warn, w);
        rp_put(b, "<li>");
        rp_escape_str(b, cJSON_IsString(x) ? x->valuestring : "?");
        rp_put(b, "</li>\n");
    }
    if (nw) rp_put(b, "</ul>\n");
}

/* ---- samples with findings ------------------------------------------------------------ */

/* A PEP8 code: a letter E, W or C and three digits. */
static int is_pep8_code(const char *t) {
    return (t[0] == 'E' || t[0] == 'W' || t[0] == 'C') && isdigit((unsigned char)t[1]) &&
           isdigit((unsigned char)t[2]) && isdigit((unsigned char)t[3]) && t[4] == 0;
}

static const char *mark_class(const char *type) {
    if (strcmp(type, "TOXIC") == 0) return "toxic";
    if (strcmp(type, "MATCH") == 0) return "match";
    return "pii";
}

/* One line [ls, le) of text: the spans of the findings (PEP8 ones aside) as <mark>s;
 * *next: the first finding not yet ended before ls. */
static void line_marks(rp_buf *b, const char *text, size_t ls, size_t le, const pst_score *sc) {
    size_t pos = ls;
    for (size_t f = 0; f < sc->n_findings; f++) {
        const pst_finding *x = &sc->findings[f];
        if (is_pep8_code(x->type) || x->end <= pos || x->start >= le || x->end <= x->start) continue;
        size_t s = x->start > pos ? x->start : pos, e = x->end < le ? x->end : le;
        rp_escape(b, text + pos, s - pos);
        rp_printf(b, "<mark class=\"%s\" title=\"", mark_class(x->type));
        rp_escape_str(b, x->type);
        rp_put(b, "\">");
        rp_escape(b, text + s, e - s);
        rp_put(b, "</mark>");
        pos = e;
    }
    rp_escape(b, text + pos, le - pos);
}

/* A sample: each line with its marks; a line with PEP8 findings shaded, its codes after. */
static void sample_html(rp_buf *b, const char *text, size_t len, const pst_score *sc) {
    rp_put(b, "<pre class=\"sample\">");
    for (size_t ls = 0; ls <= len;) {
        const char *nl = memchr(text + ls, '\n', len - ls);
        size_t le = nl ? (size_t)(nl - text) : len;
        char codes[256] = "";
        for (size_t f = 0; sc && f < sc->n_findings; f++) {
            const pst_finding *x = &sc->findings[f];
            if (is_pep8_code(x->type) && x->start >= ls && (x->start <= le) && strlen(codes) < 240)
                snprintf(codes + strlen(codes), sizeof codes - strlen(codes), "%s%s", *codes ? " " : "", x->type);
        }
        if (*codes) rp_printf(b, "<span class=\"pep8\" title=\"%s\">", codes);
        if (sc) line_marks(b, text, ls, le, sc);
        else rp_escape(b, text + ls, le - ls);
        if (*codes) rp_printf(b, " <span class=\"codes\">← %s</span></span>", codes);
        if (!nl) break;
        rp_put(b, "\n");
        ls = le + 1;
    }
    rp_put(b, "</pre>\n");
}

/* The scorers of the evaluation's target (its "features"), external: ones left out (a
 * report runs no process named in a file). */
static size_t eval_scorers(rp_buf *b, const cJSON *j, pst_scorer **sc, size_t cap) {
    const cJSON *feat = item(j, "features") ? item(j, "features") : item(j, "scorer");
    size_t n = 0;
    int nf = cJSON_IsArray(feat) ? cJSON_GetArraySize(feat) : cJSON_IsString(feat) ? 1 : 0;
    for (int f = 0; f < nf && n < cap; f++) {
        const cJSON *s = cJSON_IsString(feat) ? feat : cJSON_GetArrayItem(feat, f);
        if (!cJSON_IsString(s)) continue;
        pst_error e = {0};
        if (strstr(s->valuestring, "external:")) {
            rp_put(b, "<p class=\"note\">findings of ");
            rp_escape_str(b, s->valuestring);
            rp_put(b, " not shown: a report runs no external scorer</p>\n");
        } else if (pst_scorer_create(s->valuestring, &sc[n], &e) == 0) {
            n++;
        } else {
            rp_put(b, "<p class=\"warn\">");
            rp_escape_str(b, e.msg);
            rp_put(b, "</p>\n");
        }
    }
    return n;
}

/* The findings of every scorer on text, merged into one pst_score sorted by start. */
static int findings_of(pst_scorer **sc, size_t ns, const char *text, size_t len, pst_score *out, pst_error *err) {
    memset(out, 0, sizeof *out);
    pst_score_options opt = {0, PST_SEGMENT_DOCUMENT, 1};
    for (size_t s = 0; s < ns; s++) {
        pst_score one;
        if (pst_scorer_score(sc[s], 1, &text, &len, NULL, &opt, &one, err) < 0) return -1;
        size_t n = out->n_findings + one.n_findings;
        pst_finding *v = n ? pst_realloc(out->findings, n * sizeof *v, err) : out->findings;
        if (n && !v) return pst_score_clear(&one), -1;
        if (one.n_findings) memcpy(v + out->n_findings, one.findings, one.n_findings * sizeof *v);
        out->findings = v, out->n_findings = n;
        pst_score_clear(&one);
    }
    for (size_t i = 1; i < out->n_findings; i++) /* insertion sort by start: few findings */
        for (size_t k = i; k > 0 && out->findings[k - 1].start > out->findings[k].start; k--) {
            pst_finding t = out->findings[k];
            out->findings[k] = out->findings[k - 1], out->findings[k - 1] = t;
        }
    return 0;
}

static int eval_samples(rp_buf *b, const rp_report *r, const cJSON *j, pst_error *err) {
    const cJSON *samples = item(j, "samples");
    int n = cJSON_IsArray(samples) ? cJSON_GetArraySize(samples) : 0;
    if (n == 0) return 0;
    pst_scorer *sc[16];
    size_t ns = r->opt->findings ? eval_scorers(b, j, sc, 16) : 0;
    rp_printf(b, "<h4>samples (%d of %d)%s</h4>\n", n < r->opt->max_samples ? n : r->opt->max_samples, n,
              ns ? ", the target's findings marked" : "");
    int rc = 0;
    for (int i = 0; i < n && i < r->opt->max_samples && rc == 0; i++) {
        const cJSON *s = cJSON_GetArrayItem(samples, i);
        if (cJSON_IsObject(s)) s = item(s, "text");
        if (!cJSON_IsString(s)) continue;
        pst_score found = {0};
        size_t len = strlen(s->valuestring);
        rc = ns ? findings_of(sc, ns, s->valuestring, len, &found, err) : 0;
        if (rc == 0) sample_html(b, s->valuestring, len, ns ? &found : NULL);
        free(found.findings);
    }
    for (size_t s = 0; s < ns; s++) pst_scorer_free(sc[s]);
    return rc;
}

int rp_html_eval(rp_buf *b, const rp_report *r, const rp_eval *e, pst_error *err) {
    const cJSON *model = item(e->json, "model");
    rp_put(b, "<h3");
    if (e->run >= 0) rp_printf(b, " style=\"color:%s\"", rp_colour((size_t)e->run));
    rp_put(b, ">");
    rp_escape_str(b, e->path);
    rp_put(b, "</h3>\n<p class=\"note\">model ");
    rp_escape_str(b, cJSON_IsString(model) ? model->valuestring : "?");
    if (e->run >= 0) {
        rp_put(b, ", run ");
        rp_escape_str(b, r->runs[e->run].dir);
    }
    rp_put(b, "</p>\n");
    eval_table(b, e->json);
    return eval_samples(b, r, e->json, err);
}

/* ---- the experiment table ------------------------------------------------------------- */

/* 1 when the top-level configuration value key differs between the experiment's runs
 * that have it (a train run and a tune run share few keys). */
static int config_differs(const rp_report *r, size_t x, const char *key) {
    const cJSON *first = NULL;
    int seen = 0;
    for (size_t i = 0; i < r->n_runs; i++) {
        if (r->runs[i].experiment != (int)x || !r->runs[i].config) continue;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->runs[i].config, key);
        if (!v) continue;
        if (!seen) first = v, seen = 1;
        else if (!cJSON_Compare(first, v, 1)) return 1;
    }
    return 0;
}

/* The configuration keys (top level, not objects) that differ between the runs, at most 8. */
static size_t differing_keys(const rp_report *r, size_t x, const char **keys) {
    size_t n = 0;
    for (size_t i = 0; i < r->n_runs; i++) {
        if (r->runs[i].experiment != (int)x || !r->runs[i].config) continue;
        for (const cJSON *c = r->runs[i].config->child; c && n < 8; c = c->next) {
            size_t k = 0;
            while (k < n && strcmp(keys[k], c->string) != 0) k++;
            if (k == n && !cJSON_IsObject(c) && strcmp(c->string, "spec_path") != 0 && config_differs(r, x, c->string))
                keys[n++] = c->string;
        }
    }
    return n;
}

static const rp_row exp_cols[] = {
    {"E_π[φ₀]", NULL, NULL, "alignment", "alignment_se"},
    {"KL(p‖π), exact", "kl_p_pi_exact", "kl_p_pi_exact_se", NULL, NULL},
    {"KL(p‖π), IS", NULL, NULL, "kl_p_pi", "kl_p_pi_se"},
    {"KL(π‖a)", NULL, NULL, "kl_pi_a", "kl_pi_a_se"},
    {"TVD(p, π), exact", "tvd_p_pi_exact", "tvd_p_pi_exact_se", NULL, NULL},
    {"distinct-2", NULL, NULL, "distinct_2", NULL},
    {"mean score s(x)", NULL, NULL, "mean_score", NULL},
    {"KL(ref‖π)", NULL, NULL, "kl_from_reference", "kl_stderr"},
    {"LM loss", NULL, NULL, "lm_loss", NULL},
};
#define N_EXP_COLS (sizeof exp_cols / sizeof *exp_cols)

/* shown[c] = 1 when an evaluation of experiment x has column c's value. */
static void exp_columns(const rp_report *r, size_t x, int *shown) {
    for (size_t c = 0; c < N_EXP_COLS; c++) {
        shown[c] = 0;
        for (size_t e = 0; e < r->n_evals && !shown[c]; e++) {
            const rp_eval *v = &r->evals[e];
            int mine = v->experiment == (int)x || (v->run >= 0 && r->runs[v->run].experiment == (int)x);
            shown[c] = mine && item(v->json, exp_cols[c].exact ? exp_cols[c].exact : exp_cols[c].is) != NULL;
        }
    }
}

static void exp_row(rp_buf *b, const rp_report *r, const rp_eval *e, int run, const char **keys, size_t nk,
                    const int *shown) {
    rp_put(b, "<tr><td>");
    rp_escape_str(b, run >= 0 ? r->runs[run].label : e->path);
    rp_put(b, "</td>");
    for (size_t k = 0; k < nk; k++) {
        const cJSON *v = run >= 0 && r->runs[run].config ? cJSON_GetObjectItemCaseSensitive(r->runs[run].config, keys[k]) : NULL;
        char *t = v && !cJSON_IsString(v) && !(cJSON_IsNumber(v) && fabs(v->valuedouble) >= 1e300)
                      ? cJSON_PrintUnformatted(v) : NULL;
        rp_put(b, "<td>");
        if (cJSON_IsString(v)) rp_escape_str(b, v->valuestring);
        else rp_escape_str(b, t ? t : v ? (v->valuedouble > 0 ? "inf" : "-inf") : "—"); /* run.json writes inf as 1e300 */
        rp_put(b, "</td>");
        free(t);
    }
    for (size_t c = 0; c < N_EXP_COLS; c++) {
        const rp_row *w = &exp_cols[c];
        if (!shown[c]) continue;
        if (e) cell(b, e->json, w->exact ? w->exact : w->is, w->exact ? w->exact_se : w->is_se, 0);
        else rp_put(b, "<td class=\"num\">—</td>");
    }
    const cJSON *warn = e ? item(e->json, "warnings") : NULL;
    if (e) rp_printf(b, "<td class=\"num\">%d</td></tr>\n", cJSON_IsArray(warn) ? cJSON_GetArraySize(warn) : 0);
    else rp_put(b, "<td>no evaluation</td></tr>\n");
}

void rp_html_experiment(rp_buf *b, const rp_report *r, size_t x) {
    const char *keys[8];
    size_t nk = differing_keys(r, x, keys);
    rp_put(b, "<h2>Experiment ");
    rp_escape_str(b, r->experiments[x].dir);
    rp_put(b, "</h2>\n<div class=\"wide\"><table class=\"experiment\"><tr><th>run / evaluation</th>");
    for (size_t k = 0; k < nk; k++) {
        rp_put(b, "<th>");
        rp_escape_str(b, keys[k]);
        rp_put(b, "</th>");
    }
    int shown[N_EXP_COLS];
    exp_columns(r, x, shown);
    for (size_t c = 0; c < N_EXP_COLS; c++)
        if (shown[c]) rp_printf(b, "<th>%s</th>", exp_cols[c].name);
    rp_put(b, "<th>warnings</th></tr>\n");
    for (size_t i = 0; i < r->n_runs; i++) {
        if (r->runs[i].experiment != (int)x) continue;
        int any = 0;
        for (size_t e = 0; e < r->n_evals; e++)
            if (r->evals[e].run == (int)i) exp_row(b, r, &r->evals[e], (int)i, keys, nk, shown), any = 1;
        if (!any) exp_row(b, r, NULL, (int)i, keys, nk, shown);
    }
    for (size_t e = 0; e < r->n_evals; e++)
        if (r->evals[e].experiment == (int)x && r->evals[e].run < 0) exp_row(b, r, &r->evals[e], -1, keys, nk, shown);
    rp_put(b, "</table></div>\n<p class=\"note\">columns: the configuration values that differ between the runs; "
              "estimates ± standard error from each run's evaluation (exact: on exact samples of p; IS: "
              "importance-sampled from π's own samples)</p>\n");
}
