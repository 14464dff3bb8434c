// A small C layer over oneDNN (Debian's libdnnl-dev, 2.x C API) that the engine's Swift kernels share: memory
// descriptors, convolution and reorder primitives with post-ops, and execution on the calling
// thread with a given thread count and caller-owned scratch memory. oneDNN's own types stay behind this header.
//
// Primitives are immutable once made and may be executed from several threads at once: each execution gets its
// own memory objects, a stream of the calling thread, and the scratch memory the caller passes (user scratchpad).
#ifndef SWITCHYARD_ONEDNN_H
#define SWITCHYARD_ONEDNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Element types.
enum { SY_DNNL_F32 = 1, SY_DNNL_S32 = 2, SY_DNNL_S8 = 3, SY_DNNL_U8 = 4 };

/// Layouts for `sy_dnnl_md_layout`: row-major (nchw, oihw, goihw, ...); channels-last (nhwc: axis 1 moved last);
/// `ANY` lets the primitive choose (weights are then reordered once into what it chose).
enum { SY_DNNL_PLAIN = 0, SY_DNNL_CHANNELS_LAST = 1, SY_DNNL_ANY = 2 };

/// Post-op kinds, applied in order to a primitive's result. Eltwise ones use `alpha` / `beta` as oneDNN does
/// (RELU: negative slope; CLIP: bounds).
enum {
    SY_DNNL_POST_RELU = 1,
    SY_DNNL_POST_CLIP = 2,
    SY_DNNL_POST_LOGISTIC = 3,
    SY_DNNL_POST_TANH = 4,
};

/// A source zero point given at each execution rather than when the primitive is made.
enum { SY_DNNL_ZERO_AT_RUN = -1 };

/// Execution argument roles.
enum {
    SY_DNNL_ARG_SRC = 1,
    SY_DNNL_ARG_WEIGHTS = 2,
    SY_DNNL_ARG_BIAS = 3,
    SY_DNNL_ARG_DST = 4,
};

typedef struct sy_dnnl_md sy_dnnl_md;
typedef struct sy_dnnl_primitive sy_dnnl_primitive;

typedef struct {
    int kind;
    float alpha;
    float beta;
} sy_dnnl_post_op;

/// Geometry of a 2-D (or, with `spatial` 1 or 3, 1-D / 3-D) convolution, ONNX conventions: dilations
/// are 1 for dense kernels; pads at the start and end of each spatial axis.
typedef struct {
    int spatial;
    int64_t kernel[3];
    int64_t strides[3];
    int64_t dilations[3];
    int64_t pad_begin[3];
    int64_t pad_end[3];
} sy_dnnl_window;

/// Whether oneDNN can run here (its CPU engine could be made), and its version ("2.6.3").
int sy_dnnl_available(void);

/// The OpenMP thread count for oneDNN's work outside `sy_dnnl_execute` (creating primitives) on every calling
/// thread: a region run there at OpenMP's default leaves idle worker threads spinning beside a one-thread engine.
void sy_dnnl_set_default_threads(int threads);
const char *sy_dnnl_version(void);
/// The instruction set oneDNN dispatches to on this CPU ("avx512_core", "avx2", ...; "" when unknown).
const char *sy_dnnl_isa(void);

/// Memory descriptors (owned by the caller; destroy them).
sy_dnnl_md *sy_dnnl_md_layout(int ndims, const int64_t *dims, int data_type, int layout);
sy_dnnl_md *sy_dnnl_md_copy(const sy_dnnl_md *md);
size_t sy_dnnl_md_bytes(const sy_dnnl_md *md);
int sy_dnnl_md_equal(const sy_dnnl_md *a, const sy_dnnl_md *b);
void sy_dnnl_md_destroy(sy_dnnl_md *md);

/// Primitive constructors: 0 on success (the primitive in `*out`), else a oneDNN status (see
/// `sy_dnnl_status_name`). `bias` may be NULL. A weights descriptor of layout ANY lets oneDNN choose; read the
/// choice back with `sy_dnnl_primitive_md(p, SY_DNNL_ARG_WEIGHTS)`.
int sy_dnnl_convolution(const sy_dnnl_md *src, const sy_dnnl_md *weights, const sy_dnnl_md *bias,
                        const sy_dnnl_md *dst, const sy_dnnl_window *window, const sy_dnnl_post_op *post,
                        int post_count, sy_dnnl_primitive **out);
/// An int8 convolution (u8 source, s8 weights, f32 bias, u8 or f32 destination): the int32 accumulators plus the
/// bias (in accumulator units) times `scales` (one, or one per output channel), then the post-ops, then
/// `dst_zero` added and the result rounded to nearest even and saturated; `src_zero` is the source's zero point
/// (padding stands for it); `SY_DNNL_ZERO_AT_RUN` when each execution passes it (`sy_dnnl_execute_zero`).
int sy_dnnl_qconvolution(const sy_dnnl_md *src, const sy_dnnl_md *weights, const sy_dnnl_md *bias,
                         const sy_dnnl_md *dst, const sy_dnnl_window *window, const sy_dnnl_post_op *post,
                         int post_count, const float *scales, int scale_count, int32_t src_zero, int32_t dst_zero,
                         sy_dnnl_primitive **out);
/// `dst[M,N] = src[M,K] · weights[K,N] + bias[1,N]`, then the post-ops.
int sy_dnnl_matmul(const sy_dnnl_md *src, const sy_dnnl_md *weights, const sy_dnnl_md *bias, const sy_dnnl_md *dst,
                   const sy_dnnl_post_op *post, int post_count, sy_dnnl_primitive **out);
int sy_dnnl_reorder(const sy_dnnl_md *src, const sy_dnnl_md *dst, sy_dnnl_primitive **out);
/// Max pooling over `window` (padding never wins); `src` and `dst` give their layouts (plain or channels-last).
int sy_dnnl_max_pooling(const sy_dnnl_md *src, const sy_dnnl_md *dst, const sy_dnnl_window *window,
                        sy_dnnl_primitive **out);

/// The descriptor the primitive uses for an argument role (owned by the primitive), or NULL.
const sy_dnnl_md *sy_dnnl_primitive_md(const sy_dnnl_primitive *p, int role);
/// Bytes of scratch memory each execution needs.
size_t sy_dnnl_primitive_scratch_bytes(const sy_dnnl_primitive *p);
/// oneDNN's name for the implementation it picked ("brgconv:avx512_core", "ref:any", ...).
const char *sy_dnnl_primitive_impl(const sy_dnnl_primitive *p);
void sy_dnnl_primitive_destroy(sy_dnnl_primitive *p);

/// Runs `p` on `threads` threads with `count` (role, pointer) arguments and `scratch` (at least
/// `sy_dnnl_primitive_scratch_bytes` bytes, 64-byte aligned). 0 on success.
int sy_dnnl_execute(const sy_dnnl_primitive *p, int threads, int count, const int *roles, void *const *pointers,
                    void *scratch);

/// `sy_dnnl_execute` with the source zero point of a primitive made with `SY_DNNL_ZERO_AT_RUN`.
int sy_dnnl_execute_zero(const sy_dnnl_primitive *p, int threads, int count, const int *roles,
                         void *const *pointers, void *scratch, int32_t src_zero);

/// A oneDNN status as text ("unimplemented", "invalid_arguments", ...).
const char *sy_dnnl_status_name(int status);

#ifdef __cplusplus
}
#endif

#endif
