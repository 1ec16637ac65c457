/* Base layer: RNG determinism and distribution, logsumexp, atomic writes, GEMM. */
#include "check.h"
#include "posterior/base.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_rng(void) {
    pst_rng a, b;
    pst_rng_seed(&a, 42);
    pst_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(pst_rng_u64(&a) == pst_rng_u64(&b));
    /* mean and variance of uniforms and normals */
    double s = 0, s2 = 0, n1 = 0, n2 = 0;
    int N = 200000;
    for (int i = 0; i < N; i++) {
        double u = pst_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        s += u;
        s2 += u * u;
        double z = pst_rng_normal(&a);
        n1 += z;
        n2 += z * z;
    }
    CHECK_NEAR(s / N, 0.5, 5 * sqrt(1.0 / 12 / N));
    CHECK_NEAR(s2 / N - (s / N) * (s / N), 1.0 / 12, 0.002);
    CHECK_NEAR(n1 / N, 0.0, 5 / sqrt(N));
    CHECK_NEAR(n2 / N, 1.0, 0.02);
    /* pst_rng_below is uniform over 3 values: chi-square with 2 dof < 13.8 (p=0.001) */
    int cnt[3] = {0};
    for (int i = 0; i < 30000; i++) cnt[pst_rng_below(&a, 3)]++;
    double chi = 0;
    for (int k = 0; k < 3; k++) chi += (cnt[k] - 10000.0) * (cnt[k] - 10000.0) / 10000.0;
    CHECK_MSG(chi < 13.8, "chi2 = %g", chi);
    pst_rng c = pst_rng_split(&a, 1), d = pst_rng_split(&a, 2);
    CHECK(pst_rng_u64(&c) != pst_rng_u64(&d));
}

static void test_logsumexp(void) {
    double x[3] = {1000.0, 1000.0, -INFINITY};
    CHECK_NEAR(pst_logsumexp(x, 3), 1000.0 + log(2.0), 1e-12);
    double y[2] = {-INFINITY, -INFINITY};
    CHECK(pst_logsumexp(y, 2) == -INFINITY);
    CHECK(pst_logsumexp(y, 0) == -INFINITY);
    double z[2] = {log(0.25), log(0.5)};
    CHECK_NEAR(pst_logsumexp(z, 2), log(0.75), 1e-15);
}

static void test_files(void) {
    pst_error err;
    char dir[] = "/tmp/pst_test_base_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[4200];
    CHECK(pst_path_join(path, sizeof path, dir, "a/b", &err) == 0);
    CHECK(pst_mkdir_p(path, &err) == 0);
    CHECK(pst_path_join(path, sizeof path, dir, "a/b/f.txt", &err) == 0);
    CHECK(pst_write_file_atomic(path, "hello", 5, &err) == 0);
    char *data;
    size_t len;
    CHECK(pst_read_file(path, &data, &len, &err) == 0);
    CHECK(len == 5 && memcmp(data, "hello", 5) == 0 && data[5] == 0);
    free(data);
    CHECK(pst_read_file("/nonexistent/x", &data, &len, &err) == -1);
    CHECK(strstr(err.msg, "/nonexistent/x") != NULL);
    /* a failed atomic write leaves the old file intact */
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/missing-dir/f.txt", dir);
    CHECK(pst_write_file_atomic(bad, "x", 1, &err) == -1);
    CHECK(pst_read_file(path, &data, &len, &err) == 0 && len == 5);
    free(data);
}

/* One checkpoint directory: invisible until committed, a kill's leftovers (a dead PID's
 * NAME.tmp.PID, anywhere) removed and never taken, the highest complete one resumed. */
