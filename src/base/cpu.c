/* Run-time CPU dispatch: the default build is portable (no -march=native), and each
 * AVX-512 kernel is compiled for AVX-512 on its own (a target attribute or pragma)
 * and called only when these say the CPU has it. */
#include "base/cpu.h"
#include "base/gemm.h"
#include "posterior/base.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#endif

int pst_cpu_has_avx512f(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

int pst_cpu_has_avx512bw_vl(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl")
               ? 1
               : 0;
#else
    return 0;
#endif
}

int pst_cpu_has_avx512_dq_bw_vl(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    return pst_cpu_has_avx512bw_vl() && __builtin_cpu_supports("avx512dq") ? 1 : 0;
#else
    return 0;
#endif
}

int pst_cpu_has_avx2_fma(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
#else
    return 0;
#endif
}

/* GFLOP/s of one thread running `iters` rounds of the 512-bit (wide) or 256-bit
 * chains: best of `rounds` (the least disturbed by other work on the core). */
static double fma_rate(int wide, long iters, int rounds, double *sink) {
    double best = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = pst_now();
        *sink += wide ? pst_fma_chains_avx512(iters) : pst_fma_chains_avx2(iters);
        double dt = pst_now() - t0;
        double flop = (double)iters * PST_FMA_CHAINS * (wide ? 16 : 8) * 2;
        if (dt > 0 && flop / dt / 1e9 > best) best = flop / dt / 1e9;
    }
    return best;
}

/* ~20 ms: 512-bit first (it wakes the wide units, which some cores power down when
 * idle), then the two alternately, so that a frequency change mid-probe touches both. */
static double measure_full_width(void) {
    double sink = 0, r256 = 0, r512 = 0;
    fma_rate(1, 20000, 4, &sink);
    for (int i = 0; i < 16; i++) {
        double a = fma_rate(0, 20000, 2, &sink), b = fma_rate(1, 20000, 2, &sink);
        if (a > r256) r256 = a;
        if (b > r512) r512 = b;
    }
    double ratio = r256 > 0 ? r512 / r256 : 0;
    if (sink == 12345.678) ratio += 1e-9; /* never true; keeps the chains */
    return ratio;
}

/* The CPU's identity, for the cache: vendor, family, model, stepping and brand string
 * (cpuid), e.g. "GenuineIntel 6 207 2 Intel(R) Xeon(R) Processor". */
static void cpu_identity(char *buf, size_t cap) {
    unsigned r[12] = {0}, a = 0, b = 0, c = 0, d = 0;
    char vendor[13] = "", brand[49] = "";
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    if (__get_cpuid(0, &a, &b, &c, &d)) {
        memcpy(vendor, &b, 4), memcpy(vendor + 4, &d, 4), memcpy(vendor + 8, &c, 4);
    }
    unsigned sig = __get_cpuid(1, &a, &b, &c, &d) ? a : 0;
    for (unsigned i = 0; i < 3; i++)
        if (__get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]) == 0) break;
    memcpy(brand, r, 48);
    unsigned family = (sig >> 8) & 15, model = (sig >> 4) & 15;
    if (family == 15) family += (sig >> 20) & 255;
    if (family == 6 || family >= 15) model += ((sig >> 16) & 15) << 4;
    snprintf(buf, cap, "%s %u %u %u %s", vendor, family, model, sig & 15, brand);
#else
    snprintf(buf, cap, "unknown");
#endif
    for (char *p = buf; *p; p++) /* one line, no tabs */
        if (*p == '\t' || *p == '\n' || *p == '\r') *p = ' ';
}

/* The cached ratio of `path` when its line names this CPU ("IDENTITY<TAB>RATIO\n"),
 * else -1. */
static double read_cached(const char *path, const char *identity) {
    char *text = NULL;
    size_t len = 0;
    double ratio = -1;
    if (pst_read_file(path, &text, &len, NULL) != 0) return -1;
    char *tab = strchr(text, '\t');
    size_t n = strlen(identity);
    if (tab && (size_t)(tab - text) == n && memcmp(text, identity, n) == 0) {
        char *end;
        double v = strtod(tab + 1, &end);
        if (end != tab + 1 && *end == '\n' && v > 0 && v < 16) ratio = v;
    }
    free(text);
    return ratio;
}

double pst_cpu_fma512_ratio_cached(const char *dir) {
    char identity[256], path[4096], lock[4096];
    cpu_identity(identity, sizeof identity);
    if (!dir || pst_mkdir_p(dir, NULL) || pst_path_join(path, sizeof path, dir, "fma512_ratio", NULL) ||
        pst_path_join(lock, sizeof lock, dir, "fma512_ratio.lock", NULL))
        return measure_full_width();
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) { /* no lock: measure, cache nothing */
        if (fd >= 0) close(fd);
        return measure_full_width();
    }
    double ratio = read_cached(path, identity);
    if (ratio < 0) {
        ratio = measure_full_width();
        char line[512];
        int n = snprintf(line, sizeof line, "%s\t%.17g\n", identity, ratio);
        pst_write_file_atomic(path, line, (size_t)n, NULL); /* a failure leaves no cache */
    }
    close(fd); /* releases the lock */
    return ratio;
}

static double full_width_ratio;
static pthread_once_t full_width_once = PTHREAD_ONCE_INIT;

static void full_width_init(void) {
    char dir[4096];
    full_width_ratio = pst_cpu_fma512_ratio_cached(pst_env_cache_dir(dir, sizeof dir) == 0 ? dir : NULL);
}

double pst_cpu_fma512_ratio(void) {
    if (!pst_cpu_has_avx512f() || !pst_cpu_has_avx2_fma()) return 0;
    pthread_once(&full_width_once, full_width_init);
    return full_width_ratio;
}
