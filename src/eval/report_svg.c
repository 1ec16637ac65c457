/* The report's curves: one inline SVG panel per metric, every run that has it overlaid on
 * shared axes. Each curve is the raw values (faint) and their trailing moving average
 *   m_i = (1 / min(i + 1, w)) · Σ_{j = max(0, i − w + 1)}^{i} v_j
 * (bold; class "curve", data-points = its number of points, one per value of the metric);
 * up to 120 points of it carry their values in an SVG <title> (hover). Reference lines:
 * KL(p‖a) = −log Z of a pointwise target on the KL panels, μ̄ (or E_p[b] = 1) on E_π[φ]. */
#include "report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

const char *rp_colour(size_t i) {
    return colours[i % (sizeof colours / sizeof *colours)];
}

/* Panels first for these metrics, in this order; then the others by name. */
static const char *const preferred[] = {"moments_pi", "kl_p_pi", "kl_p_pi_exact", "kl_pi_a", "tvd_p_pi",
                                        "tvd_p_pi_exact", "loss", "val_loss", "log_z", "log_z_exact", "ess"};

static int rank_of(const char *key) {
    for (size_t i = 0; i < sizeof preferred / sizeof *preferred; i++)
        if (strncmp(key, preferred[i], strlen(preferred[i])) == 0 &&
            (key[strlen(preferred[i])] == 0 || key[strlen(preferred[i])] == '['))
            return (int)i;
    return 1000;
}

static int by_rank(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int rx = rank_of(x), ry = rank_of(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

/* The distinct metric names of all runs, ordered for display; *n of them (NULL when none
 * or out of memory). */
static const char **metric_keys(const rp_report *r, size_t *n) {
    size_t cap = 0, k = 0;
    for (size_t i = 0; i < r->n_runs; i++) cap += r->runs[i].n_series;
    const char **keys = calloc(cap ? cap : 1, sizeof *keys);
    if (!keys) return NULL;
    for (size_t i = 0; i < r->n_runs; i++)
        for (size_t s = 0; s < r->runs[i].n_series; s++) {
            const char *key = r->runs[i].series[s].key;
            size_t j = 0, kl = strlen(key);
            if (kl > 3 && strcmp(key + kl - 3, "_se") == 0) continue; /* in the hover text of KEY */
            while (j < k && strcmp(keys[j], key) != 0) j++;
            if (j == k) keys[k++] = key;
        }
    qsort(keys, k, sizeof *keys, by_rank);
    *n = k;
    return keys;
}

static const rp_series *find_series(const rp_run *run, const char *key) {
    for (size_t s = 0; s < run->n_series; s++)
        if (strcmp(run->series[s].key, key) == 0) return &run->series[s];
    return NULL;
}

typedef struct {
    double value;
    const char *what; /* "KL(p‖a)", "μ̄" */
    size_t run;
} rp_refline;

/* −log Z of a pointwise target: its evaluations' exact estimate, else the last exact one
 * of its metrics. NAN when neither. */
static double ideal_kl(const rp_report *r, size_t i) {
    const cJSON *t = r->runs[i].config ? cJSON_GetObjectItemCaseSensitive(r->runs[i].config, "target") : NULL;
    const cJSON *kind = t ? cJSON_GetObjectItemCaseSensitive(t, "kind") : NULL;
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "pointwise") != 0) return NAN;
    for (size_t e = 0; e < r->n_evals; e++)
        if (r->evals[e].run == (int)i) {
            double lz = rp_number(cJSON_GetObjectItemCaseSensitive(r->evals[e].json, "log_z_exact"), 0);
            if (isfinite(lz)) return -lz;
        }
    const rp_series *s = find_series(&r->runs[i], "log_z_exact");
    return s && s->n ? -s->value[s->n - 1] : NAN;
}

/* The reference lines of a panel (at most 8). */
static size_t reference_lines(const rp_report *r, const char *key, rp_refline *out) {
    size_t n = 0;
    int kl = strcmp(key, "kl_p_pi") == 0 || strcmp(key, "kl_p_pi_exact") == 0 || strcmp(key, "kl_pi_a") == 0;
    int moment = strncmp(key, "moments_pi", 10) == 0;
    int idx = moment && key[10] == '[' ? atoi(key + 11) : 0;
    for (size_t i = 0; i < r->n_runs && n < 8; i++) {
        if (!find_series(&r->runs[i], key)) continue;
        if (kl) {
            double v = ideal_kl(r, i);
            if (isfinite(v)) out[n++] = (rp_refline){v, "KL(p‖a) = −log Z", i};
        }
        const cJSON *t = r->runs[i].config ? cJSON_GetObjectItemCaseSensitive(r->runs[i].config, "target") : NULL;
        if (moment && t) {
            double mu = rp_number(cJSON_GetObjectItemCaseSensitive(t, "moments"), idx);
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(t, "kind");
            if (isfinite(mu)) out[n++] = (rp_refline){mu, "μ̄", i};
            else if (cJSON_IsString(kind) && strcmp(kind->valuestring, "pointwise") == 0)
                out[n++] = (rp_refline){1.0, "E_p[b]", i};
        }
    }
    return n;
}

