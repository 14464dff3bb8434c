// Row kernels for depthwise convolutions and max pooling, compiled for AVX-512, AVX2 and baseline x86-64 and chosen
// at load by the CPU (function multiversioning): the Swift module is built for baseline x86-64 (SSE2), where these
// loops run at a quarter of the vector width. Floating-point contraction is off (Package.swift), so every clone
// computes the same bits.
#include "CEngineKernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#define SY_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SY_CLONES
#endif

int64_t sy_plane_scratch(const sy_plane_geometry *g) {
    int64_t span = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    return ((span + g->sw - 1) / g->sw) * g->sw;
}

static inline int64_t phase_length(const sy_plane_geometry *g) { return sy_plane_scratch(g) / g->sw; }

// Input row `row` padded with `fill` (pw columns before, as many as the taps reach after), split into sw phases:
// phase r holds padded columns r, r + sw, r + 2·sw, ... Tap kx of output column ox reads phase (kx·dw) mod sw at
// ox + (kx·dw) / sw: contiguous for every stride and dilation.
static inline void split_row(const float *row, const sy_plane_geometry *g, float fill, float *phases) {
    const int64_t length = phase_length(g);
    for (int64_t r = 0; r < g->sw; r++) {
        float *phase = phases + r * length;
        int64_t first = (g->pw - r + g->sw - 1) / g->sw;
        if (g->pw - r <= 0) first = 0;
        if (first > length) first = length;
        int64_t reach = g->width - 1 + g->pw - r;
        int64_t last = reach >= 0 ? reach / g->sw + 1 : 0;
        if (last > length) last = length;
        if (last < first) last = first;
        for (int64_t j = 0; j < first; j++) phase[j] = fill;
        const float *start = row + (first * g->sw + r - g->pw);
        if (g->sw == 1) {
            memcpy(phase + first, start, (size_t)(last - first) * sizeof(float));
        } else {
            const int64_t stride = g->sw;
            for (int64_t j = 0; j < last - first; j++) phase[first + j] = start[j * stride];
        }
        for (int64_t j = last; j < length; j++) phase[j] = fill;
    }
}

static inline const float *tap(const float *phases, const sy_plane_geometry *g, int64_t length, int64_t kx) {
    const int64_t offset = kx * g->dw;
    return phases + (offset % g->sw) * length + offset / g->sw;
}

SY_CLONES
void sy_depthwise_plane(const float *source, const float *filter, float bias, float *target,
                        const sy_plane_geometry *g, float *scratch, float low, float high) {
    const int64_t length = phase_length(g);
    const int64_t ow = g->ow;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *restrict out = target + oy * ow;
        for (int64_t ox = 0; ox < ow; ox++) out[ox] = bias;
        for (int64_t ky = 0; ky < g->kh; ky++) {
            const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->height) continue;
            split_row(source + iy * g->width, g, 0.0f, scratch);
            const float *weights = filter + ky * g->kw;
            int64_t kx = 0;
            for (; kx + 3 <= g->kw; kx += 3) {
                const float *restrict a = tap(scratch, g, length, kx);
                const float *restrict b = tap(scratch, g, length, kx + 1);
                const float *restrict c = tap(scratch, g, length, kx + 2);
                const float wa = weights[kx], wb = weights[kx + 1], wc = weights[kx + 2];
                for (int64_t ox = 0; ox < ow; ox++) {
                    float value = out[ox] + wa * a[ox];
                    value = value + wb * b[ox];
                    out[ox] = value + wc * c[ox];
                }
            }
            for (; kx < g->kw; kx++) {
                const float *restrict a = tap(scratch, g, length, kx);
                const float wa = weights[kx];
                for (int64_t ox = 0; ox < ow; ox++) out[ox] = out[ox] + wa * a[ox];
            }
        }
        if (low > -INFINITY || high < INFINITY) {
            for (int64_t ox = 0; ox < ow; ox++) {
                const float value = out[ox];
                const float raised = value < low ? low : value;
                out[ox] = raised > high ? high : raised;
            }
        }
    }
}

SY_CLONES
void sy_max_pool_plane(const float *source, float *target, const sy_plane_geometry *g, float *scratch) {
    const int64_t length = phase_length(g);
    const int64_t ow = g->ow;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *restrict out = target + oy * ow;
        for (int64_t ox = 0; ox < ow; ox++) out[ox] = -INFINITY;
        for (int64_t ky = 0; ky < g->kh; ky++) {
            const int64_t iy = oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->height) continue;
            split_row(source + iy * g->width, g, -INFINITY, scratch);
            for (int64_t kx = 0; kx < g->kw; kx++) {
                const float *restrict a = tap(scratch, g, length, kx);
                for (int64_t ox = 0; ox < ow; ox++) {
                    const float value = a[ox];
                    const float current = out[ox];
                    out[ox] = (value > current || value != value) ? value : current;
                }
            }
        }
    }
}

// erf as a rational function of x clamped to [-4, 4] (odd numerator of degree 13, even denominator of degree 8; the
// coefficients Eigen and XLA use): within 4e-7 of erf everywhere in float (libm's erff: 1 ulp), no branches, so every clone vectorises it. NaN
// stays NaN (the clamp's comparisons are false for it).
static inline float rational_erf(float value) {
    float x = value < -4.0f ? -4.0f : (value > 4.0f ? 4.0f : value);
    float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    p = p * x;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return p / q;
}

SY_CLONES
void sy_erf(const float *source, float *target, int64_t count) {
    for (int64_t i = 0; i < count; i++) target[i] = rational_erf(source[i]);
}

SY_CLONES
void sy_gelu(const float *source, float *target, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        const float x = source[i];
        target[i] = x * 0.5f * (1.0f + rational_erf(x * 0.70710678118654752f));
    }
}
