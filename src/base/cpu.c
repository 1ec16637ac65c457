/* Run-time CPU dispatch: the default build is portable (no -march=native), and each
 * AVX-512 kernel is compiled for AVX-512 on its own (a target attribute or pragma)
 * and called only when these say the CPU has it. */
#include "base/cpu.h"
#include "base/gemm.h"
#include "posterior/base.h"

#include <pthread.h>

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

static double full_width_ratio;
static pthread_once_t full_width_once = PTHREAD_ONCE_INIT;

/* ~2 ms: 256-bit first (it also wakes the core from a low clock), then the two
 * alternately, so that a frequency change mid-probe touches both. */
static void measure_full_width(void) {
    double sink = 0, r256 = 0, r512 = 0;
    fma_rate(0, 20000, 2, &sink);
    for (int i = 0; i < 3; i++) {
        double a = fma_rate(0, 20000, 2, &sink), b = fma_rate(1, 20000, 2, &sink);
        if (a > r256) r256 = a;
        if (b > r512) r512 = b;
    }
    full_width_ratio = r256 > 0 ? r512 / r256 : 0;
    if (sink == 12345.678) full_width_ratio += 1e-9; /* never true; keeps the chains */
}

double pst_cpu_fma512_ratio(void) {
    if (!pst_cpu_has_avx512f() || !pst_cpu_has_avx2_fma()) return 0;
    pthread_once(&full_width_once, measure_full_width);
    return full_width_ratio;
}
