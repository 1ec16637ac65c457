/* The report's model between loading (report.c) and rendering (report_html.c,
 * report_svg.c): runs with their metric series, evaluations, experiments; and the
 * growable text buffer the HTML is written into. */
#ifndef POSTERIOR_EVAL_REPORT_INTERNAL_H
#define POSTERIOR_EVAL_REPORT_INTERNAL_H

#include "posterior/report.h"

#include <cjson/cJSON.h>

/* One metric of one run: the (step, value) points of metrics.jsonl, nulls skipped. */
typedef struct {
    char *key;
    double *step, *value;
    size_t n, cap;
} rp_series;

typedef struct {
    char *dir, *label;        /* the folder; its name in legends */
    cJSON *config;            /* run.json / train_config.json, or NULL */
    const char *config_name;
    rp_series *series;
    size_t n_series;
    size_t n_lines;           /* metrics lines read (skipped ones included) */
    int experiment;           /* index of its experiment, -1 when given alone */
    int flat;                 /* 1: kept as files, dir = FOLDER/NAME (NAME.metrics.jsonl ...) */
} rp_run;

typedef struct {
    char *path;
    cJSON *json;
    int run;                  /* the run it belongs to, -1 */
    int experiment;           /* -1 */
} rp_eval;

typedef struct {
    char *dir;
} rp_experiment;

typedef struct {
    rp_run *runs;
    size_t n_runs;
    rp_eval *evals;
    size_t n_evals;
    rp_experiment *experiments;
    size_t n_experiments;
    pst_report_summary *summary;
    const pst_report_options *opt;
} rp_report;

/* ---- the text buffer: a failed allocation is remembered and reported at the end ---- */
typedef struct {
    char *p;
    size_t n, cap;
    int failed;
} rp_buf;

void rp_put(rp_buf *b, const char *s);
void rp_putn(rp_buf *b, const char *s, size_t n);
void rp_printf(rp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s[0, n) as HTML text: & < > " ' escaped, invalid UTF-8 and control bytes (but \n, \t)
 * as U+FFFD. */
void rp_escape(rp_buf *b, const char *s, size_t n);
void rp_escape_str(rp_buf *b, const char *s);
/* A number with its standard error, "0.718 ± 0.020", or "—". */
void rp_estimate(rp_buf *b, const cJSON *v, const cJSON *se);

/* The i-th number of v (a number, or an array of numbers); NAN when missing. */
double rp_number(const cJSON *v, int i);

/* The colour of run i. */
const char *rp_colour(size_t i);

/* Sections of the page. */
void rp_html_curves(rp_buf *b, const rp_report *r, size_t *n_curves, size_t *n_points);
void rp_html_config(rp_buf *b, const rp_run *run, size_t i);
int rp_html_eval(rp_buf *b, const rp_report *r, const rp_eval *e, pst_error *err);
void rp_html_experiment(rp_buf *b, const rp_report *r, size_t x);

/* Adds a warning to the summary (printf-style); returns 0, -1 when out of memory. */
int rp_warn(rp_report *r, pst_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
