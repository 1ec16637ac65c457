/* JSONL metrics and terminal progress. */
#include "posterior/base.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double pst_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int pst_metrics_open(pst_metrics *m, const char *path, long resume_step, pst_error *err) {
    if (resume_step >= 0 && pst_metrics_truncate(path, resume_step, err) < 0) return -1;
    m->file = fopen(path, resume_step >= 0 ? "a" : "w");
    if (!m->file) return pst_fail(err, "%s: cannot open metrics file: %s", path, strerror(errno));
    return 0;
}

int pst_metrics_truncate(const char *path, long step, pst_error *err) {
    if (!pst_file_exists(path)) return 0;
    char *text;
    size_t len;
    if (pst_read_file(path, &text, &len, err)) return -1;
    size_t k = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) + 1 : strlen(line);
        char *key = strstr(line, "\"step\":");
        char *end = NULL;
        double s = key && key < line + ll ? strtod(key + 7, &end) : NAN;
        if (nl && end && end > key + 7 && s <= (double)step) { /* kept: complete lines up to step */
            memmove(text + k, line, ll);
            k += ll;
        }
        line += ll;
    }
    int rc = pst_write_file_atomic(path, text, k, err);
    free(text);
    return rc;
}

void pst_metrics_write(pst_metrics *m, const char *fmt, ...) {
    if (!m || !m->file) return;
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + 1, sizeof line - 3, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 4) n = (int)sizeof line - 4;
    line[0] = '{';
    line[n + 1] = '}';
    line[n + 2] = '\n';
    fwrite(line, 1, (size_t)n + 3, m->file);
    fflush(m->file);
}

void pst_metrics_close(pst_metrics *m) {
    if (m && m->file) fclose(m->file);
    if (m) m->file = NULL;
}

void pst_progress_start(pst_progress *p, const char *label, long total) {
    p->label = label;
    p->total = total;
    p->start_time = pst_now();
    p->last_draw = 0;
    p->enabled = isatty(STDERR_FILENO);
}

static void format_duration(char *buf, size_t cap, double s) {
    if (s < 0 || s > 1e7) snprintf(buf, cap, "?");
    else if (s >= 3600) snprintf(buf, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60) snprintf(buf, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, cap, "%.0fs", s);
}

void pst_progress_update(pst_progress *p, long done, double tokens_per_s, const char *extra) {
    if (!p->enabled) return;
    double now = pst_now();
    if (now - p->last_draw < 0.2 && done < p->total) return;
    p->last_draw = now;
    double elapsed = now - p->start_time;
    char eta[32] = "?";
    if (done > 0 && p->total > 0) format_duration(eta, sizeof eta, elapsed / done * (p->total - done));
    fprintf(stderr, "\r\033[K%s  step %ld/%ld  %.1f%%", p->label, done, p->total,
            p->total > 0 ? 100.0 * done / p->total : 0.0);
    if (tokens_per_s > 0) fprintf(stderr, "  %.0f tok/s", tokens_per_s);
    fprintf(stderr, "  ETA %s", eta);
    if (extra && *extra) fprintf(stderr, "  %s", extra);
    fflush(stderr);
}

void pst_progress_finish(pst_progress *p) {
    if (p->enabled) fprintf(stderr, "\n");
}
