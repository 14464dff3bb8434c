#include "CInt8GEMM.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SY_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#endif

static inline int64_t round_up(int64_t value, int64_t to) { return (value + to - 1) / to * to; }

int sy_int8_has_vnni(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

size_t sy_int8_packed_bytes(int64_t k, int64_t n) { return (size_t)(round_up(n, 16) * round_up(k, 4)); }

void sy_int8_pack(const int8_t *b, int64_t k, int64_t n, int64_t ldb, int8_t *packed, int32_t *column_sums) {
    const int64_t groups = round_up(k, 4) / 4;
    const int64_t blocks = round_up(n, 16) / 16;
    memset(packed, 0, sy_int8_packed_bytes(k, n));
    for (int64_t j = 0; j < n; j++) column_sums[j] = 0;
    for (int64_t block = 0; block < blocks; block++) {
        for (int64_t group = 0; group < groups; group++) {
            int8_t *target = packed + (block * groups + group) * 64;
            for (int64_t lane = 0; lane < 16; lane++) {
                const int64_t column = block * 16 + lane;
                if (column >= n) continue;
                for (int64_t step = 0; step < 4; step++) {
                    const int64_t row = group * 4 + step;
                    if (row >= k) continue;
                    const int8_t value = b[row * ldb + column];
                    target[lane * 4 + step] = value;
                    column_sums[column] += value;
                }
            }
        }
    }
}


void sy_quantize_dynamic(const float *x, int64_t m, int64_t k, uint8_t *out, int64_t ldo, float *scale_out,
                          uint8_t *zero_out) {
    // The image kernels' vector range and quantization (ImageQuantization.c): this was a scalar loop, 16% of a
    // dynamic BERT-like encoder's time.
    sy_dynamic_range(x, m * k, scale_out, zero_out);
    for (int64_t row = 0; row < m; row++) sy_quantize_u8(x + row * k, k, *scale_out, *zero_out, out + row * ldo);
}

#if defined(__x86_64__)
// Rows in tiles of up to 4 and columns in pairs of 16-wide blocks: 8 accumulators, each group of 4 k costs two
// weight loads and four broadcasts for eight VPDPBUSD.
SY_VNNI static inline void store_block(__m512i acc, int64_t column, int64_t n, int32_t a_zero,
                                        const int32_t *column_sums, const float *scales, const float *bias, int relu,
                                        float *target) {
    const int64_t left = n - column;
    const __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    const __m512i sums = _mm512_maskz_loadu_epi32(mask, column_sums + column);
    const __m512i corrected = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(a_zero), sums));
    __m512 value = _mm512_mul_ps(_mm512_cvtepi32_ps(corrected), _mm512_maskz_loadu_ps(mask, scales + column));
    if (bias) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, bias + column));
    if (relu) value = _mm512_max_ps(value, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(target + column, mask, value);
}

// One row (batch 1, or the last of a batch): four 16-wide blocks at a time, one broadcast for four VPDPBUSD. The
// four-row tile below would repeat the row's products four times over.
SY_VNNI static void gemm_vnni_row(int64_t n, int64_t groups, int64_t blocks, const uint8_t *a, int32_t a_zero,
                                   const int8_t *packed, const int32_t *column_sums, const float *scales,
                                   const float *bias, int relu, float *target) {
    for (int64_t block = 0; block < blocks; block += 4) {
        const int64_t count = blocks - block < 4 ? blocks - block : 4;
        const int8_t *b0 = packed + block * groups * 64;
        const int8_t *b1 = count > 1 ? b0 + groups * 64 : b0;
        const int8_t *b2 = count > 2 ? b0 + 2 * groups * 64 : b0;
        const int8_t *b3 = count > 3 ? b0 + 3 * groups * 64 : b0;
        __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
        __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
        for (int64_t group = 0; group < groups; group++) {
            int32_t word;
            memcpy(&word, a + group * 4, 4);
            const __m512i x = _mm512_set1_epi32(word);
            c0 = _mm512_dpbusd_epi32(c0, x, _mm512_loadu_si512((const void *)(b0 + group * 64)));
            c1 = _mm512_dpbusd_epi32(c1, x, _mm512_loadu_si512((const void *)(b1 + group * 64)));
            c2 = _mm512_dpbusd_epi32(c2, x, _mm512_loadu_si512((const void *)(b2 + group * 64)));
            c3 = _mm512_dpbusd_epi32(c3, x, _mm512_loadu_si512((const void *)(b3 + group * 64)));
        }
        const __m512i products[4] = {c0, c1, c2, c3};
        for (int64_t index = 0; index < count; index++) {
            store_block(products[index], (block + index) * 16, n, a_zero, column_sums, scales, bias, relu, target);
        }
    }
}

