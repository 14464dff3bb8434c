// The engine's one int8 GEMM: uint8 × int8 → int32 through oneDNN (Debian's libdnnl-dev, which picks AVX-512 VNNI,
// AVX-512 or AVX2 kernels for the CPU), and for the quantized linear and convolution steps a float-out form that,
// on CPUs with AVX-512 VNNI and for few rows, runs our kernel on weights packed once at load instead: oneDNN's
// per-call overhead dominates there (measured in bench/RESULTS-compression.md).
#ifndef SWITCHYARD_INT8_GEMM_H
#define SWITCHYARD_INT8_GEMM_H

#include <stddef.h>
#include <stdint.h>

/// Row-major C[m×n] = (A[m×k] - aZero) · (B[k×n] - bZero) on `threads` threads; returns 0 on success.
int sy_gemm_u8s8s32(int threads, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, uint8_t aZero,
                    const int8_t *b, int64_t ldb, int8_t bZero, int32_t *c, int64_t ldc);

/// Whether this CPU has AVX-512 F/BW/VL and VNNI, which the packed kernel needs.
int sy_int8_has_vnni(void);

/// When the packed kernel runs (on CPUs that have it): 1 for few rows (the default), 0 never, 2 at every size;
/// returns the previous setting. Results are identical either way (integer products): tests turn it off to run the
/// oneDNN path as CPUs without VNNI do, bench/int8-gemm.sh compares the two at every size.
int sy_int8_use_packed(int enabled);

/// Bytes of the packed form of a K×N int8 matrix: N rounded up to 16, K to 4.
size_t sy_int8_packed_bytes(int64_t k, int64_t n);

/// Packs row-major int8 B[K×N] (row stride ldb): blocks of 16 columns, each a run of K/4 groups of 16 columns × 4
/// consecutive k; padding is zero. column_sums[n] receives each column's sum.
void sy_int8_pack(const int8_t *b, int64_t k, int64_t n, int64_t ldb, int8_t *packed, int32_t *column_sums);

/// DynamicQuantizeLinear of m rows of k floats: the uint8 scale and zero point covering their range and 0 (non-finite
/// values ignored for the range, saturated when quantized), and the quantized rows at stride ldo (ldo >= k).
void sy_quantize_dynamic(const float *x, int64_t m, int64_t k, uint8_t *out, int64_t ldo, float *scale,
                         uint8_t *zero);

/// C[m×n] = ((A - a_zero) · B) * scales[j] + bias[j], then max(·, 0) when relu, as floats. A is uint8 at stride
/// lda (lda >= K rounded up to 4, the padding readable); B is row-major int8 [K×N] at stride ldb with zero point 0,
/// and `packed`/`column_sums` its form from sy_int8_pack (or NULL: oneDNN only); bias may be NULL. Returns 0 on
/// success, oneDNN's status otherwise.
int sy_gemm_u8s8_f32(int threads, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, uint8_t a_zero,
                     const int8_t *b, int64_t ldb, const int8_t *packed, const int32_t *column_sums,
                     const float *scales, const float *bias, int relu, float *c, int64_t ldc);

/// Activations the image kernels apply: none, Swift's max(x, 0) (NaN stays NaN), Clip(low, high).
enum { SY_ACTIVATION_NONE = 0, SY_ACTIVATION_RELU = 1, SY_ACTIVATION_CLIP = 2 };

/// DynamicQuantizeLinear of a whole float image x[batch][channels][pixels]: the uint8 scale and zero point covering
/// its range and 0 (non-finite values set no range), and the values quantized to uint8 (NaN to 0), written
/// channels-last, out[batch][pixels][channels], as oneDNN's int8 convolutions read them.
void sy_quantize_dynamic_nhwc(const float *x, int64_t batch, int64_t channels, int64_t pixels, uint8_t *out,
                              float *scale, uint8_t *zero);

/// out[n][c][p] = activation(x[n][p][c] * scale + bias[c]) (bias may be NULL): a channels-last float image back to
/// the engine's layout with the dynamic convolution's epilogue; multiply and add rounded separately.
void sy_rescale_nchw(const float *x, int64_t batch, int64_t channels, int64_t pixels, float scale, const float *bias,
                     int activation, float low, float high, float *out);

/// saturate(round_half_even(x / scale) + zero) to uint8 for `count` floats (NaN to 0): QuantizeLinear per tensor.
void sy_quantize_u8(const float *x, int64_t count, float scale, uint8_t zero, uint8_t *out);

/// DynamicQuantizeLinear's uint8 scale and zero point for `count` floats (their range and 0; non-finite ignored).
void sy_dynamic_range(const float *x, int64_t count, float *scale, uint8_t *zero);

/// target[c][r] = source[r][c] for a rows × columns matrix of `size`-byte elements (1 or 4).
void sy_transpose(const void *source, int64_t rows, int64_t columns, int64_t size, void *target);

/// Whether the image kernels may use AVX-512 (on CPUs that have it; 1 by default); returns the previous setting.
/// Results are identical either way: tests run both.
int sy_image_kernels_use_vector(int enabled);

#endif
