#define _GNU_SOURCE
#include "CEngineKernels.h"

#include <dlfcn.h>
#include <pthread.h>

// The engine's thread team is the OpenMP team oneDNN runs on (GCC's libgomp, loaded with libdnnl): work split here
// and oneDNN's primitives share one pool of threads, so no second pool spins beside it. GOMP_parallel is the entry
// GCC emits for `#pragma omp parallel`; it is looked up at run time because this target is built by clang, whose
// OpenMP runtime (libomp) would be a second pool.

static void (*gomp_parallel)(void (*)(void *), void *, unsigned, unsigned);
static int (*omp_thread_num)(void);
static int (*omp_num_threads)(void);
static int (*omp_in_parallel)(void);
static pthread_once_t look_up_once = PTHREAD_ONCE_INIT;
static _Atomic int team_threads = 1;

static void look_up(void) {
    omp_thread_num = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_thread_num");
    omp_num_threads = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_num_threads");
    omp_in_parallel = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_in_parallel");
    if (omp_thread_num && omp_num_threads && omp_in_parallel) {
        gomp_parallel = (void (*)(void (*)(void *), void *, unsigned, unsigned))dlsym(RTLD_DEFAULT, "GOMP_parallel");
    }
}

void sy_parallel_set_threads(int threads) { team_threads = threads < 1 ? 1 : threads; }

int sy_parallel_threads(void) { return team_threads; }

typedef struct {
    sy_parallel_body body;
    void *context;
    int64_t count;
} sy_parallel_job;

static void run_share(void *data) {
    const sy_parallel_job *job = data;
    int64_t thread = omp_thread_num(), threads = omp_num_threads();
    int64_t begin = job->count * thread / threads, end = job->count * (thread + 1) / threads;
    if (begin < end) job->body(job->context, begin, end);
}

void sy_parallel_for(int64_t count, int64_t minimum, sy_parallel_body body, void *context) {
    if (count <= 0) return;
    int64_t threads = team_threads;
    if (minimum < 1) minimum = 1;
    if (threads > count / minimum) threads = count / minimum;
    if (threads > 1) {
        pthread_once(&look_up_once, look_up);
        // Inside a region (a split GEMM called from a split loop) the caller's share runs on the caller.
        if (gomp_parallel && !omp_in_parallel()) {
            sy_parallel_job job = {body, context, count};
            gomp_parallel(run_share, &job, (unsigned)threads, 0);
            return;
        }
    }
    body(context, 0, count);
}
