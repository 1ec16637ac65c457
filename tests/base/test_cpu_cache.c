/* The per-machine cache of the 512/256-bit FMA throughput ratio (base/cpu.c), which
 * picks the matrix-product kernels and so the bits every product computes: two
 * processes on one machine must agree (a run resumed from a checkpoint must take the
 * uninterrupted run's path). Checks, in a fresh folder:
 *  - the first call measures and writes DIR/fma512_ratio naming this CPU; the next
 *    call reads the same value back, bit for bit;
 *  - a planted value for this CPU is what the call returns (the cache is read, not
 *    re-measured);
 *  - a line naming another CPU, a truncated line, an out-of-range value or an empty
 *    file is replaced by a fresh measurement;
 *  - a folder that cannot be created: measured, nothing written, no crash;
 *  - processes started together agree (the lock): 4 children, one cache, one value. */
#include "base/cpu.h"
#include "check.h"
#include "posterior/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *slurp(const char *path) {
    char *text = NULL;
    size_t len = 0;
    return pst_read_file(path, &text, &len, NULL) == 0 ? text : NULL;
}

static void plant(const char *path, const char *text) {
    CHECK(pst_write_file_atomic(path, text, strlen(text), NULL) == 0);
}

/* the identity part of the cache line: everything before the tab */
static void identity_of(const char *line, char *buf, size_t cap) {
    const char *tab = strchr(line, '\t');
    size_t n = tab ? (size_t)(tab - line) : 0;
    snprintf(buf, cap, "%.*s", (int)(n < cap ? n : cap - 1), line);
}

int main(void) {
    if (!pst_cpu_has_avx512f() || !pst_cpu_has_avx2_fma()) {
        CHECK(pst_cpu_fma512_ratio() == 0);
        return check_report();
    }
    char tmpl[] = "/tmp/pst_cpu_cache.XXXXXX", dir[256], path[320], text[512], identity[256];
    CHECK(mkdtemp(tmpl) != NULL);
    snprintf(dir, sizeof dir, "%s/a/b", tmpl); /* created on demand, parents too */
    snprintf(path, sizeof path, "%s/fma512_ratio", dir);

    double first = pst_cpu_fma512_ratio_cached(dir);
    CHECK_MSG(first > 0.5 && first < 3, "ratio %g", first);
    char *line = slurp(path);
    CHECK(line != NULL);
    if (!line) return check_report();
    identity_of(line, identity, sizeof identity);
    CHECK_MSG(strlen(identity) > 0 && strtod(strchr(line, '\t') + 1, NULL) == first, "%s", line);
    printf("  cache line: %s", line);
    free(line);
    CHECK(pst_cpu_fma512_ratio_cached(dir) == first);

    /* a planted value for this CPU is read back */
    snprintf(text, sizeof text, "%s\t1.25\n", identity);
    plant(path, text);
    CHECK(pst_cpu_fma512_ratio_cached(dir) == 1.25);

    /* another CPU, a truncated line, out of range, empty: measured again and rewritten */
    const char *bad[] = {"AuthenticAMD 26 2 0 AMD EPYC\t1.25\n", NULL, NULL, ""};
    char truncated[512], huge[512];
    snprintf(truncated, sizeof truncated, "%s\t1.25", identity);
    snprintf(huge, sizeof huge, "%s\t1e300\n", identity);
    bad[1] = truncated, bad[2] = huge;
    for (int i = 0; i < 4; i++) {
        plant(path, bad[i]);
        double r = pst_cpu_fma512_ratio_cached(dir);
        CHECK_MSG(r > 0.5 && r < 3 && r != 1.25, "case %d: %g", i, r);
        char *after = slurp(path), id2[256];
        CHECK(after != NULL);
        if (!after) continue;
        identity_of(after, id2, sizeof id2);
        CHECK_MSG(strcmp(id2, identity) == 0, "case %d rewrote %s", i, after);
        free(after);
    }

    /* a folder below a plain file cannot be created: measured, no crash */
    char blocked[320];
    snprintf(blocked, sizeof blocked, "%s/x", path);
    double r = pst_cpu_fma512_ratio_cached(blocked);
    CHECK(r > 0.5 && r < 3);
    CHECK(pst_cpu_fma512_ratio_cached(NULL) > 0.5);

    /* 4 processes start on an empty cache together: one value among them */
    snprintf(dir, sizeof dir, "%s/together", tmpl);
    int fds[2];
    CHECK(pipe(fds) == 0);
    for (int c = 0; c < 4; c++) {
        pid_t pid = fork();
        if (pid == 0) {
            double v = pst_cpu_fma512_ratio_cached(dir);
            ssize_t w = write(fds[1], &v, sizeof v);
            _exit(w == sizeof v ? 0 : 1);
        }
    }
    close(fds[1]);
    double v[4];
    for (int c = 0; c < 4; c++) CHECK(read(fds[0], &v[c], sizeof v[c]) == sizeof v[c]);
    for (int c = 0; c < 4; c++) {
        int status = 0;
        wait(&status);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int c = 1; c < 4; c++) CHECK_MSG(v[c] == v[0], "child %d: %.17g vs %.17g", c, v[c], v[0]);
    close(fds[0]);

    pst_error err;
    CHECK(pst_remove_tree(tmpl, &err) == 0);
    return check_report();
}
