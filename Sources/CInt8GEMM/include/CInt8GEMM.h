// Integer GEMM through oneDNN (Debian's libdnnl-dev): uint8 × int8 → int32 with zero points, the kernel of
// MatMulInteger and QLinearMatMul. oneDNN picks AVX-512 VNNI / AVX2 kernels for the CPU at run time.
#ifndef SWITCHYARD_INT8_GEMM_H
#define SWITCHYARD_INT8_GEMM_H

#include <stdint.h>

/// Row-major C[m×n] = (A[m×k] - aZero) · (B[k×n] - bZero) on `threads` threads; returns 0 on success.
int sy_gemm_u8s8s32(int threads, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, uint8_t aZero,
                    const int8_t *b, int64_t ldb, int8_t bZero, int32_t *c, int64_t ldc);

#endif
