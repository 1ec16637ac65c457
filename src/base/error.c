/* Error messages and checked allocation. */
#include "posterior/base.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int pst_fail(pst_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->field[0] = 0;
    }
    return -1;
}

int pst_fail_field(pst_error *err, const char *field, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    }
    return -1;
}

int pst_fail_context(pst_error *err, const char *fmt, ...) {
    if (err) {
        char prefix[512], old[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof old);
        snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    }
    return -1;
}

int pst_fail_oom(pst_error *err, const char *what) { return pst_fail(err, "out of memory: %s", what); }

static void fail_bytes(pst_error *err, size_t bytes) { pst_fail(err, "out of memory: %zu bytes", bytes); }

void *pst_malloc(size_t bytes, pst_error *err) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) fail_bytes(err, bytes);
    return p;
}

void *pst_calloc(size_t count, size_t size, pst_error *err) {
    if (size && count > SIZE_MAX / size) {
        pst_fail(err, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) fail_bytes(err, count * size);
    return p;
}

void *pst_realloc(void *p, size_t bytes, pst_error *err) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) fail_bytes(err, bytes);
    return q;
}

void *pst_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first, pst_error *err) {
    if (p && need <= *cap) return p;
    size_t nc = p && *cap ? *cap : first ? first : 1;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return pst_fail(err, "an array of %zu elements overflows", need), NULL;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem) return pst_fail(err, "allocation of %zu x %zu bytes overflows", nc, elem), NULL;
    void *q = pst_realloc(p, nc * elem, err);
    if (q) *cap = nc;
    return q;
}

char *pst_strdup(const char *s, pst_error *err) {
    size_t n = strlen(s) + 1;
    char *d = pst_malloc(n, err);
    if (d) memcpy(d, s, n);
    return d;
}

char *pst_strndup(const char *s, size_t n, pst_error *err) {
    size_t len = strnlen(s, n);
    char *d = pst_malloc(len + 1, err);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

void *pst_aligned_alloc(size_t bytes, pst_error *err) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        fail_bytes(err, bytes);
        return NULL;
    }
    return p;
}

void *pst_large_alloc(size_t bytes, pst_error *err) {
    const size_t huge = (size_t)2 << 20;
    size_t rounded = (bytes + huge - 1) / huge * huge;
    void *p = NULL;
    if (posix_memalign(&p, huge, rounded ? rounded : huge) != 0) {
        fail_bytes(err, bytes);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, rounded, MADV_HUGEPAGE); /* a hint: without huge pages the buffer still works */
#endif
    return p;
}
