/* Helpers shared by the libFuzzer targets of tests/fuzz (docs/fuzzing.md).
 *
 * Framing: a loader that reads several files gets them from one fuzz input cut
 * at the separator line "\n%%\n": part 0 is the first file, part 1 the second...
 * A missing part means a missing file. Files are written into one temporary
 * folder per process, made once and reused (overwritten) for every input. */
#ifndef POSTERIOR_FUZZ_H
#define POSTERIOR_FUZZ_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_SEP "\n%%\n"
#define FUZZ_MAX_PARTS 8

typedef struct {
    const char *data[FUZZ_MAX_PARTS];
    size_t len[FUZZ_MAX_PARTS];
    int n;
} fuzz_parts;

/* Cuts data at each FUZZ_SEP into at most FUZZ_MAX_PARTS parts (the last part
 * keeps any further separators). */
static inline fuzz_parts fuzz_split(const uint8_t *data, size_t size) {
    fuzz_parts p = {{0}, {0}, 0};
    const char *s = (const char *)data, *end = s + size;
    size_t sl = strlen(FUZZ_SEP);
    while (p.n < FUZZ_MAX_PARTS - 1) {
        const char *m = memmem(s, (size_t)(end - s), FUZZ_SEP, sl);
        if (!m) break;
        p.data[p.n] = s;
        p.len[p.n++] = (size_t)(m - s);
        s = m + sl;
    }
    p.data[p.n] = s;
    p.len[p.n++] = (size_t)(end - s);
    return p;
}

static char fuzz_dir_path[256];

static int fuzz_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

/* removes the folder and what the loaders wrote into it (at exit) */
static void fuzz_dir_remove(void) {
    nftw(fuzz_dir_path, fuzz_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* The process's temporary folder (made on first use, removed at exit). */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/posterior-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir_path)) abort();
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* Writes `name` in fuzz_dir() with data[0, len), or removes it when data is
 * NULL; returns the path (a static buffer per call site is not needed: callers
 * use it at once). */
static inline const char *fuzz_file(const char *name, const char *data, size_t len) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    if (!data) {
        unlink(path);
        return path;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) abort();
    return path;
}

/* Writes part i of p as `name` (removed when the input has no part i). */
static inline void fuzz_part_file(const fuzz_parts *p, int i, const char *name) {
    fuzz_file(name, i < p->n ? p->data[i] : NULL, i < p->n ? p->len[i] : 0);
}

/* A NUL-terminated malloc'd copy of data[0, len). */
static inline char *fuzz_cstr(const char *data, size_t len) {
    char *s = malloc(len + 1);
    if (!s) abort();
    memcpy(s, data, len);
    s[len] = 0;
    return s;
}

/* With FUZZ_DEBUG set, prints why an input was refused (for checking seeds). */
static inline void fuzz_note(const char *what, const char *msg) {
    static int on = -1;
    if (on < 0) on = getenv("FUZZ_DEBUG") != NULL;
    if (on) fprintf(stderr, "%s: %s\n", what, msg);
}

#endif
