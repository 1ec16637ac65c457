/* Prompts files: one context per line (corpus.h). */
#include "posterior/corpus.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static int only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v') return 0;
    return 1;
}

/* One line of a .jsonl prompts file: a JSON string, or an object with a string "prompt". */
static char *json_prompt(const char *path, long line, const char *s, size_t n, pst_error *err) {
    cJSON *v = cJSON_ParseWithLength(s, n);
    const cJSON *str = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "prompt") : v;
    char *text = NULL;
    if (!cJSON_IsString(str) || !str->valuestring)
        pst_fail(err, "%s:%ld: not a JSON string or an object with a string \"prompt\"", path, line);
    else if (only_space(str->valuestring, strlen(str->valuestring)))
        pst_fail(err, "%s:%ld: empty prompt", path, line);
    else
        text = pst_strdup(str->valuestring, err);
    cJSON_Delete(v);
    return text;
}

int pst_prompts_read(const char *path, pst_prompts *out, pst_error *err) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    if (pst_read_file(path, &buf, &len, err) < 0) return -1;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    out->text = pst_calloc(lines, sizeof *out->text, err);
    out->line = pst_calloc(lines, sizeof *out->line, err);
    int rc = out->text && out->line ? 0 : -1;
    size_t pos = 0, plen = strlen(path);
    int jsonl = plen > 6 && !strcmp(path + plen - 6, ".jsonl");
    for (long line = 1; rc == 0 && pos < len; line++) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len, n = end - pos;
        if (n > 0 && buf[end - 1] == '\r') n--;
        if (strspn(buf + pos, " \t\r\f\v\n") >= len - pos) break; /* blank lines at the end: the file's end */
        if (only_space(buf + pos, n))
            rc = pst_fail(err, "%s:%ld: empty prompt (one prompt per line; remove the blank line)", path, line);
        else if (jsonl)
            rc = (out->text[out->n] = json_prompt(path, line, buf + pos, n, err)) ? (out->line[out->n++] = line, 0) : -1;
        else if (memchr(buf + pos, '\0', n))
            rc = pst_fail(err, "%s:%ld: the prompt holds a NUL byte", path, line);
        else if (!(out->text[out->n] = pst_strndup(buf + pos, n, err)))
            rc = -1;
        else
            out->line[out->n++] = line;
        pos = end + 1;
    }
    free(buf);
    if (rc == 0 && out->n == 0) rc = pst_fail(err, "%s: no prompt (one prompt per line)", path);
    if (rc) pst_prompts_free(out);
    return rc;
}

void pst_prompts_free(pst_prompts *p) {
    for (int i = 0; p->text && i < p->n; i++) free(p->text[i]);
    free(p->text), free(p->line);
    memset(p, 0, sizeof *p);
}
