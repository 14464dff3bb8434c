#define _GNU_SOURCE
#include "CInt8GEMM.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

// oneDNN runs on OpenMP; the thread count is a per-thread OpenMP setting, so each calling thread sets its own.
static void set_threads(int threads) {
    static void (*set)(int) = 0;
    static int looked = 0;
    if (!looked) {
        set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
        looked = 1;
    }
    if (set) set(threads < 1 ? 1 : threads);
}

int sy_gemm_u8s8s32(int threads, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, uint8_t aZero,
                    const int8_t *b, int64_t ldb, int8_t bZero, int32_t *c, int64_t ldc) {
    set_threads(threads);
    const int32_t offset = 0;
    dnnl_status_t status =
        dnnl_gemm_u8s8s32('N', 'N', 'F', m, n, k, 1.0f, a, lda, aZero, b, ldb, bZero, 0.0f, c, ldc, &offset);
    return status == dnnl_success ? 0 : (int)status;
}
