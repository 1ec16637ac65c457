/* The HTML report (include/posterior/report.h): reading run folders, experiment folders
 * and evaluations into the report's model, then writing the page (report_html.c). */
#include "report_internal.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void pst_report_options_default(pst_report_options *o) {
    memset(o, 0, sizeof *o);
    o->window = 25;
    o->max_samples = 8;
    o->findings = 1;
}

void pst_report_summary_clear(pst_report_summary *s) {
    for (size_t i = 0; i < s->n_warnings; i++) free(s->warnings[i]);
    free(s->warnings);
    memset(s, 0, sizeof *s);
}

int rp_warn(rp_report *r, pst_error *err, const char *fmt, ...) {
    pst_report_summary *s = r->summary;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char **w = pst_realloc(s->warnings, (s->n_warnings + 1) * sizeof *w, err);
    if (!w) return -1;
    s->warnings = w;
    if (!(w[s->n_warnings] = pst_strdup(msg, err))) return -1;
    s->n_warnings++;
    return 0;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- metrics.jsonl -> series ------------------------------------------------------ */

static rp_series *series_of(rp_run *run, const char *key, pst_error *err) {
    for (size_t i = 0; i < run->n_series; i++)
        if (strcmp(run->series[i].key, key) == 0) return &run->series[i];
    rp_series *v = pst_realloc(run->series, (run->n_series + 1) * sizeof *v, err);
    if (!v) return NULL;
    run->series = v;
    rp_series *s = &v[run->n_series];
    memset(s, 0, sizeof *s);
    if (!(s->key = pst_strdup(key, err))) return NULL;
    run->n_series++;
    return s;
}

static int series_add(rp_run *run, const char *key, double step, double value, pst_error *err) {
    if (!isfinite(value)) return 0;
    rp_series *s = series_of(run, key, err);
    if (!s) return -1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        double *a = pst_realloc(s->step, cap * sizeof *a, err);
        if (!a) return -1;
        s->step = a;
        double *b = pst_realloc(s->value, cap * sizeof *b, err);
        if (!b) return -1;
        s->value = b;
        s->cap = cap;
    }
    s->step[s->n] = step, s->value[s->n] = value, s->n++;
    return 0;
}

/* One metrics object: each number is a point at its "step" (the line number when it has
 * none); a list of numbers gives KEY (one element) or KEY[i]. */
static int add_metrics_line(rp_run *run, const cJSON *o, long line, pst_error *err) {
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "step");
    double step = cJSON_IsNumber(st) ? st->valuedouble : (double)line;
    for (const cJSON *c = o->child; c; c = c->next) {
        if (!c->string || strcmp(c->string, "step") == 0) continue;
        if (cJSON_IsNumber(c)) {
            if (series_add(run, c->string, step, c->valuedouble, err) < 0) return -1;
        } else if (cJSON_IsArray(c)) {
            int n = cJSON_GetArraySize(c);
            for (int i = 0; i < n && i < 16; i++) {
                const cJSON *x = cJSON_GetArrayItem(c, i);
                if (!cJSON_IsNumber(x)) continue;
                char key[200];
                if (n == 1) snprintf(key, sizeof key, "%s", c->string);
                else snprintf(key, sizeof key, "%s[%d]", c->string, i);
                if (series_add(run, key, step, x->valuedouble, err) < 0) return -1;
            }
        }
    }
    return 0;
}

/* Reads path line by line; a line that is not a JSON object is skipped with a warning
 * naming it (a run killed mid-write, an edited file), the others are drawn. */
static int read_metrics(rp_report *r, rp_run *run, const char *path, pst_error *err) {
    char *text = NULL;
    size_t len = 0;
    if (pst_read_file(path, &text, &len, err) < 0) return -1;
    long line = 0, good = 0;
    int rc = 0;
    for (char *p = text; rc == 0 && p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        line++;
        *end = 0;
        size_t k = strspn(p, " \t\r");
        if (p[k]) {
            cJSON *o = cJSON_Parse(p);
            if (!cJSON_IsObject(o)) rc = rp_warn(r, err, "%s:%ld: not a JSON object; line skipped", path, line);
            else rc = add_metrics_line(run, o, line, err), good++;
            cJSON_Delete(o);
        }
        p = end + 1;
    }
    free(text);
    run->n_lines = (size_t)line;
    if (rc == 0 && good == 0) rc = rp_warn(r, err, "%s: no metrics line", path);
    return rc;
}

/* ---- folders ------------------------------------------------------------------------ */

