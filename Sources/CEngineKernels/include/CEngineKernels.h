#ifndef SWITCHYARD_CENGINEKERNELS_H
#define SWITCHYARD_CENGINEKERNELS_H

#include <stdint.h>

/// One plane's geometry for a depthwise convolution or a pooling window: input and output sizes, kernel, strides,
/// dilations and the leading pads (trailing pads follow from the output size).
typedef struct {
    int64_t height, width, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
} sy_plane_geometry;

/// Floats of scratch the plane kernels below need for `g`: one padded input row split by stride.
int64_t sy_plane_scratch(const sy_plane_geometry *g);

/// One channel's plane convolved with its filter (kh × kw) plus `bias`, each output row then clamped to
/// [low, high] (Relu: [0, inf], Clip; no activation: [-inf, inf]; NaN stays NaN). Taps are added in filter order.
void sy_depthwise_plane(const float *source, const float *filter, float bias, float *target,
                        const sy_plane_geometry *g, float *scratch, float low, float high);

/// One plane's max pool: -inf where a window lies entirely in the padding, NaN wins.
void sy_max_pool_plane(const float *source, float *target, const sy_plane_geometry *g, float *scratch);

/// erf of `count` floats (a rational approximation within 4e-7 of erf; NaN stays NaN; ±inf give ±1).
void sy_erf(const float *source, float *target, int64_t count);

/// GELU (the exact form, x · (1 + erf(x / √2)) / 2) of `count` floats, with the erf above.
void sy_gelu(const float *source, float *target, int64_t count);

/// A share of a split loop: items [begin, end) of the loop, with the caller's context.
typedef void (*sy_parallel_body)(void *context, int64_t begin, int64_t end);

/// The number of threads split loops (and the engine's oneDNN primitives) run on; at least 1.
void sy_parallel_set_threads(int threads);
int sy_parallel_threads(void);

/// Runs `body` over [0, count) split into contiguous shares, one per thread of the engine's OpenMP team, with at
/// least `minimum` items per share (fewer threads when the loop is short; on the caller alone when one share, or
/// when called from inside a split loop). Returns when every share is done.
void sy_parallel_for(int64_t count, int64_t minimum, sy_parallel_body body, void *context);

#endif
