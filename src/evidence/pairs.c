/* Preference pairs: reading and writing the JSON-lines format of pairs.h. */
#include "posterior/pairs.h"
#include "posterior/scorer.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int add_skip(pst_pair_set *s, size_t *cap, long line, pst_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int add_skip(pst_pair_set *s, size_t *cap, long line, pst_error *err, const char *fmt, ...) {
    pst_pair_skip *grown = pst_grow(s->skips, cap, s->skipped + 1, sizeof *grown, 8, err);
    if (!grown) return -1;
    s->skips = grown;
    pst_pair_skip *k = &s->skips[s->skipped++];
    k->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->reason, sizeof k->reason, fmt, ap);
    va_end(ap);
    return 0;
}

static const char *string_field(const cJSON *obj, const char *key) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

/* Why the object on one line is not a usable pair, or NULL when it is. */
static const char *pair_problem(const cJSON *obj, const char **missing) {
    static const char *const keys[] = {"prompt", "chosen", "rejected"};
    for (int i = 0; i < 3; i++)
        if (!string_field(obj, keys[i])) {
            *missing = keys[i];
            return "no string field";
        }
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(obj, "tie");
    if (tie && !cJSON_IsBool(tie)) return "\"tie\" is not true or false";
    const char *c = string_field(obj, "chosen"), *r = string_field(obj, "rejected");
    if (!*c || !*r) return "empty chosen or rejected text";
    if (!strcmp(c, r)) return "chosen and rejected are the same text";
    return NULL;
}

static int add_pair(pst_pair_set *s, size_t *cap, const cJSON *obj, long line, pst_error *err) {
    pst_pair *grown = pst_grow(s->pairs, cap, s->n + 1, sizeof *grown, 64, err);
    if (!grown) return -1;
    s->pairs = grown;
    pst_pair *p = &s->pairs[s->n];
    memset(p, 0, sizeof *p);
    p->line = line;
    p->tie = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "tie"));
    if (!(p->prompt = pst_strdup(string_field(obj, "prompt"), err)) ||
        !(p->chosen = pst_strdup(string_field(obj, "chosen"), err)) ||
        !(p->rejected = pst_strdup(string_field(obj, "rejected"), err))) {
        free(p->prompt), free(p->chosen), free(p->rejected);
        return -1;
    }
    s->n++;
    return 0;
}

/* One non-blank line: a pair, or a recorded skip. */
static int read_line(pst_pair_set *s, size_t *cap, size_t *skip_cap, const char *text, size_t len,
                     long line, pst_error *err) {
    cJSON *obj = cJSON_ParseWithLength(text, len);
    const char *missing = NULL, *why = NULL;
    int rc;
    if (!obj || !cJSON_IsObject(obj))
        rc = add_skip(s, skip_cap, line, err, "not a JSON object");
    else if ((why = pair_problem(obj, &missing)))
        rc = missing ? add_skip(s, skip_cap, line, err, "%s \"%s\"", why, missing)
                     : add_skip(s, skip_cap, line, err, "%s", why);
    else
        rc = add_pair(s, cap, obj, line, err);
    cJSON_Delete(obj);
    return rc;
}

int pst_pairs_read(const char *path, pst_pair_set *out, pst_error *err) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len, cap = 0, skip_cap = 0, pos = 0;
    if (pst_read_file(path, &buf, &len, err)) return -1;
    long line = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        line++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len, s = pos;
        while (s < end && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r')) s++;
        if (s < end) rc = read_line(out, &cap, &skip_cap, buf + s, end - s, line, err);
        pos = end + 1;
    }
    free(buf);
    if (rc == 0 && out->n == 0)
        rc = pst_fail(err, "%s: no usable preference pair (%zu line%s skipped%s%s)", path,
                      out->skipped, out->skipped == 1 ? "" : "s", out->skipped ? "; first: " : "",
                      out->skipped ? out->skips[0].reason : "");
    if (rc) pst_pair_set_free(out);
    return rc;
}

void pst_pair_set_print_skips(const pst_pair_set *s, const char *path, FILE *f) {
    for (size_t i = 0; i < s->skipped; i++)
        fprintf(f, "warning: %s:%ld: %s; line skipped\n", path, s->skips[i].line, s->skips[i].reason);
}

void pst_pair_set_free(pst_pair_set *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->pairs[i].prompt), free(s->pairs[i].chosen), free(s->pairs[i].rejected);
    free(s->pairs);
    free(s->skips);
    memset(s, 0, sizeof *s);
}

char *pst_pair_to_json(const pst_pair *p, pst_error *err) {
    const char *texts[3] = {p->prompt ? p->prompt : "", p->chosen, p->rejected};
    char *q[3] = {0};
    size_t ql[3], total = 64;
    for (int i = 0; i < 3; i++) {
        if (!(q[i] = pst_json_quote(texts[i], strlen(texts[i]), &ql[i]))) {
            free(q[0]), free(q[1]);
            pst_fail_oom(err, "a preference pair as JSON");
            return NULL;
        }
        total += ql[i];
    }
    char *line = pst_malloc(total, err);
    if (line)
        snprintf(line, total, "{\"prompt\": %s, \"chosen\": %s, \"rejected\": %s, \"tie\": %s}", q[0],
                 q[1], q[2], p->tie ? "true" : "false");
    free(q[0]), free(q[1]), free(q[2]);
    return line;
}

int pst_pairs_write(const char *path, const pst_pair *pairs, size_t n, pst_error *err) {
    char **lines = pst_calloc(n ? n : 1, sizeof *lines, err);
    const void **parts = pst_calloc(2 * n + 1, sizeof *parts, err);
    size_t *lens = pst_calloc(2 * n + 1, sizeof *lens, err);
    int rc = (lines && parts && lens) ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!pairs[i].chosen || !pairs[i].rejected) {
            rc = pst_fail(err, "%s: pair %zu has no chosen or rejected text", path, i + 1);
            break;
        }
        if (!(lines[i] = pst_pair_to_json(&pairs[i], err))) rc = -1;
        else {
            parts[2 * i] = lines[i], lens[2 * i] = strlen(lines[i]);
            parts[2 * i + 1] = "\n", lens[2 * i + 1] = 1;
        }
    }
    if (rc == 0) rc = pst_write_file_atomic_parts(path, parts, lens, 2 * n, err);
    for (size_t i = 0; lines && i < n; i++) free(lines[i]);
    free(lines), free(parts), free(lens);
    return rc;
}