typedef struct {
    double x0, y0, w, h;           /* plot area */
    double xmin, xmax, ymin, ymax; /* data range */
} rp_axes;

static double ax_x(const rp_axes *a, double x) {
    return a->x0 + (x - a->xmin) / (a->xmax - a->xmin) * a->w;
}
static double ax_y(const rp_axes *a, double y) {
    return a->y0 + a->h - (y - a->ymin) / (a->ymax - a->ymin) * a->h;
}

/* m_i, the trailing moving average of s over w points, into avg[s->n]. */
static void moving_average(const rp_series *s, int window, double *avg) {
    double acc = 0;
    size_t w = (size_t)window;
    for (size_t j = 0; j < s->n; j++) {
        acc += s->value[j];
        if (j >= w) acc -= s->value[j - w];
        avg[j] = acc / (double)(j + 1 < w ? j + 1 : w);
    }
}

/* The panel's ranges: every step; the moving averages and reference lines (raw values
 * beyond them are clipped: one spike would flatten every curve). */
static void axes_range(const rp_report *r, const char *key, const rp_refline *ref, size_t nref, int window,
                       rp_axes *a) {
    a->xmin = a->ymin = INFINITY, a->xmax = a->ymax = -INFINITY;
    for (size_t i = 0; i < r->n_runs; i++) {
        const rp_series *s = find_series(&r->runs[i], key);
        double *avg = s && s->n ? malloc(s->n * sizeof *avg) : NULL;
        if (!avg) continue;
        moving_average(s, window, avg);
        for (size_t j = 0; j < s->n; j++) {
            a->xmin = fmin(a->xmin, s->step[j]), a->xmax = fmax(a->xmax, s->step[j]);
            a->ymin = fmin(a->ymin, avg[j]), a->ymax = fmax(a->ymax, avg[j]);
        }
        free(avg);
    }
    for (size_t k = 0; k < nref; k++) a->ymin = fmin(a->ymin, ref[k].value), a->ymax = fmax(a->ymax, ref[k].value);
    if (!(a->xmax > a->xmin)) a->xmax = a->xmin + 1;
    if (!(a->ymax > a->ymin)) a->ymax = a->ymin + (a->ymin == 0 ? 1 : fabs(a->ymin) * 0.1);
    double pad = 0.04 * (a->ymax - a->ymin);
    a->ymin -= pad, a->ymax += pad;
}

static void draw_frame(rp_buf *b, const rp_axes *a, const char *key) {
    rp_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n",
              a->x0, a->y0, a->w, a->h);
    rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">", a->x0 + a->w / 2, a->y0 - 8);
    rp_escape_str(b, key);
    rp_put(b, "</text>\n");
    /* enough digits that the ticks differ: 3, plus the decades between the values and their spread */
    double mag = fmax(fabs(a->ymin), fabs(a->ymax)), spread = a->ymax - a->ymin;
    int digits = 3 + (mag > spread ? (int)ceil(log10(mag / spread)) : 0);
    if (digits > 8) digits = 8;
    for (int t = 0; t <= 4; t++) {
        double v = a->ymin + (a->ymax - a->ymin) * t / 4, y = ax_y(a, v);
        rp_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*g</text>\n",
                  a->x0, a->x0 + a->w, y, y, a->x0 - 4, y + 4, digits, v);
    }
    for (int t = 0; t <= 2; t++) {
        double v = a->xmin + (a->xmax - a->xmin) * t / 2;
        rp_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s%.6g</text>\n", ax_x(a, v),
                  a->y0 + a->h + 15, t == 0 ? "start" : t == 1 ? "middle" : "end", t == 2 ? "step " : "", v);
    }
}