static const char *const config_names[] = {"run.json", "train_config.json", "pretrain_config.json"};

static cJSON *read_json(const char *path, pst_error *err) {
    char *text = NULL;
    size_t len;
    if (pst_read_file(path, &text, &len, err) < 0) return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 0);
    if (!j) {
        long line = 1;
        for (const char *c = text; end && c < end; c++) line += *c == '\n';
        pst_fail(err, "%s:%ld: not valid JSON", path, line);
    }
    free(text);
    return j;
}

/* 1 when dir holds a run's configuration file (its name in *name). */
static int has_config(const char *dir, const char **name) {
    for (size_t i = 0; i < sizeof config_names / sizeof *config_names; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, config_names[i]);
        if (pst_file_exists(p)) {
            *name = config_names[i];
            return 1;
        }
    }
    return 0;
}

static int has_metrics(const char *dir) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    return pst_file_exists(p);
}

/* A run: a folder dir (flat = 0: dir/metrics.jsonl, dir/run.json ...) or, in an experiment
 * folder that keeps its runs as files (flat = 1), dir = FOLDER/NAME: NAME.metrics.jsonl,
 * NAME.run.json (its evaluation NAME.eval.json is attached by attach_evals). */
static int add_run(rp_report *r, const char *dir, int flat, int experiment, pst_error *err) {
    rp_run *v = pst_realloc(r->runs, (r->n_runs + 1) * sizeof *v, err);
    if (!v) return -1;
    r->runs = v;
    rp_run *run = &v[r->n_runs++];
    memset(run, 0, sizeof *run);
    run->experiment = experiment, run->flat = flat;
    if (!(run->dir = pst_strdup(dir, err))) return -1;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    const char *base = dir + n;
    while (base > dir && base[-1] != '/') base--;
    if (!(run->label = pst_strndup(base, (size_t)(dir + n - base), err))) return -1;
    char p[PATH_MAX];
    const char *cname = NULL;
    if (flat) snprintf(p, sizeof p, "%s.run.json", dir), cname = pst_file_exists(p) ? "run.json" : NULL;
    else if (has_config(dir, &cname)) snprintf(p, sizeof p, "%s/%s", dir, cname);
    if (cname) {
        if (!(run->config = read_json(p, err))) return -1;
        run->config_name = cname;
    }
    snprintf(p, sizeof p, flat ? "%s.metrics.jsonl" : "%s/metrics.jsonl", dir);
    return read_metrics(r, run, p, err);
}

/* eval's output: a JSON object with "n" and "kl_pi_a" (eval) or with "lm_loss" and
 * "mean_score" (pretrain eval). */
static int looks_like_eval(const cJSON *j) {
    return cJSON_IsObject(j) &&
           ((cJSON_GetObjectItemCaseSensitive(j, "n") && cJSON_GetObjectItemCaseSensitive(j, "kl_pi_a")) ||
            (cJSON_GetObjectItemCaseSensitive(j, "lm_loss") && cJSON_GetObjectItemCaseSensitive(j, "mean_score")));
}

