// int8 kernels with weights packed once at load: the dynamically quantized linear layer (quantize the activations,
// u8·s8 products with AVX-512 VNNI, dequantize with bias and ReLU in the store) that `yard quantize` models run on.
#ifndef SWITCHYARD_QUANT_KERNELS_H
#define SWITCHYARD_QUANT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Whether the CPU runs the VNNI kernels (AVX-512 F/BW/VL and VNNI).
int syq_has_vnni(void);

/// Bytes of the packed form of a K×N int8 matrix: N rounded up to 16, K to 4.
size_t syq_packed_bytes(int64_t k, int64_t n);

/// Packs row-major int8 B[K×N] (row stride ldb) for the kernel: blocks of 16 columns, each a run of K/4 groups of
/// 16 columns × 4 consecutive k; padding is zero. column_sums[n] receives each column's sum.
void syq_pack_s8(const int8_t *b, int64_t k, int64_t n, int64_t ldb, int8_t *packed, int32_t *column_sums);

/// DynamicQuantizeLinear of m rows of k floats: the uint8 scale and zero point covering their range and 0 (non-finite
/// values ignored for the range, saturated when quantized), and the quantized rows at stride ldo (ldo >= k).
void syq_quantize_dynamic(const float *x, int64_t m, int64_t k, uint8_t *out, int64_t ldo, float *scale,
                          uint8_t *zero);

/// C[m×n] = ((A - a_zero) · B) * scales[j] + bias[j], then max(·, 0) when relu, as floats; A is uint8 at stride lda
/// (lda >= K rounded up to 4, the padding readable), B packed by syq_pack_s8, bias may be NULL.
void syq_gemm_u8s8_f32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, int32_t a_zero,
                       const int8_t *packed, const int32_t *column_sums, const float *scales, const float *bias,
                       int relu, float *c, int64_t ldc);

#endif
