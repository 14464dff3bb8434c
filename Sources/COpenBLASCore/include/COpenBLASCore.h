// OpenBLAS core-type selection. Debian's DYNAMIC_ARCH OpenBLAS picks its kernels when it loads; on CPUs it
// does not know (recent Xeons, Zen 4) it falls back to old SSE3 (Prescott) kernels. A constructor in this
// target runs right after OpenBLAS's own initialiser and, when the library chose kernels below what the
// CPU supports, re-runs OpenBLAS's core selection with OPENBLAS_CORETYPE set to a matching core.
#ifndef SWITCHYARD_OPENBLAS_CORE_H
#define SWITCHYARD_OPENBLAS_CORE_H

#include <stdbool.h>

/// What the CPU and the operating system support, as far as BLAS kernels care.
typedef struct SYCPUFeatures {
    bool intel;
    bool amd;  // AuthenticAMD or HygonGenuine
    bool avx;
    bool fma;
    bool avx2;
    bool avx512f;
    bool avx512dq;
    bool avx512cd;
    bool avx512bw;
    bool avx512vl;
    bool avx512vnni;
    bool avx512bf16;
    bool avxvnni;
    bool osYMM;  // the OS saves AVX state (XCR0 bits 1-2)
    bool osZMM;  // the OS saves AVX-512 state (XCR0 bits 5-7)
} SYCPUFeatures;

/// OpenBLAS cores the selection may ask for, as a bit set of what the loaded library contains.
enum {
    SYCoreSandybridge = 1 << 0,
    SYCoreHaswell = 1 << 1,
    SYCoreZen = 1 << 2,
    SYCoreSkylakeX = 1 << 3,
    SYCoreCooperlake = 1 << 4,
};

/// How the selection ended.
typedef enum SYCoreOutcome {
    /// OpenBLAS's own choice matches the CPU: nothing changed.
    SYCoreOutcomeKept = 0,
    /// OpenBLAS chose older kernels; the selection switched to `core`.
    SYCoreOutcomeSwitched = 1,
    /// OPENBLAS_CORETYPE was set in the environment: the operator's choice stands.
    SYCoreOutcomeEnvironment = 2,
    /// The loaded BLAS cannot switch cores (not OpenBLAS, or not a DYNAMIC_ARCH build).
    SYCoreOutcomeUnsupported = 3,
    /// A switch was tried but OpenBLAS reported another core; the library's choice was restored.
    SYCoreOutcomeFailed = 4,
    /// Not an x86-64 CPU: OpenBLAS's choice stands.
    SYCoreOutcomeNotX86 = 5,
} SYCoreOutcome;

/// The selection made when the process started.
typedef struct SYCoreSelection {
    SYCPUFeatures cpu;
    /// The core OpenBLAS chose by itself (empty when unknown).
    char libraryCore[32];
    /// The core in use after the selection.
    char core[32];
    /// The core the selection asked for (empty when it asked for none).
    char requested[32];
    unsigned available;
    SYCoreOutcome outcome;
} SYCoreSelection;

/// This CPU's features (cpuid and xgetbv); all false on other architectures.
void sy_cpu_features_detect(SYCPUFeatures *features);

/// The instruction-set level of a CPU: 1 SSE, 2 AVX, 3 AVX2+FMA, 4 AVX-512 (F, DQ, CD, BW, VL), 5 AVX-512 with BF16.
int sy_cpu_level(const SYCPUFeatures *features);

/// The instruction-set level of an OpenBLAS core's kernels, by the name OpenBLAS reports (case-insensitive).
int sy_core_level(const char *core);

/// The core to switch to, or NULL to keep `libraryCore`: the best core for the CPU's level that `available`
/// contains, when that is above the level of the library's choice.
const char *sy_blas_choose_core(const SYCPUFeatures *features, const char *libraryCore, unsigned available);

/// The selection made at start-up (by a constructor that runs before any Swift code).
const SYCoreSelection *sy_blas_core_selection(void);

#endif
