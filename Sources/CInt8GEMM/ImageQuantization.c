#include "CInt8GEMM.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define SY_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#endif

// The dynamic int8 convolution's per-call steps around oneDNN, which picks channels-last (N×P×C) int8 kernels while
// the engine keeps images N×C×P: one pass each way instead of a range pass, a quantizing pass, a transpose, then a
// transpose, a rescaling pass and an activation pass. Every value is computed as the engine's Swift operators do
// (DynamicQuantizeLinear, Mul, Add, Relu, Clip), bit for bit: multiply and add stay separate (no contraction).

static int vector_allowed = 1;

static int has_avx512(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    }
    return cached && vector_allowed;
#else
    return 0;
#endif
}

/// saturate(round_half_even(value / scale) + zero) to uint8; NaN gives 0 (the engine's `saturate`).
static inline uint8_t quantize_one(float value, float scale, float zero) {
    float q = value / scale;
    if (q != q) return 0;
    q = q < -65536.0f ? -65536.0f : (q > 65536.0f ? 65536.0f : q);
    q = (q + 12582912.0f) - 12582912.0f;
    q = q + zero;
    return (uint8_t)(q < 0.0f ? 0.0f : (q > 255.0f ? 255.0f : q));
}

/// Swift's max(value, 0) (NaN stays NaN) and the engine's Clip (min > max gives max).
static inline float clamp_one(float value, int activation, float low, float high) {
    if (activation == SY_ACTIVATION_RELU) return 0.0f >= value ? 0.0f : value;
    if (activation == SY_ACTIVATION_CLIP) {
        const float raised = value < low ? low : value;
        return raised > high ? high : raised;
    }
    return value;
}

static void range_scalar(const float *x, int64_t count, float *low_out, float *high_out) {
    float low = 0, high = 0;
    for (int64_t index = 0; index < count; index++) {
        const float value = x[index];
        if (isfinite(value)) {
            low = value < low ? value : low;
            high = value > high ? value : high;
        }
    }
    *low_out = low;
    *high_out = high;
}

#if defined(__x86_64__)
SY_AVX512 static void range_avx512(const float *x, int64_t count, float *low_out, float *high_out) {
    __m512 low = _mm512_setzero_ps(), high = _mm512_setzero_ps();
    const __m512 infinity = _mm512_set1_ps(INFINITY);
    int64_t index = 0;
    for (; index < count; index += 16) {
        const __mmask16 lanes = count - index >= 16 ? 0xFFFF : (__mmask16)((1u << (count - index)) - 1);
        const __m512 value = _mm512_maskz_loadu_ps(lanes, x + index);
        const __mmask16 finite = _mm512_mask_cmp_ps_mask(lanes, _mm512_abs_ps(value), infinity, _CMP_LT_OQ);
        low = _mm512_mask_min_ps(low, finite, value, low);
        high = _mm512_mask_max_ps(high, finite, value, high);
    }
    *low_out = _mm512_reduce_min_ps(low);
    *high_out = _mm512_reduce_max_ps(high);
}
#endif

static void scale_and_zero(float low, float high, float *scale_out, uint8_t *zero_out) {
    const float scale = high == low ? 1.0f : (high - low) / 255.0f;
    float zero = nearbyintf(0.0f - low / scale);
    zero = zero < 0.0f ? 0.0f : (zero > 255.0f ? 255.0f : zero);
    *scale_out = scale;
    *zero_out = (uint8_t)zero;
}

static void quantize_nhwc_scalar(const float *x, int64_t batch, int64_t channels, int64_t pixels, float scale,
                                 float zero, uint8_t *out) {
    for (int64_t image = 0; image < batch; image++) {
        const float *source = x + image * channels * pixels;
        uint8_t *target = out + image * channels * pixels;
        for (int64_t channel = 0; channel < channels; channel++) {
            for (int64_t pixel = 0; pixel < pixels; pixel++) {
                target[pixel * channels + channel] = quantize_one(source[channel * pixels + pixel], scale, zero);
            }
        }
    }
}

static void rescale_nchw_scalar(const float *x, int64_t batch, int64_t channels, int64_t pixels, float scale,
                                const float *bias, int activation, float low, float high, float *out) {
    for (int64_t image = 0; image < batch; image++) {
        const float *source = x + image * channels * pixels;
        float *target = out + image * channels * pixels;
        for (int64_t pixel = 0; pixel < pixels; pixel++) {
            for (int64_t channel = 0; channel < channels; channel++) {
                float value = source[pixel * channels + channel] * scale;
                value = value + (bias ? bias[channel] : 0.0f);
                target[channel * pixels + pixel] = clamp_one(value, activation, low, high);
            }
        }
    }
}

#if defined(__x86_64__)
static inline __mmask16 first_lanes(int64_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
}