SY_VNNI static void gemm_vnni(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, int32_t a_zero,
                               const int8_t *packed, const int32_t *column_sums, const float *scales,
                               const float *bias, int relu, float *c, int64_t ldc) {
    const int64_t groups = round_up(k, 4) / 4;
    const int64_t blocks = round_up(n, 16) / 16;
    for (int64_t row = 0; row < m; row += 4) {
        const int64_t rows = m - row < 4 ? m - row : 4;
        if (rows == 1) {
            gemm_vnni_row(n, groups, blocks, a + row * lda, a_zero, packed, column_sums, scales, bias, relu,
                          c + row * ldc);
            break;
        }
        const uint8_t *a0 = a + row * lda;
        const uint8_t *a1 = a0 + (rows > 1 ? lda : 0);
        const uint8_t *a2 = a0 + (rows > 2 ? 2 * lda : 0);
        const uint8_t *a3 = a0 + (rows > 3 ? 3 * lda : 0);
        for (int64_t block = 0; block < blocks; block += 2) {
            const int two = block + 1 < blocks;
            const int8_t *b0 = packed + block * groups * 64;
            const int8_t *b1 = two ? b0 + groups * 64 : b0;
            __m512i c00 = _mm512_setzero_si512(), c01 = _mm512_setzero_si512();
            __m512i c10 = _mm512_setzero_si512(), c11 = _mm512_setzero_si512();
            __m512i c20 = _mm512_setzero_si512(), c21 = _mm512_setzero_si512();
            __m512i c30 = _mm512_setzero_si512(), c31 = _mm512_setzero_si512();
            for (int64_t group = 0; group < groups; group++) {
                const __m512i w0 = _mm512_loadu_si512((const void *)(b0 + group * 64));
                const __m512i w1 = _mm512_loadu_si512((const void *)(b1 + group * 64));
                int32_t word;
                memcpy(&word, a0 + group * 4, 4);
                __m512i x = _mm512_set1_epi32(word);
                c00 = _mm512_dpbusd_epi32(c00, x, w0);
                c01 = _mm512_dpbusd_epi32(c01, x, w1);
                memcpy(&word, a1 + group * 4, 4);
                x = _mm512_set1_epi32(word);
                c10 = _mm512_dpbusd_epi32(c10, x, w0);
                c11 = _mm512_dpbusd_epi32(c11, x, w1);
                memcpy(&word, a2 + group * 4, 4);
                x = _mm512_set1_epi32(word);
                c20 = _mm512_dpbusd_epi32(c20, x, w0);
                c21 = _mm512_dpbusd_epi32(c21, x, w1);
                memcpy(&word, a3 + group * 4, 4);
                x = _mm512_set1_epi32(word);
                c30 = _mm512_dpbusd_epi32(c30, x, w0);
                c31 = _mm512_dpbusd_epi32(c31, x, w1);
            }
            const __m512i first[4] = {c00, c10, c20, c30};
            const __m512i second[4] = {c01, c11, c21, c31};
            for (int64_t r = 0; r < rows; r++) {
                float *target = c + (row + r) * ldc;
                store_block(first[r], block * 16, n, a_zero, column_sums, scales, bias, relu, target);
                if (two) store_block(second[r], (block + 1) * 16, n, a_zero, column_sums, scales, bias, relu, target);
            }
        }
    }
}
#endif

// Rows below which the packed kernel beats oneDNN's u8s8s32 GEMM on the bench shapes (oneDNN's call costs ~10 µs).
#define SY_PACKED_MAX_ROWS 32

static int use_packed = 1;

int sy_int8_use_packed(int enabled) {
    const int previous = use_packed;
    use_packed = enabled;
    return previous;
}

int sy_gemm_u8s8_f32(int threads, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, uint8_t a_zero,
                     const int8_t *b, int64_t ldb, const int8_t *packed, const int32_t *column_sums,
                     const float *scales, const float *bias, int relu, float *c, int64_t ldc) {
#if defined(__x86_64__)
    static int vnni = -1;
    if (vnni < 0) vnni = sy_int8_has_vnni();
    if (vnni && packed && (use_packed == 2 || (use_packed == 1 && m <= SY_PACKED_MAX_ROWS))) {
        gemm_vnni(m, n, k, a, lda, a_zero, packed, column_sums, scales, bias, relu, c, ldc);
        return 0;
    }
#endif
    // oneDNN writes the int32 products into C's own memory (same size), then each is dequantized in place.
    int32_t *products = (int32_t *)c;
    const int status = sy_gemm_u8s8s32(threads, m, n, k, a, lda, a_zero, b, ldb, 0, products, ldc);
    if (status != 0) return status;
    for (int64_t row = 0; row < m; row++) {
        int32_t *line = products + row * ldc;
        float *target = c + row * ldc;
        for (int64_t column = 0; column < n; column++) {
            // two statements, as the packed kernel's multiply then add (no fused multiply-add): identical results
            float value = (float)line[column] * scales[column];
            value += bias ? bias[column] : 0.0f;
            target[column] = relu && value < 0 ? 0.0f : value;
        }
    }
    return 0;
}
