// The int8 GEMM choice of Sources/CInt8GEMM (bench/int8-gemm.sh): for each shape of the compression bench models,
// the packed AVX-512 VNNI kernel against oneDNN's u8s8s32 GEMM, both on one thread, best of 5 timed runs, after a
// check that both give the same products.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "CInt8GEMM.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    if (!sy_int8_has_vnni()) {
        printf("this CPU has no AVX-512 VNNI: the engine uses oneDNN at every size\n");
        return 0;
    }
    // k × n of the bench models' layers: digits, MNIST MLP, BERT-like (hidden 256, FFN 1024), ResNet-18 im2col
    const long shapes[][2] = {{64, 128}, {784, 512}, {512, 256}, {256, 256}, {256, 1024}, {1024, 256}, {576, 64},
                              {1152, 128}, {2304, 256}};
    const long rows[] = {1, 4, 16, 32, 64, 256};
    printf("| m | k | n | packed µs | oneDNN µs | oneDNN / packed |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
            const long m = rows[r], k = shapes[s][0], n = shapes[s][1], lda = (k + 3) / 4 * 4;
            uint8_t *a = aligned_alloc(64, (size_t)((m * lda + 64 + 63) / 64 * 64));
            int8_t *b = malloc((size_t)(k * n));
            float *c1 = malloc((size_t)(m * n) * 4), *c2 = malloc((size_t)(m * n) * 4), *scales = malloc((size_t)n * 4);
            for (long i = 0; i < m * lda; i++) a[i] = (uint8_t)(rand() & 255);
            for (long i = 0; i < k * n; i++) b[i] = (int8_t)((rand() & 255) - 128);
            for (long j = 0; j < n; j++) scales[j] = 1;
            int8_t *packed = aligned_alloc(64, (sy_int8_packed_bytes(k, n) + 63) / 64 * 64);
            int32_t *sums = malloc((size_t)n * 4);
            sy_int8_pack(b, k, n, n, packed, sums);
            const int reps = (int)(2e8 / (2.0 * m * n * k)) + 3;
            double best[2] = {1e9, 1e9};
            for (int run = 0; run < 5; run++) {
                for (int path = 0; path < 2; path++) {
                    sy_int8_use_packed(path == 0 ? 2 : 0);
                    const double start = now();
                    for (int i = 0; i < reps; i++)
                        sy_gemm_u8s8_f32(1, m, n, k, a, lda, 3, b, n, packed, sums, scales, NULL, 0, path ? c2 : c1, n);
                    const double took = (now() - start) / reps;
                    if (took < best[path]) best[path] = took;
                }
            }
            for (long i = 0; i < m * n; i++) {
                if (c1[i] != c2[i]) {
                    printf("the two paths differ at m=%ld k=%ld n=%ld\n", m, k, n);
                    return 1;
                }
            }
            printf("| %ld | %ld | %ld | %.2f | %.2f | %.2f |\n", m, k, n, best[0] * 1e6, best[1] * 1e6, best[1] / best[0]);
            free(a), free(b), free(c1), free(c2), free(scales), free(packed), free(sums);
        }
    }
    return 0;
}
