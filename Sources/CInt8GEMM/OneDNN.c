#define _GNU_SOURCE
#include "OneDNN.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

struct sy_dnnl_md {
    dnnl_memory_desc_t md;
};

#define SY_MAX_POST 8

struct sy_dnnl_primitive {
    dnnl_primitive_t primitive;
    sy_dnnl_md src, weights, bias, dst, scratch;
    int has_weights, has_bias;
    // int8 convolutions: zero points of the source and destination, passed at execution (oneDNN 2.x takes
    // convolution zero points only at run time); 0 means none.
    int32_t src_zero, dst_zero;
    size_t scratch_bytes;
    char impl[64];
};

// MARK: engine, streams, threads

static dnnl_engine_t engine;
static int engine_ready;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static pthread_key_t stream_key;

static void destroy_stream(void *stream) { dnnl_stream_destroy((dnnl_stream_t)stream); }

static void make_engine(void) {
    engine_ready = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success;
    if (engine_ready) pthread_key_create(&stream_key, destroy_stream);
}

// The thread count oneDNN's own parallel regions take outside `sy_dnnl_execute` (primitive creation, its
// initialisation); 0 leaves OpenMP's default (one thread per CPU).
static _Atomic int default_threads;

static void set_threads(int threads);

static int ready(void) {
    pthread_once(&engine_once, make_engine);
    int threads = default_threads;
    if (threads > 0) set_threads(threads);
    return engine_ready;
}

void sy_dnnl_set_default_threads(int threads) { default_threads = threads; }

// Streams are not thread-safe: one per calling thread, destroyed with the thread.
static dnnl_stream_t thread_stream(void) {
    dnnl_stream_t stream = (dnnl_stream_t)pthread_getspecific(stream_key);
    if (!stream) {
        if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return NULL;
        pthread_setspecific(stream_key, stream);
    }
    return stream;
}

// oneDNN runs on OpenMP; the thread count is a per-thread OpenMP setting, so each calling thread sets its own.
static void set_threads(int threads) {
    static void (*set)(int) = 0;
    static int (*get)(void) = 0;
    static int looked = 0;
    if (!looked) {
        set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
        get = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_max_threads");
        looked = 1;
    }
    if (threads < 1) threads = 1;
    if (set && (!get || get() != threads)) set(threads);
}

int sy_dnnl_available(void) { return ready(); }

const char *sy_dnnl_version(void) {
    static char text[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, sizeof text, "%d.%d.%d", v->major, v->minor, v->patch);
    return text;
}

const char *sy_dnnl_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "";
    }
}

const char *sy_dnnl_status_name(int status) {
    switch (status) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out_of_memory";
    case dnnl_invalid_arguments: return "invalid_arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator_ends";
    case dnnl_runtime_error: return "runtime_error";
    case dnnl_not_required: return "not_required";
    case -1: return "onednn_unavailable";
    default: return "unknown_status";
    }
}

// MARK: memory descriptors

static dnnl_data_type_t data_type(int type) {
    switch (type) {
    case SY_DNNL_F32: return dnnl_f32;
    case SY_DNNL_S32: return dnnl_s32;
    case SY_DNNL_S8: return dnnl_s8;
    case SY_DNNL_U8: return dnnl_u8;
    default: return dnnl_data_type_undef;
    }
}

sy_dnnl_md *sy_dnnl_md_layout(int ndims, const int64_t *dims, int type, int layout) {
    if (ndims < 1 || ndims > DNNL_MAX_NDIMS) return NULL;
    sy_dnnl_md *md = calloc(1, sizeof *md);
    if (!md) return NULL;
    dnnl_dims_t d;
    for (int i = 0; i < ndims; i++) d[i] = dims[i];
    dnnl_status_t status;
    if (layout == SY_DNNL_ANY) {
        status = dnnl_memory_desc_init_by_tag(&md->md, ndims, d, data_type(type), dnnl_format_tag_any);
    } else {
        // Row-major strides, or with axis 1 (channels) moved innermost.
        int order[DNNL_MAX_NDIMS];
        for (int i = 0; i < ndims; i++) order[i] = i;
        if (layout == SY_DNNL_CHANNELS_LAST && ndims >= 3) {
            for (int i = 1; i < ndims - 1; i++) order[i] = i + 1;
            order[ndims - 1] = 1;
        }
        dnnl_dims_t strides;
        int64_t running = 1;
        for (int i = ndims - 1; i >= 0; i--) {
            strides[order[i]] = running;
            running *= dims[order[i]] > 0 ? dims[order[i]] : 1;
        }
        status = dnnl_memory_desc_init_by_strides(&md->md, ndims, d, data_type(type), strides);
    }
    if (status != dnnl_success) {
        free(md);
        return NULL;
    }
    return md;
}