// 16 channels × 16 pixels at a time: each channel's pixels quantized as one vector, then each pixel's channels
// gathered from the tile and stored as 16 bytes.
SY_AVX512 static void quantize_nhwc_avx512(const float *x, int64_t batch, int64_t channels, int64_t pixels,
                                           float scale, float zero, uint8_t *out) {
    const __m512 vscale = _mm512_set1_ps(scale);
    const __m512 lowest = _mm512_set1_ps(-65536.0f), highest = _mm512_set1_ps(65536.0f);
    const __m512i vzero = _mm512_set1_epi32((int)zero), floor = _mm512_setzero_si512();
    const __m512i ceiling = _mm512_set1_epi32(255);
    const __m512i rows = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16));
    int32_t tile[16 * 16];
    for (int64_t image = 0; image < batch; image++) {
        const float *source = x + image * channels * pixels;
        uint8_t *target = out + image * channels * pixels;
        for (int64_t c0 = 0; c0 < channels; c0 += 16) {
            const int64_t cn = channels - c0 < 16 ? channels - c0 : 16;
            for (int64_t p0 = 0; p0 < pixels; p0 += 16) {
                const __mmask16 lanes = first_lanes(pixels - p0);
                for (int64_t c = 0; c < cn; c++) {
                    __m512 q = _mm512_div_ps(_mm512_maskz_loadu_ps(lanes, source + (c0 + c) * pixels + p0), vscale);
                    // max_ps answers its second operand for NaN: NaN → -65536 → 0, as quantize_one
                    q = _mm512_min_ps(_mm512_max_ps(q, lowest), highest);
                    __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(q), vzero);
                    v = _mm512_min_epi32(_mm512_max_epi32(v, floor), ceiling);
                    _mm512_storeu_si512(tile + c * 16, v);
                }
                const int64_t pn = pixels - p0 < 16 ? pixels - p0 : 16;
                const __mmask16 channelLanes = first_lanes(cn);
                for (int64_t p = 0; p < pn; p++) {
                    const __m512i column = _mm512_mask_i32gather_epi32(floor, channelLanes, rows, tile + p, 4);
                    _mm_mask_storeu_epi8(target + (p0 + p) * channels + c0, channelLanes,
                                         _mm512_cvtepi32_epi8(column));
                }
            }
        }
    }
}

SY_AVX512 static void rescale_nchw_avx512(const float *x, int64_t batch, int64_t channels, int64_t pixels,
                                          float scale, const float *bias, int activation, float low, float high,
                                          float *out) {
    const __m512 vscale = _mm512_set1_ps(scale), vlow = _mm512_set1_ps(low), vhigh = _mm512_set1_ps(high);
    const __m512 zero = _mm512_setzero_ps();
    const __m512i rows = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16));
    float tile[16 * 16];
    for (int64_t image = 0; image < batch; image++) {
        const float *source = x + image * channels * pixels;
        float *target = out + image * channels * pixels;
        for (int64_t c0 = 0; c0 < channels; c0 += 16) {
            const __mmask16 channelLanes = first_lanes(channels - c0);
            const __m512 vbias = bias ? _mm512_maskz_loadu_ps(channelLanes, bias + c0) : zero;
            const int64_t cn = channels - c0 < 16 ? channels - c0 : 16;
            for (int64_t p0 = 0; p0 < pixels; p0 += 16) {
                const int64_t pn = pixels - p0 < 16 ? pixels - p0 : 16;
                for (int64_t p = 0; p < pn; p++) {
                    __m512 v = _mm512_maskz_loadu_ps(channelLanes, source + (p0 + p) * channels + c0);
                    v = _mm512_add_ps(_mm512_mul_ps(v, vscale), vbias);
                    if (activation == SY_ACTIVATION_RELU) {
                        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(zero, v, _CMP_GE_OQ), v, zero);
                    } else if (activation == SY_ACTIVATION_CLIP) {
                        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, vlow, _CMP_LT_OQ), v, vlow);
                        v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, vhigh, _CMP_GT_OQ), v, vhigh);
                    }
                    _mm512_storeu_ps(tile + p * 16, v);
                }
                const __mmask16 pixelLanes = first_lanes(pn);
                for (int64_t c = 0; c < cn; c++) {
                    const __m512 column = _mm512_mask_i32gather_ps(zero, pixelLanes, rows, tile + c, 4);
                    _mm512_mask_storeu_ps(target + (c0 + c) * pixels + p0, pixelLanes, column);
                }
            }
        }
    }
}
#endif

void sy_quantize_dynamic_nhwc(const float *x, int64_t batch, int64_t channels, int64_t pixels, uint8_t *out,
                              float *scale, uint8_t *zero) {
    const int64_t count = batch * channels * pixels;
    float low, high;
#if defined(__x86_64__)
    if (has_avx512()) {
        range_avx512(x, count, &low, &high);
        scale_and_zero(low, high, scale, zero);
        quantize_nhwc_avx512(x, batch, channels, pixels, *scale, (float)*zero, out);
        return;
    }
#endif
    range_scalar(x, count, &low, &high);
    scale_and_zero(low, high, scale, zero);
    quantize_nhwc_scalar(x, batch, channels, pixels, *scale, (float)*zero, out);
}