/* One run's curve on a panel: raw values, moving average, hover points. */
static size_t draw_curve(rp_buf *b, const rp_axes *a, const rp_series *s, const rp_series *se, const char *label,
                         size_t run, int window, const char *clip) {
    /* hover text: "RUN — KEY, step N: value ± se (mean of the last w: m)" */
    const char *c = rp_colour(run);
    rp_printf(b, "<polyline class=\"raw\" clip-path=\"url(#%s)\" fill=\"none\" stroke=\"%s\" stroke-opacity=\"0.25\" "
                 "points=\"", clip, c);
    for (size_t j = 0; j < s->n; j++) rp_printf(b, "%s%.1f,%.1f", j ? " " : "", ax_x(a, s->step[j]), ax_y(a, s->value[j]));
    rp_printf(b, "\"/>\n<polyline class=\"curve\" data-run=\"%zu\" data-points=\"%zu\" fill=\"none\" stroke=\"%s\" "
                 "stroke-width=\"1.6\" points=\"", run, s->n, c);
    double *avg = malloc((s->n ? s->n : 1) * sizeof *avg);
    if (!avg) {
        b->failed = 1;
        return 0;
    }
    moving_average(s, window, avg);
    for (size_t j = 0; j < s->n; j++) rp_printf(b, "%s%.1f,%.1f", j ? " " : "", ax_x(a, s->step[j]), ax_y(a, avg[j]));
    rp_put(b, "\"/>\n");
    size_t stride = s->n / 120 + 1, k = 0;
    for (size_t j = 0; j < s->n; j += stride) {
        rp_printf(b, "<circle class=\"hover\" style=\"color:%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\"><title>", c,
                  ax_x(a, s->step[j]), ax_y(a, avg[j]));
        rp_escape_str(b, label);
        rp_put(b, " — ");
        rp_escape_str(b, s->key);
        rp_printf(b, ", step %.10g: %.6g", s->step[j], s->value[j]);
        while (se && k < se->n && se->step[k] < s->step[j]) k++;
        if (se && k < se->n && se->step[k] == s->step[j]) rp_printf(b, " ± %.2g", se->value[k]);
        rp_printf(b, " (mean of the last %d: %.6g)</title></circle>\n",
                  (int)(j + 1 < (size_t)window ? j + 1 : (size_t)window), avg[j]);
    }
    free(avg);
    return s->n;
}

static void draw_reflines(rp_buf *b, const rp_axes *a, const rp_report *r, const rp_refline *ref, size_t n) {
    for (size_t k = 0; k < n; k++) {
        double y = ax_y(a, ref[k].value);
        rp_printf(b, "<line class=\"ref\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                     "stroke-dasharray=\"5,3\"><title>",
                  a->x0, a->x0 + a->w, y, y, rp_colour(ref[k].run));
        rp_escape_str(b, r->runs[ref[k].run].label);
        rp_printf(b, ": %s = %.4g</title></line>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"%s\">%s %.3g</text>\n",
                  ref[k].what, ref[k].value, a->x0 + a->w - 3, y - 3, rp_colour(ref[k].run), ref[k].what,
                  ref[k].value);
    }
}

void rp_html_curves(rp_buf *b, const rp_report *r, size_t *n_curves, size_t *n_points) {
    size_t nk = 0;
    const char **keys = metric_keys(r, &nk);
    if (!keys) {
        b->failed = 1;
        return;
    }
    rp_printf(b, "<h2>Curves</h2>\n<p class=\"note\">metrics.jsonl of each run: faint, every value; bold, the mean "
                 "of the last %d values; dashed, reference values. Hover a point for its value.</p>\n"
                 "<p class=\"legend\">", r->opt->window);
    for (size_t i = 0; i < r->n_runs; i++) {
        rp_printf(b, "<span style=\"color:%s\">— ", rp_colour(i));
        rp_escape_str(b, r->runs[i].dir);
        rp_put(b, "</span>");
    }
    rp_put(b, "</p>\n<div class=\"panels\">\n");
    for (size_t k = 0; k < nk; k++) {
        rp_refline ref[8];
        size_t nref = reference_lines(r, keys[k], ref);
        rp_axes a = {.x0 = 58, .y0 = 26, .w = 330, .h = 190};
        axes_range(r, keys[k], ref, nref, r->opt->window, &a);
        char clip[32];
        snprintf(clip, sizeof clip, "clip%zu", k);
        rp_put(b, "<svg class=\"panel\" xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"240\" "
                  "font-family=\"sans-serif\" font-size=\"11\" data-metric=\"");
        rp_escape_str(b, keys[k]);
        rp_put(b, "\">\n");
        rp_printf(b, "<clipPath id=\"%s\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n",
                  clip, a.x0, a.y0, a.w, a.h);
        draw_frame(b, &a, keys[k]);
        draw_reflines(b, &a, r, ref, nref);
        for (size_t i = 0; i < r->n_runs; i++) {
            const rp_series *s = find_series(&r->runs[i], keys[k]);
            if (!s || !s->n) continue;
            char sek[220];
            snprintf(sek, sizeof sek, "%s_se", keys[k]);
            *n_points += draw_curve(b, &a, s, find_series(&r->runs[i], sek), r->runs[i].label, i, r->opt->window, clip);
            (*n_curves)++;
        }
        rp_put(b, "</svg>\n");
    }
    rp_put(b, "</div>\n");
    free(keys);
}