static int add_eval(rp_report *r, const char *path, cJSON *j, int run, int experiment, pst_error *err) {
    rp_eval *v = pst_realloc(r->evals, (r->n_evals + 1) * sizeof *v, err);
    if (!v) return cJSON_Delete(j), -1;
    r->evals = v;
    rp_eval *e = &v[r->n_evals++];
    e->json = j, e->run = run, e->experiment = experiment;
    return (e->path = pst_strdup(path, err)) ? 0 : -1;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir (names, sorted); *n of them. */
static char **list_dir(const char *dir, size_t *n, pst_error *err) {
    DIR *d = opendir(dir);
    if (!d) return pst_fail(err, "%s: cannot open the folder", dir), NULL;
    char **names = NULL;
    size_t k = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char **v = pst_realloc(names, (k + 1) * sizeof *v, err);
        if (!v || !(v[k] = pst_strdup(e->d_name, err))) {
            if (v) names = v;
            for (size_t i = 0; i < k; i++) free(names[i]);
            free(names), closedir(d);
            return NULL;
        }
        names = v, k++;
    }
    closedir(d);
    if (k) qsort(names, k, sizeof *names, by_name);
    *n = k;
    return names ? names : pst_calloc(1, sizeof *names, err);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Calls visit(r, path, at) for each entry of dir (by name, path = dir/name) until one fails. */
typedef int (*rp_visit)(rp_report *r, char *path, const int at[2], pst_error *err);
static int each_entry(rp_report *r, const char *dir, rp_visit visit, const int at[2], pst_error *err) {
    size_t n = 0;
    char **names = list_dir(dir, &n, err);
    if (!names) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        rc = visit(r, p, at, err);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

/* path, if it is a *.json that looks like eval's output: an evaluation of run at[0] in experiment at[1]. */
static int visit_eval(rp_report *r, char *path, const int at[2], pst_error *err) {
    if (!ends_with(path, ".json") || is_dir(path)) return 0;
    pst_error ignore = {0};
    cJSON *j = read_json(path, &ignore);
    if (looks_like_eval(j)) return add_eval(r, path, j, at[0], at[1], err);
    cJSON_Delete(j);
    return 0;
}

/* The evaluations in dir, attached to run / experiment (-1: none). */
static int add_evals_in(rp_report *r, const char *dir, int run, int experiment, pst_error *err) {
    const int at[2] = {run, experiment};
    return each_entry(r, dir, visit_eval, at, err);
}

/* path in experiment at[1]: a run folder (with its evaluations) or a NAME.metrics.jsonl. */
static int visit_run(rp_report *r, char *path, const int at[2], pst_error *err) {
    if (is_dir(path) && has_metrics(path)) {
        if (add_run(r, path, 0, at[1], err) < 0) return -1;
        return add_evals_in(r, path, (int)r->n_runs - 1, at[1], err);
    }
    if (!ends_with(path, ".metrics.jsonl")) return 0;
    path[strlen(path) - strlen(".metrics.jsonl")] = 0;
    return add_run(r, path, 1, at[1], err);
}

/* An experiment folder: its run subfolders and its evaluations. */
static int add_experiment(rp_report *r, const char *dir, pst_error *err) {
    rp_experiment *v = pst_realloc(r->experiments, (r->n_experiments + 1) * sizeof *v, err);
    if (!v) return -1;
    r->experiments = v;
    int x = (int)r->n_experiments++;
    if (!(v[x].dir = pst_strdup(dir, err))) return -1;
    size_t runs0 = r->n_runs, evals0 = r->n_evals;
    const int at[2] = {-1, x};
    if (each_entry(r, dir, visit_run, at, err) < 0 || add_evals_in(r, dir, -1, x, err) < 0) return -1;
    if (r->n_runs == runs0 && r->n_evals == evals0)
        return pst_fail(err, "%s: not a run folder (no metrics.jsonl) and no run folder or evaluation in it", dir);
    return 0;
}

/* One path given: a run folder, an experiment folder, or an evaluation. */
static int add_path(rp_report *r, const char *path, pst_error *err) {
    const char *cname;
    if (!is_dir(path)) {
        if (!pst_file_exists(path)) return pst_fail(err, "%s: no such file or folder", path);
        cJSON *j = read_json(path, err);
        if (!j) return -1;
        if (!looks_like_eval(j)) {
            cJSON_Delete(j);
            return pst_fail(err, "%s: not an evaluation (the JSON of eval has \"n\" and \"kl_pi_a\", that of pretrain "
                            "eval \"lm_loss\" and \"mean_score\")", path);
        }
        return add_eval(r, path, j, -1, -1, err);
    }
    if (has_metrics(path)) {
        if (add_run(r, path, 0, -1, err) < 0) return -1;
        return add_evals_in(r, path, (int)r->n_runs - 1, -1, err);
    }
    if (has_config(path, &cname))
        return pst_fail(err, "%s: a run folder (%s) without metrics.jsonl: nothing to draw", path, cname);
    return add_experiment(r, path, err);
}

/* An evaluation not in a run folder belongs to the run beside it (NAME.eval.json of
 * NAME.metrics.jsonl or of the folder NAME), or to the run whose folder holds its "model"
 * (eval --model RUN/model). */
static void attach_evals(rp_report *r) {
    for (size_t e = 0; e < r->n_evals; e++) {
        const char *path = r->evals[e].path;
        size_t n = strlen(path), k = strlen(".eval.json");
        for (size_t i = 0; r->evals[e].run < 0 && i < r->n_runs && ends_with(path, ".eval.json"); i++)
            if (strlen(r->runs[i].dir) == n - k && strncmp(r->runs[i].dir, path, n - k) == 0)
                r->evals[e].run = (int)i;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->evals[e].json, "model");
        if (r->evals[e].run >= 0 || !cJSON_IsString(m)) continue;
        /* the folder holding "model" (RUN/model may be a link into RUN/checkpoints/) */
        char parent[PATH_MAX], model[PATH_MAX], dir[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", m->valuestring);
        size_t len = strlen(parent);
        while (len > 1 && parent[len - 1] == '/') parent[--len] = 0;
        char *slash = strrchr(parent, '/');
        if (slash) *slash = 0;
        if (!realpath(slash ? (*parent ? parent : "/") : ".", model)) continue;
        for (size_t i = 0; i < r->n_runs; i++)
            if (realpath(r->runs[i].dir, dir) && strcmp(dir, model) == 0) r->evals[e].run = (int)i;
    }
}

static void report_free(rp_report *r) {
    for (size_t i = 0; i < r->n_runs; i++) {
        rp_run *run = &r->runs[i];
        for (size_t s = 0; s < run->n_series; s++)
            free(run->series[s].key), free(run->series[s].step), free(run->series[s].value);
        free(run->series), free(run->dir), free(run->label);
        cJSON_Delete(run->config);
    }
    for (size_t i = 0; i < r->n_evals; i++) free(r->evals[i].path), cJSON_Delete(r->evals[i].json);
    for (size_t i = 0; i < r->n_experiments; i++) free(r->experiments[i].dir);
    free(r->runs), free(r->evals), free(r->experiments);
}

static const char page_css[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1320px;padding:0 16px;color:#222}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;margin-top:32px}h3{font-size:15px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;"
    "vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".warn{color:#a40000}.note{color:#666}.legend span{margin-right:18px;font-weight:600}"
    ".panels{display:flex;flex-wrap:wrap;gap:8px}svg.panel{background:#fff;border:1px solid #eee}"
    "svg .hover{fill:transparent}svg .hover:hover{fill:currentColor}"
    "pre.sample{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:6px 8px;margin:4px 0}"
    "mark{background:#ffe38a}mark.pii{background:#ffb3b3}mark.toxic{background:#f5a3ff}"
    ".pep8{background:#e8f0ff;display:inline-block;width:100%}.codes{color:#1f4fbf;font-size:12px}"
    "details{margin:6px 0}.wide{overflow-x:auto}";

static void write_page(rp_buf *b, rp_report *r, pst_error *err, int *rc) {
    const char *title = r->opt->title ? r->opt->title : "posterior report";
    rp_put(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
              "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n<title>");
    rp_escape_str(b, title);
    rp_printf(b, "</title>\n<style>%s</style></head>\n<body>\n<h1>", page_css);
    rp_escape_str(b, title);
    rp_put(b, "</h1>\n");
    if (r->summary->n_warnings) {
        rp_put(b, "<ul class=\"warn\" id=\"warnings\">\n");
        for (size_t i = 0; i < r->summary->n_warnings; i++) {
            rp_put(b, "<li>");
            rp_escape_str(b, r->summary->warnings[i]);
            rp_put(b, "</li>\n");
        }
        rp_put(b, "</ul>\n");
    }
    for (size_t x = 0; x < r->n_experiments; x++) rp_html_experiment(b, r, x);
    if (r->n_runs) rp_html_curves(b, r, &r->summary->n_curves, &r->summary->n_points);
    for (size_t i = 0; i < r->n_runs; i++) rp_html_config(b, &r->runs[i], i);
    if (r->n_evals) rp_put(b, "<h2>Evaluations</h2>\n");
    for (size_t e = 0; e < r->n_evals && *rc == 0; e++) *rc = rp_html_eval(b, r, &r->evals[e], err);
    rp_put(b, "</body></html>\n");
}

int pst_report_write(const char *const *paths, size_t n, const char *out_path, const pst_report_options *o,
                     pst_report_summary *summary, pst_error *err) {
    pst_report_options def;
    pst_report_summary local = {0};
    if (!o) pst_report_options_default(&def), o = &def;
    if (o->window < 1) return pst_fail_field(err, "window", "window must be at least 1, got %d", o->window);
    if (n == 0) return pst_fail(err, "no run folder given");
    if (!summary) summary = &local;
    memset(summary, 0, sizeof *summary);
    rp_report r = {.summary = summary, .opt = o};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = add_path(&r, paths[i], err);
    rp_buf b = {0};
    if (rc == 0) {
        attach_evals(&r);
        summary->n_runs = r.n_runs, summary->n_evals = r.n_evals;
        write_page(&b, &r, err, &rc);
        if (rc == 0 && b.failed) rc = pst_fail(err, "out of memory writing the report");
        if (rc == 0) rc = pst_write_file_atomic(out_path, b.p, b.n, err);
    }
    free(b.p);
    report_free(&r);
    if (summary == &local) pst_report_summary_clear(&local);
    return rc;
}