sy_dnnl_md *sy_dnnl_md_copy(const sy_dnnl_md *source) {
    sy_dnnl_md *md = malloc(sizeof *md);
    if (md) *md = *source;
    return md;
}

size_t sy_dnnl_md_bytes(const sy_dnnl_md *md) { return dnnl_memory_desc_get_size(&md->md); }

int sy_dnnl_md_equal(const sy_dnnl_md *a, const sy_dnnl_md *b) { return dnnl_memory_desc_equal(&a->md, &b->md); }

void sy_dnnl_md_destroy(sy_dnnl_md *md) { free(md); }

// MARK: primitives

static dnnl_alg_kind_t eltwise_kind(int kind) {
    switch (kind) {
    case SY_DNNL_POST_RELU: return dnnl_eltwise_relu;
    case SY_DNNL_POST_CLIP: return dnnl_eltwise_clip;
    case SY_DNNL_POST_LOGISTIC: return dnnl_eltwise_logistic;
    case SY_DNNL_POST_TANH: return dnnl_eltwise_tanh;
    default: return dnnl_alg_kind_undef;
    }
}

// How an int8 convolution's accumulators become its result: output scales (one, or one per output channel) and
// the zero points of the source and destination.
typedef struct {
    const float *scales;
    int scale_count;
    int32_t src_zero, dst_zero;
} quantization;

// An attribute with a user scratchpad, the post-ops and, for int8, the quantization.
static dnnl_status_t make_attr(const sy_dnnl_post_op *post, int count, const quantization *q,
                               dnnl_primitive_attr_t *out) {
    dnnl_primitive_attr_t attr;
    dnnl_status_t status = dnnl_primitive_attr_create(&attr);
    if (status != dnnl_success) return status;
    status = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (status == dnnl_success && q) {
        status = dnnl_primitive_attr_set_output_scales(attr, q->scale_count, q->scale_count > 1 ? 1 << 1 : 0,
                                                       q->scales);
        const int32_t runtime = DNNL_RUNTIME_S32_VAL;
        if (status == dnnl_success && q->src_zero != 0)
            status = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &runtime);
        if (status == dnnl_success && q->dst_zero != 0)
            status = dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_DST, 1, 0, &runtime);
    }
    if (status == dnnl_success && count > 0) {
        dnnl_post_ops_t ops;
        status = dnnl_post_ops_create(&ops);
        for (int i = 0; status == dnnl_success && i < count; i++) {
            dnnl_alg_kind_t kind = eltwise_kind(post[i].kind);
            status = kind == dnnl_alg_kind_undef
                         ? dnnl_invalid_arguments
                         : dnnl_post_ops_append_eltwise(ops, 1.0f, kind, post[i].alpha, post[i].beta);
        }
        if (status == dnnl_success) status = dnnl_primitive_attr_set_post_ops(attr, ops);
        dnnl_post_ops_destroy(ops);
    }
    if (status != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return status;
    }
    *out = attr;
    return dnnl_success;
}

static void copy_md(sy_dnnl_md *target, const dnnl_memory_desc_t *source) {
    if (source) target->md = *source;
}

// Makes the primitive from an operation descriptor and records the descriptors it settled on.
static int finish(const void *op_desc, const sy_dnnl_post_op *post, int post_count, const quantization *q,
                  sy_dnnl_primitive **out) {
    if (post_count < 0 || post_count > SY_MAX_POST) return dnnl_invalid_arguments;
    dnnl_primitive_attr_t attr;
    dnnl_status_t status = make_attr(post, post_count, q, &attr);
    if (status != dnnl_success) return status;
    dnnl_primitive_desc_t pd;
    status = dnnl_primitive_desc_create(&pd, op_desc, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (status != dnnl_success) return status;
    sy_dnnl_primitive *p = calloc(1, sizeof *p);
    if (!p) {
        dnnl_primitive_desc_destroy(pd);
        return dnnl_out_of_memory;
    }
    status = dnnl_primitive_create(&p->primitive, pd);
    if (status != dnnl_success) {
        dnnl_primitive_desc_destroy(pd);
        free(p);
        return status;
    }
    if (q) {
        p->src_zero = q->src_zero;
        p->dst_zero = q->dst_zero;
    }
    copy_md(&p->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0));
    const dnnl_memory_desc_t *weights = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *bias = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
    p->has_weights = weights && weights->ndims > 0;
    p->has_bias = bias && bias->ndims > 0;
    copy_md(&p->weights, weights);
    copy_md(&p->bias, bias);
    copy_md(&p->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    const dnnl_memory_desc_t *scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    copy_md(&p->scratch, scratch);
    p->scratch_bytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl) {
        snprintf(p->impl, sizeof p->impl, "%s", impl);
    }
    dnnl_primitive_desc_destroy(pd);
    *out = p;
    return dnnl_success;
}