static void test_checkpoints(void) {
    char root[] = "/tmp/pst_ckpt_XXXXXX", path[4096], link[64];
    CHECK(mkdtemp(root) != NULL);
    pst_error err = {0};
    pst_checkpoint c;
    long step = 0;
    char dir[4096];
    CHECK(pst_checkpoint_find(root, dir, sizeof dir, &step, &err) == 0); /* empty: none */
    CHECK(pst_checkpoint_begin(&c, root, 3, &err) == 0);
    snprintf(path, sizeof path, "%s/state", c.tmp);
    CHECK(pst_write_file_atomic(path, "three", 5, &err) == 0);
    CHECK(pst_checkpoint_find(root, dir, sizeof dir, &step, &err) == 0); /* a live writer's: kept, not taken */
    CHECK(pst_file_exists(c.tmp));
    CHECK(pst_checkpoint_commit(&c, &err) == 0);
    snprintf(path, sizeof path, "%s/latest", root);
    CHECK(readlink(path, link, sizeof link) == 6 && memcmp(link, "ckpt-3", 6) == 0);
    /* a killed writer's step 4 (PID 999999999 is not running) and stray temporaries */
    snprintf(path, sizeof path, "%s/ckpt-4.tmp.999999999", root);
    CHECK(pst_mkdir_p(path, &err) == 0);
    snprintf(path, sizeof path, "%s/ckpt-3/model.safetensors.tmp.999999999", root);
    CHECK(pst_write_file_atomic(path, "x", 1, &err) == 0);
    snprintf(path, sizeof path, "%s/ckpt-2", root); /* an older complete one a kill left */
    CHECK(pst_mkdir_p(path, &err) == 0);
    CHECK(pst_checkpoint_find(root, dir, sizeof dir, &step, &err) == 1 && step == 3);
    snprintf(path, sizeof path, "%s/ckpt-3", root);
    CHECK(strcmp(dir, path) == 0);
    const char *gone[3] = {"ckpt-4.tmp.999999999", "ckpt-3/model.safetensors.tmp.999999999", "ckpt-2"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", root, gone[i]);
        CHECK_MSG(!pst_file_exists(path), "%s left", gone[i]);
    }
    /* the next one replaces it; an aborted one leaves nothing */
    CHECK(pst_checkpoint_begin(&c, root, 5, &err) == 0 && pst_checkpoint_commit(&c, &err) == 0);
    CHECK(pst_checkpoint_begin(&c, root, 6, &err) == 0);
    pst_checkpoint_abort(&c);
    CHECK(!pst_file_exists(c.tmp));
    CHECK(pst_checkpoint_find(root, dir, sizeof dir, &step, &err) == 1 && step == 5);
    snprintf(path, sizeof path, "%s/ckpt-3", root);
    CHECK(!pst_file_exists(path));
    /* the same step again (a fresh run over an old one) replaces it */
    CHECK(pst_checkpoint_begin(&c, root, 5, &err) == 0);
    snprintf(path, sizeof path, "%s/new", c.tmp);
    CHECK(pst_write_file_atomic(path, "n", 1, &err) == 0 && pst_checkpoint_commit(&c, &err) == 0);
    snprintf(path, sizeof path, "%s/ckpt-5/new", root);
    CHECK(pst_file_exists(path));
    /* a directory where a link goes is refused */
    snprintf(path, sizeof path, "%s/ckpt-5", root);
    CHECK(pst_symlink_atomic("x", path, &err) < 0 && strstr(err.msg, "is a directory"));
    CHECK(pst_remove_tree(root, &err) == 0 && !pst_file_exists(root));
}

static void test_gemm(void) {
    /* every transpose combination against a naive triple loop */
    int M = 7, N = 5, K = 9;
    float A[9 * 9], B[9 * 9], C[7 * 5], R[7 * 5];
    pst_rng r;
    pst_rng_seed(&r, 3);
    for (int i = 0; i < 81; i++) A[i] = (float)pst_rng_normal(&r), B[i] = (float)pst_rng_normal(&r);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = ta ? M : K, ldb = tb ? K : N;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int k = 0; k < K; k++)
                        s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                             (tb ? B[j * ldb + k] : B[k * ldb + j]);
                    R[i * N + j] = (float)(0.5 * s + 2.0);
                    C[i * N + j] = 1.0f;
                }
            pst_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C, N);
            double maxerr = 0;
            for (int i = 0; i < M * N; i++) maxerr = fmax(maxerr, fabs(C[i] - R[i]));
            CHECK_MSG(maxerr < 1e-4, "ta=%d tb=%d maxerr=%g", ta, tb, maxerr);
        }
}

