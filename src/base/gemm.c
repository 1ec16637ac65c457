/* Matrix products. For now every call goes to OpenBLAS (OpenMP build); a
 * packed AVX-512 kernel of our own is selected at run time when measured faster. */
#include "posterior/base.h"

#include <cblas.h>

void pst_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
