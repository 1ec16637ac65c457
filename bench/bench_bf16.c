/* The bf16 weight products of sampling (prior/bf16_kernels.h) against the fp32 ones the
 * decoder uses otherwise, on GPT-2 small's shapes, with the weights cold:
 *
 *   bench_bf16 [--rows M]...      (default: 1 4 8 16)
 *
 * fc: out[M, 3072] = x[M, 768]·W[768, 3072] + b, pst_linear_forward (fp32, W 9.4 MB) vs
 *     pst_linear_forward_bf16 (W 4.7 MB); 12 copies of W cycled (113 MB fp32), so W comes
 *     from memory as in a decoding step;
 * head: out[M, 50257] = x[M, 768]·wteᵀ, pst_sgemm (fp32, 154 MB) vs pst_matmul_nt_bf16 (77 MB).
 * One JSON line per M: milliseconds per product and the bytes of W read per second. */
#include "posterior/base.h"
#include "prior/bf16_kernels.h"
#include "prior/gpt2_internal.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPIES 12

static double ms_per_call(void (*f)(void *, int), void *ctx, int reps) {
    f(ctx, 0); /* warm-up */
    double t = omp_get_wtime();
    for (int r = 0; r < reps; r++) f(ctx, r);
    return (omp_get_wtime() - t) / reps * 1e3;
}

typedef struct {
    int M, IC, OC, V;
    float *x, *b, *out, *W[COPIES], *wte;
    uint16_t *W16[COPIES], *wte16;
} shapes;

static void fc32(void *c, int r) {
    shapes *s = c;
    pst_linear_forward(s->out, s->x, s->W[r % COPIES], s->b, s->M, s->IC, s->OC, 0);
}
static void fc16(void *c, int r) {
    shapes *s = c;
    pst_linear_forward_bf16(s->out, s->x, s->W16[r % COPIES], s->b, s->M, s->IC, s->OC, 0);
}
static void head32(void *c, int r) {
    shapes *s = c;
    pst_sgemm(0, 1, s->M, s->V, s->IC, 1.0f, s->x, s->IC, s->wte, s->IC, 0.0f, s->out, s->V);
}
static void head16(void *c, int r) {
    shapes *s = c;
    pst_matmul_nt_bf16(s->out, s->x, s->wte16, s->M, s->IC, s->V);
}

int main(int argc, char **argv) {
    int rows[16] = {1, 4, 8, 16}, n_rows = 4;
    if (argc > 1) n_rows = 0;
    for (int i = 1; i + 1 < argc && n_rows < 16; i += 2) {
        if (strcmp(argv[i], "--rows") != 0 || atoi(argv[i + 1]) < 1 || atoi(argv[i + 1]) > 64) {
            fprintf(stderr, "usage: bench_bf16 [--rows M]... (1 <= M <= 64)\n");
            return 2;
        }
        rows[n_rows++] = atoi(argv[i + 1]);
    }
    if (n_rows == 0) {
        fprintf(stderr, "usage: bench_bf16 [--rows M]... (1 <= M <= 64)\n");
        return 2;
    }
    shapes s = {.IC = 768, .OC = 3072, .V = 50257};
    size_t nw = (size_t)s.IC * s.OC, nh = (size_t)s.V * s.IC;
    s.x = calloc((size_t)64 * s.IC, sizeof(float));
    s.b = calloc(s.OC, sizeof(float));
    s.out = malloc((size_t)64 * s.V * sizeof(float));
    s.wte = malloc(nh * sizeof(float));
    s.wte16 = malloc(nh * sizeof(uint16_t));
    if (!s.x || !s.b || !s.out || !s.wte || !s.wte16) return fprintf(stderr, "bench_bf16: out of memory\n"), 1;
    for (int c = 0; c < COPIES; c++) {
        s.W[c] = malloc(nw * sizeof(float));
        s.W16[c] = malloc(nw * sizeof(uint16_t));
        if (!s.W[c] || !s.W16[c]) return fprintf(stderr, "bench_bf16: out of memory\n"), 1;
        for (size_t i = 0; i < nw; i++) s.W[c][i] = (float)((i * 7 + c) % 13) * 0.01f - 0.06f;
        pst_bf16_round_array(s.W16[c], s.W[c], nw);
    }
    for (size_t i = 0; i < nh; i++) s.wte[i] = (float)(i % 11) * 0.01f - 0.05f;
    pst_bf16_round_array(s.wte16, s.wte, nh);
    for (size_t i = 0; i < (size_t)64 * s.IC; i++) s.x[i] = (float)(i % 5) * 0.1f;
    for (int k = 0; k < n_rows; k++) {
        s.M = rows[k];
        double f32 = ms_per_call(fc32, &s, 5 * COPIES), f16 = ms_per_call(fc16, &s, 5 * COPIES);
        double h32 = ms_per_call(head32, &s, 6), h16 = ms_per_call(head16, &s, 6);
        printf("{\"rows\": %d, \"threads\": %d, \"fc_fp32_ms\": %.4f, \"fc_bf16_ms\": %.4f, \"fc_fp32_gbs\": %.1f, "
               "\"fc_bf16_gbs\": %.1f, \"head_fp32_ms\": %.3f, \"head_bf16_ms\": %.3f, \"head_fp32_gbs\": %.1f, "
               "\"head_bf16_gbs\": %.1f}\n",
               s.M, omp_get_max_threads(), f32, f16, 4e-6 * nw / f32, 2e-6 * nw / f16, h32, h16, 4e-6 * nh / h32,
               2e-6 * nh / h16);
    }
    return 0;
}
