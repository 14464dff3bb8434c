// Counts a process's heap allocations, for allocations per request (bench/cpu-per-request.sh, ALLOCS=1).
// Build: cc -O2 -shared -fPIC -o malloc-count.so bench/malloc-count.c; run the process with LD_PRELOAD=malloc-count.so
// and MALLOC_COUNT_FILE=path. On SIGUSR2 the process writes "<allocations> <bytes>\n" (totals since start) to that
// file, so a script reads the count before and after a measured run. A process may also read the totals itself through
// sy_malloc_count (found with dlsym: switchyard-bench-engine reports allocations per run when it is preloaded).
// glibc only (it forwards to __libc_*).
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic unsigned long long allocations;
static _Atomic unsigned long long allocated;

static inline void count(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&allocated, size, memory_order_relaxed);
}

void *malloc(size_t size) { count(size); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(n * size); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(size); return __libc_realloc(p, size); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(size); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count(size);
    void *p = __libc_memalign(alignment, size);
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}

/// The allocations and bytes allocated since the process started.
void sy_malloc_count(unsigned long long *count, unsigned long long *bytes) {
    *count = atomic_load(&allocations);
    *bytes = atomic_load(&allocated);
}

// async-signal-safe: integers formatted by hand, one write(2)
static size_t put(char *out, unsigned long long value) {
    char digits[24];
    size_t n = 0;
    do { digits[n++] = (char)('0' + value % 10); value /= 10; } while (value);
    for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    return n;
}

static char path[4096];

static void report(int signal) {
    (void)signal;
    char line[64];
    size_t n = put(line, atomic_load(&allocations));
    line[n++] = ' ';
    n += put(line + n, atomic_load(&allocated));
    line[n++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { (void)!write(fd, line, n); close(fd); }
}

__attribute__((constructor)) static void install(void) {
    const char *file = getenv("MALLOC_COUNT_FILE");
    if (!file || strlen(file) >= sizeof(path)) return;
    strcpy(path, file);
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = report;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &action, 0);
}
