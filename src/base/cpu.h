/* Private to the library: what the CPU running us can execute, for the kernels
 * compiled for an instruction set the build does not assume (base/cpu.c). */
#ifndef POSTERIOR_BASE_CPU_H
#define POSTERIOR_BASE_CPU_H

/* 1 when the CPU has AVX-512F (the GEMM kernels of base/gemm_avx512.c). */
int pst_cpu_has_avx512f(void);

/* 1 when the CPU has AVX-512F, BW and VL (the AdamW kernel of prior/optim_avx512.c). */
int pst_cpu_has_avx512bw_vl(void);

/* 1 when the CPU has AVX-512F, DQ, BW and VL (the exp kernels of prior/exp_kernels.c). */
int pst_cpu_has_avx512_dq_bw_vl(void);

/* 1 when the CPU has AVX2 and FMA. */
int pst_cpu_has_avx2_fma(void);

/* 512-bit FMA throughput over 256-bit FMA throughput of one core: ~2 where the core
 * executes AVX-512 at full width (AMD Zen 5, Intel with two 512-bit FMA ports), ~1
 * where it splits each 512-bit FMA into two 256-bit halves (AMD Zen 4); 0 without
 * AVX-512F or AVX2+FMA. Measured once per machine (~5 ms) and cached in the folder of
 * pst_env_cache_dir, so that every process on the machine picks the same matrix-product
 * kernels (and so computes the same bits); read once per process. */
double pst_cpu_fma512_ratio(void);

/* The same ratio through the cache file DIR/fma512_ratio ("CPU IDENTITY<TAB>RATIO"):
 * read when it names this CPU (vendor, family, model, stepping, brand string), else
 * measured and written (atomic rename), all under an exclusive flock of
 * DIR/fma512_ratio.lock so that processes starting together agree. DIR NULL, or a
 * folder that cannot be created or locked: measured, nothing cached. */
double pst_cpu_fma512_ratio_cached(const char *dir);

#endif
