/* A minimal safetensors reader for the PyTorch fixtures of the tests (tests/fixtures/),
 * and the relative error they are compared by. Exits with 2 on a missing or mistyped tensor. */
#ifndef POSTERIOR_TESTS_FIXTURE_H
#define POSTERIOR_TESTS_FIXTURE_H

#include "posterior/base.h"
#include "posterior/prior.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    cJSON *header;
    const char *body;
    void **copies; /* what fixture_get handed out (aligned copies), freed by fixture_close */
    size_t n_copies;
} fixture;

static inline int fixture_open(fixture *f, const char *path) {
    pst_error err;
    memset(f, 0, sizeof *f);
    if (pst_read_file(path, &f->data, &f->len, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    uint64_t n;
    memcpy(&n, f->data, 8);
    char *h = malloc(n + 1);
    memcpy(h, f->data + 8, n);
    h[n] = 0;
    f->header = cJSON_Parse(h);
    free(h);
    f->body = f->data + 8 + n;
    return f->header ? 0 : -1;
}

static inline void fixture_close(fixture *f) {
    for (size_t i = 0; i < f->n_copies; i++) free(f->copies[i]);
    free(f->copies);
    cJSON_Delete(f->header);
    free(f->data);
}

/* Pointer to tensor `name` (checking dtype and element count): an aligned copy, since a
 * tensor's offset in the file need not be a multiple of its element size (valid until
 * fixture_close). */
static inline const void *fixture_get(const fixture *f, const char *name, const char *dtype, size_t n) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(f->header, name);
    if (!t) {
        fprintf(stderr, "fixture: no tensor %s\n", name);
        exit(2);
    }
    const char *dt = cJSON_GetObjectItem(t, "dtype")->valuestring;
    cJSON *off = cJSON_GetObjectItem(t, "data_offsets");
    size_t b0 = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
    size_t b1 = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
    size_t esz = strcmp(dt, "F64") == 0 ? 8 : 4;
    if (strcmp(dt, dtype) || (b1 - b0) != n * esz) {
        fprintf(stderr, "fixture: %s is %s with %zu bytes, expected %s x %zu\n", name, dt,
                b1 - b0, dtype, n);
        exit(2);
    }
    fixture *mf = (fixture *)f; /* the copies list is bookkeeping, not the fixture's content */
    void **c = realloc(mf->copies, (mf->n_copies + 1) * sizeof *c);
    void *copy = malloc(b1 - b0 ? b1 - b0 : 1);
    if (!c || !copy) {
        fprintf(stderr, "fixture: out of memory\n");
        exit(2);
    }
    memcpy(copy, f->body + b0, b1 - b0);
    mf->copies = c;
    mf->copies[mf->n_copies++] = copy;
    return copy;
}

static inline double fixture_meta(const fixture *f, const char *key) {
    cJSON *m = cJSON_GetObjectItem(f->header, "__metadata__");
    return atof(cJSON_GetObjectItem(m, key)->valuestring);
}

/* ‖a − b‖ / ‖b‖ */
static inline double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

/* The short names of the 16 tensors of the C parameter buffer, in order (for messages). */
static const char *const tensor_names[PST_GPT2_NUM_TENSORS] = {
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};

#endif