/* pst_fail_field records the option field; pst_fail clears it; a context keeps it. */
static void test_errors(void) {
    pst_error err = {0};
    CHECK(pst_fail_field(&err, "max_proposals", "max_proposals = %d: too small", 3) == -1);
    CHECK(!strcmp(err.field, "max_proposals") && !strcmp(err.msg, "max_proposals = 3: too small"));
    CHECK(pst_fail_context(&err, "tune") == -1);
    CHECK(!strcmp(err.field, "max_proposals") && !strcmp(err.msg, "tune: max_proposals = 3: too small"));
    CHECK(pst_fail(&err, "%s: bad", "x.json") == -1);
    CHECK(err.field[0] == 0 && !strcmp(err.msg, "x.json: bad"));
    CHECK(pst_fail_field(NULL, "n", "ignored") == -1);
}

/* Checked allocation: one message, "out of memory: N bytes"; an overflow is refused. */
static void test_alloc(void) {
    pst_error err = {0};
    CHECK(pst_calloc(SIZE_MAX / 2, 4, &err) == NULL && strstr(err.msg, "overflows"));
    char *p = pst_realloc(NULL, 0, &err);
    CHECK(p != NULL);
#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer aborts on an impossible size instead of returning NULL */
    CHECK(pst_malloc(SIZE_MAX / 2, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "out of memory: ") && strstr(err.msg, " bytes"), "%s", err.msg);
    CHECK(pst_realloc(p, SIZE_MAX / 2, &err) == NULL && strstr(err.msg, "out of memory"));
#endif
    free(p); /* p is intact after a failed realloc */
    char *d = pst_strndup("abcdef", 3, &err), *e = pst_strdup("xyz", &err);
    CHECK(d && e && !strcmp(d, "abc") && !strcmp(e, "xyz"));
    free(d), free(e);
    CHECK(pst_fail_oom(&err, "a JSON document") == -1 && !strcmp(err.msg, "out of memory: a JSON document"));
}

/* Growable arrays: capacity doubles from `first` until `need` fits; the contents stay;
 * no reallocation while there is room; an overflow is refused with p intact. */
static void test_grow(void) {
    pst_error err = {0};
    size_t cap = 0, n = 0;
    int *v = NULL;
    for (int i = 0; i < 100; i++) {
        int *g = pst_grow(v, &cap, n + 1, sizeof *v, 16, &err);
        CHECK(g != NULL);
        if (!g) break;
        v = g;
        v[n++] = i;
    }
    CHECK(cap == 128 && n == 100 && v[0] == 0 && v[99] == 99);
    CHECK(pst_grow(v, &cap, 128, sizeof *v, 16, &err) == v && cap == 128); /* room: the same array */
    int *g = pst_grow(v, &cap, 1000, sizeof *v, 16, &err);
    CHECK(g != NULL && cap == 1024 && g[99] == 99);
    if (!g) return;
    v = g;
    err.msg[0] = 0;
    CHECK(pst_grow(v, &cap, SIZE_MAX / 2, sizeof *v, 16, &err) == NULL && strstr(err.msg, "overflows"));
    CHECK(cap == 1024 && v[50] == 50); /* p and *cap intact */
    free(v);
}

/* JSON strings: escapes, and always valid UTF-8 (each bad byte as \ufffd). */
static void test_json_quote(void) {
    size_t n;
    char *q = pst_json_quote("a\"b\\c\n\x01\xff\xc3\xa9\xe2\x82", 12, &n);
    CHECK(q && strcmp(q, "\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9\\ufffd\\ufffd\"") == 0);
    CHECK(q && n == strlen(q));
    free(q);
    q = pst_json_quote("x\0y", 3, &n);
    CHECK(q && strcmp(q, "\"x\\u0000y\"") == 0);
    free(q);
    q = pst_json_quote("\xed\xa0\x80", 3, &n); /* a UTF-16 surrogate is not UTF-8 */
    CHECK(q && strcmp(q, "\"\\ufffd\\ufffd\\ufffd\"") == 0);
    free(q);
}

int main(void) {
    test_errors();
    test_alloc();
    test_grow();
    test_json_quote();
    test_rng();
    test_logsumexp();
    test_files();
    test_checkpoints();
    test_gemm();
    return check_report();
}
