/* Run-time CPU dispatch: the default build is portable (no -march=native), and each
 * AVX-512 kernel is compiled for AVX-512 on its own (a target attribute or pragma)
 * and called only when these say the CPU has it. */
#include "base/cpu.h"

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