static void window_arrays(const sy_dnnl_window *w, dnnl_dims_t kernel, dnnl_dims_t strides, dnnl_dims_t dilations,
                          dnnl_dims_t begin, dnnl_dims_t end) {
    for (int i = 0; i < w->spatial; i++) {
        kernel[i] = w->kernel[i];
        strides[i] = w->strides[i];
        dilations[i] = w->dilations[i] - 1;  // oneDNN counts the gaps
        begin[i] = w->pad_begin[i];
        end[i] = w->pad_end[i];
    }
}

int sy_dnnl_convolution(const sy_dnnl_md *src, const sy_dnnl_md *weights, const sy_dnnl_md *bias,
                        const sy_dnnl_md *dst, const sy_dnnl_window *window, const sy_dnnl_post_op *post,
                        int post_count, sy_dnnl_primitive **out) {
    if (!ready()) return -1;
    if (!src || !weights || !dst || !window || window->spatial < 1 || window->spatial > 3)
        return dnnl_invalid_arguments;
    dnnl_dims_t kernel, strides, dilations, begin, end;
    window_arrays(window, kernel, strides, dilations, begin, end);
    dnnl_convolution_desc_t desc;
    dnnl_status_t status = dnnl_dilated_convolution_forward_desc_init(
        &desc, dnnl_forward_inference, dnnl_convolution_direct, &src->md, &weights->md, bias ? &bias->md : NULL,
        &dst->md, strides, dilations, begin, end);
    if (status != dnnl_success) return status;
    return finish(&desc, post, post_count, NULL, out);
}

int sy_dnnl_qconvolution(const sy_dnnl_md *src, const sy_dnnl_md *weights, const sy_dnnl_md *bias,
                         const sy_dnnl_md *dst, const sy_dnnl_window *window, const sy_dnnl_post_op *post,
                         int post_count, const float *scales, int scale_count, int32_t src_zero, int32_t dst_zero,
                         sy_dnnl_primitive **out) {
    if (!ready()) return -1;
    if (!src || !weights || !dst || !window || window->spatial < 1 || window->spatial > 3 || !scales ||
        scale_count < 1)
        return dnnl_invalid_arguments;
    dnnl_dims_t kernel, strides, dilations, begin, end;
    window_arrays(window, kernel, strides, dilations, begin, end);
    dnnl_convolution_desc_t desc;
    dnnl_status_t status = dnnl_dilated_convolution_forward_desc_init(
        &desc, dnnl_forward_inference, dnnl_convolution_direct, &src->md, &weights->md, bias ? &bias->md : NULL,
        &dst->md, strides, dilations, begin, end);
    if (status != dnnl_success) return status;
    quantization q = {scales, scale_count, src_zero, dst_zero};
    return finish(&desc, post, post_count, &q, out);
}

int sy_dnnl_matmul(const sy_dnnl_md *src, const sy_dnnl_md *weights, const sy_dnnl_md *bias, const sy_dnnl_md *dst,
                   const sy_dnnl_post_op *post, int post_count, sy_dnnl_primitive **out) {
    if (!ready()) return -1;
    if (!src || !weights || !dst) return dnnl_invalid_arguments;
    dnnl_matmul_desc_t desc;
    dnnl_status_t status = dnnl_matmul_desc_init(&desc, &src->md, &weights->md, bias ? &bias->md : NULL, &dst->md);
    if (status != dnnl_success) return status;
    return finish(&desc, post, post_count, NULL, out);
}

int sy_dnnl_max_pooling(const sy_dnnl_md *src, const sy_dnnl_md *dst, const sy_dnnl_window *window,
                        sy_dnnl_primitive **out) {
    if (!ready()) return -1;
    if (!src || !dst || !window || window->spatial < 1 || window->spatial > 3) return dnnl_invalid_arguments;
    dnnl_dims_t kernel, strides, dilations, begin, end;
    window_arrays(window, kernel, strides, dilations, begin, end);
    dnnl_pooling_v2_desc_t desc;
    dnnl_status_t status = dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, dnnl_pooling_max,
                                                             &src->md, &dst->md, strides, kernel, dilations, begin,
                                                             end);
    if (status != dnnl_success) return status;
    return finish(&desc, NULL, 0, NULL, out);
}