void sy_rescale_nchw(const float *x, int64_t batch, int64_t channels, int64_t pixels, float scale, const float *bias,
                     int activation, float low, float high, float *out) {
#if defined(__x86_64__)
    if (has_avx512()) {
        rescale_nchw_avx512(x, batch, channels, pixels, scale, bias, activation, low, high, out);
        return;
    }
#endif
    rescale_nchw_scalar(x, batch, channels, pixels, scale, bias, activation, low, high, out);
}

int sy_image_kernels_use_vector(int enabled) {
    const int previous = vector_allowed;
    vector_allowed = enabled;
    return previous;
}

#if defined(__x86_64__)
SY_AVX512 static void quantize_avx512(const float *x, int64_t count, float scale, float zero, uint8_t *out) {
    const __m512 vscale = _mm512_set1_ps(scale);
    const __m512 lowest = _mm512_set1_ps(-65536.0f), highest = _mm512_set1_ps(65536.0f);
    const __m512i vzero = _mm512_set1_epi32((int)zero), floor = _mm512_setzero_si512();
    const __m512i ceiling = _mm512_set1_epi32(255);
    for (int64_t index = 0; index < count; index += 16) {
        const __mmask16 lanes = first_lanes(count - index);
        __m512 q = _mm512_div_ps(_mm512_maskz_loadu_ps(lanes, x + index), vscale);
        q = _mm512_min_ps(_mm512_max_ps(q, lowest), highest);  // NaN → -65536 → 0, as quantize_one
        __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(q), vzero);
        v = _mm512_min_epi32(_mm512_max_epi32(v, floor), ceiling);
        _mm_mask_storeu_epi8(out + index, lanes, _mm512_cvtepi32_epi8(v));
    }
}

// target[c][r] = source[r][c] in 16 × 16 tiles: rows widened to 32 bits into a tile, columns gathered from it.
SY_AVX512 static void transpose_avx512(const void *source, int64_t rows, int64_t columns, int64_t size,
                                       void *target) {
    const __m512i lanes16 = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16));
    int32_t tile[16 * 16];
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
        const int64_t rn = rows - r0 < 16 ? rows - r0 : 16;
        const __mmask16 rowLanes = first_lanes(rn);
        for (int64_t c0 = 0; c0 < columns; c0 += 16) {
            const int64_t cn = columns - c0 < 16 ? columns - c0 : 16;
            const __mmask16 columnLanes = first_lanes(cn);
            for (int64_t r = 0; r < rn; r++) {
                __m512i row;
                if (size == 1) {
                    row = _mm512_cvtepu8_epi32(
                        _mm_maskz_loadu_epi8(columnLanes, (const uint8_t *)source + (r0 + r) * columns + c0));
                } else {
                    row = _mm512_maskz_loadu_epi32(columnLanes, (const int32_t *)source + (r0 + r) * columns + c0);
                }
                _mm512_storeu_si512(tile + r * 16, row);
            }
            for (int64_t c = 0; c < cn; c++) {
                const __m512i column = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rowLanes, lanes16,
                                                                   tile + c, 4);
                if (size == 1) {
                    _mm_mask_storeu_epi8((uint8_t *)target + (c0 + c) * rows + r0, rowLanes,
                                         _mm512_cvtepi32_epi8(column));
                } else {
                    _mm512_mask_storeu_epi32((int32_t *)target + (c0 + c) * rows + r0, rowLanes, column);
                }
            }
        }
    }
}
#endif

void sy_quantize_u8(const float *x, int64_t count, float scale, uint8_t zero, uint8_t *out) {
#if defined(__x86_64__)
    if (has_avx512()) {
        quantize_avx512(x, count, scale, (float)zero, out);
        return;
    }
#endif
    for (int64_t index = 0; index < count; index++) out[index] = quantize_one(x[index], scale, (float)zero);
}

void sy_dynamic_range(const float *x, int64_t count, float *scale, uint8_t *zero) {
    float low, high;
#if defined(__x86_64__)
    if (has_avx512()) {
        range_avx512(x, count, &low, &high);
        scale_and_zero(low, high, scale, zero);
        return;
    }
#endif
    range_scalar(x, count, &low, &high);
    scale_and_zero(low, high, scale, zero);
}

void sy_transpose(const void *source, int64_t rows, int64_t columns, int64_t size, void *target) {
#if defined(__x86_64__)
    if (has_avx512() && (size == 1 || size == 4)) {
        transpose_avx512(source, rows, columns, size, target);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < columns; c++) {
            if (size == 1) {
                ((uint8_t *)target)[c * rows + r] = ((const uint8_t *)source)[r * columns + c];
            } else {
                ((uint32_t *)target)[c * rows + r] = ((const uint32_t *)source)[r * columns + c];
            }
        }
    }
}