int sy_dnnl_reorder(const sy_dnnl_md *src, const sy_dnnl_md *dst, sy_dnnl_primitive **out) {
    if (!ready()) return -1;
    if (!src || !dst) return dnnl_invalid_arguments;
    dnnl_primitive_attr_t attr;
    dnnl_status_t status = make_attr(NULL, 0, NULL, &attr);
    if (status != dnnl_success) return status;
    dnnl_primitive_desc_t pd;
    status = dnnl_reorder_primitive_desc_create(&pd, &src->md, engine, &dst->md, engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (status != dnnl_success) return status;
    sy_dnnl_primitive *p = calloc(1, sizeof *p);
    if (!p) {
        dnnl_primitive_desc_destroy(pd);
        return dnnl_out_of_memory;
    }
    status = dnnl_primitive_create(&p->primitive, pd);
    if (status != dnnl_success) {
        dnnl_primitive_desc_destroy(pd);
        free(p);
        return status;
    }
    p->src = *src;
    p->dst = *dst;
    const dnnl_memory_desc_t *scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    copy_md(&p->scratch, scratch);
    p->scratch_bytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl) {
        snprintf(p->impl, sizeof p->impl, "%s", impl);
    }
    dnnl_primitive_desc_destroy(pd);
    *out = p;
    return dnnl_success;
}

const sy_dnnl_md *sy_dnnl_primitive_md(const sy_dnnl_primitive *p, int role) {
    switch (role) {
    case SY_DNNL_ARG_SRC: return &p->src;
    case SY_DNNL_ARG_WEIGHTS: return p->has_weights ? &p->weights : NULL;
    case SY_DNNL_ARG_BIAS: return p->has_bias ? &p->bias : NULL;
    case SY_DNNL_ARG_DST: return &p->dst;
    default: return NULL;
    }
}

size_t sy_dnnl_primitive_scratch_bytes(const sy_dnnl_primitive *p) { return p->scratch_bytes; }

const char *sy_dnnl_primitive_impl(const sy_dnnl_primitive *p) { return p->impl; }

void sy_dnnl_primitive_destroy(sy_dnnl_primitive *p) {
    if (!p) return;
    dnnl_primitive_destroy(p->primitive);
    free(p);
}

int sy_dnnl_execute(const sy_dnnl_primitive *p, int threads, int count, const int *roles, void *const *pointers,
                    void *scratch) {
    return sy_dnnl_execute_zero(p, threads, count, roles, pointers, scratch, 0);
}

int sy_dnnl_execute_zero(const sy_dnnl_primitive *p, int threads, int count, const int *roles,
                         void *const *pointers, void *scratch, int32_t src_zero) {
    if (!ready()) return -1;
    if (count < 0 || count > 4) return dnnl_invalid_arguments;
    dnnl_stream_t stream = thread_stream();
    if (!stream) return dnnl_runtime_error;
    set_threads(threads);
    dnnl_exec_arg_t args[4 + 3];
    int made = 0;
    dnnl_status_t status = dnnl_success;
    for (int i = 0; i < count && status == dnnl_success; i++) {
        const sy_dnnl_md *md = sy_dnnl_primitive_md(p, roles[i]);
        int arg;
        switch (roles[i]) {
        case SY_DNNL_ARG_SRC: arg = DNNL_ARG_SRC; break;
        case SY_DNNL_ARG_WEIGHTS: arg = DNNL_ARG_WEIGHTS; break;
        case SY_DNNL_ARG_BIAS: arg = DNNL_ARG_BIAS; break;
        case SY_DNNL_ARG_DST: arg = DNNL_ARG_DST; break;
        default: status = dnnl_invalid_arguments; continue;
        }
        if (!md) {
            status = dnnl_invalid_arguments;
            break;
        }
        args[made].arg = arg;
        status = dnnl_memory_create(&args[made].memory, &md->md, engine, pointers[i]);
        if (status == dnnl_success) made++;
    }
    // A source zero point of SY_DNNL_ZERO_AT_RUN comes with each execution.
    const int32_t zeros[2] = {p->src_zero == SY_DNNL_ZERO_AT_RUN ? src_zero : p->src_zero, p->dst_zero};
    const int has_zero[2] = {p->src_zero != 0, p->dst_zero != 0};
    const int zero_args[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    for (int i = 0; i < 2 && status == dnnl_success; i++) {
        if (!has_zero[i]) continue;
        dnnl_memory_desc_t one;
        dnnl_dims_t dims = {1};
        status = dnnl_memory_desc_init_by_tag(&one, 1, dims, dnnl_s32, dnnl_a);
        if (status != dnnl_success) break;
        args[made].arg = DNNL_ARG_ATTR_ZERO_POINTS | zero_args[i];
        status = dnnl_memory_create(&args[made].memory, &one, engine, (void *)&zeros[i]);
        if (status == dnnl_success) made++;
    }
    if (status == dnnl_success && p->scratch_bytes > 0) {
        args[made].arg = DNNL_ARG_SCRATCHPAD;
        status = dnnl_memory_create(&args[made].memory, &p->scratch.md, engine, scratch);
        if (status == dnnl_success) made++;
    }
    if (status == dnnl_success) status = dnnl_primitive_execute(p->primitive, stream, made, args);
    if (status == dnnl_success) status = dnnl_stream_wait(stream);
    for (int i = 0; i < made; i++) dnnl_memory_destroy(args[i].memory);
    return status;
}
