#define _GNU_SOURCE
#include "COpenBLASCore.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    return ((unsigned long long)high << 32) | low;
}
#endif

void sy_cpu_features_detect(SYCPUFeatures *f) {
    memset(f, 0, sizeof *f);
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned int maxLeaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    f->intel = strcmp(vendor, "GenuineIntel") == 0;
    f->amd = strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0;
    __get_cpuid(1, &a, &b, &c, &d);
    bool osxsave = (c >> 27) & 1;
    f->avx = (c >> 28) & 1;
    f->fma = (c >> 12) & 1;
    if (osxsave) {
        unsigned long long xcr0 = read_xcr0();
        f->osYMM = (xcr0 & 0x6) == 0x6;
        f->osZMM = f->osYMM && (xcr0 & 0xE0) == 0xE0;
    }
    if (maxLeaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned int subleaves = a;
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512cd = (b >> 28) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
        if (subleaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avx512bf16 = (a >> 5) & 1;
            f->avxvnni = (a >> 4) & 1;
        }
    }
#endif
}

int sy_cpu_level(const SYCPUFeatures *f) {
    bool avx512 = f->osZMM && f->avx512f && f->avx512dq && f->avx512cd && f->avx512bw && f->avx512vl;
    if (avx512) return f->avx512bf16 ? 5 : 4;
    if (f->osYMM && f->avx2 && f->fma) return 3;
    if (f->osYMM && f->avx) return 2;
    return 1;
}

int sy_core_level(const char *core) {
    static const struct {
        const char *name;
        int level;
    } levels[] = {
        {"Cooperlake", 5}, {"SapphireRapids", 5}, {"SkylakeX", 4}, {"Haswell", 3}, {"Zen", 3},
        {"Excavator", 3}, {"Sandybridge", 2}, {"Bulldozer", 2}, {"Piledriver", 2}, {"Steamroller", 2},
    };
    if (core == NULL) return 0;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (strcasecmp(core, levels[i].name) == 0) return levels[i].level;
    }
    return 1;  // Prescott, Core2, Nehalem, Atom, Opteron...: SSE kernels
}

const char *sy_blas_choose_core(const SYCPUFeatures *f, const char *libraryCore, unsigned available) {
    int have = sy_core_level(libraryCore);
    for (int level = sy_cpu_level(f); level > have; level--) {
        switch (level) {
        case 5:
            if (available & SYCoreCooperlake) return "Cooperlake";
            break;
        case 4:
            if (available & SYCoreSkylakeX) return "SkylakeX";
            break;
        case 3:
            // Zen's kernels are Haswell's with AMD's blocking; either runs on both vendors.
            if (f->amd && (available & SYCoreZen)) return "Zen";
            if (available & SYCoreHaswell) return "Haswell";
            if (available & SYCoreZen) return "Zen";
            break;
        case 2:
            if (available & SYCoreSandybridge) return "Sandybridge";
            break;
        default: break;
        }
    }
    return NULL;
}

static SYCoreSelection selection;

const SYCoreSelection *sy_blas_core_selection(void) { return &selection; }

static void copy_name(char *target, const char *source) {
    snprintf(target, sizeof selection.core, "%s", source ? source : "");
}

// Runs after libopenblas's own constructor (a library initialises before the objects that need it) and
// before main, so no BLAS call is in flight while the kernel table is swapped.
__attribute__((constructor)) static void sy_blas_select_core(void) {
    sy_cpu_features_detect(&selection.cpu);
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    copy_name(selection.libraryCore, corename ? corename() : "");
    copy_name(selection.core, selection.libraryCore);
#if !defined(__x86_64__)
    selection.outcome = SYCoreOutcomeNotX86;
    return;
#else
    if (corename == NULL || quit == NULL || init == NULL) {
        selection.outcome = SYCoreOutcomeUnsupported;
        return;
    }
    static const struct {
        const char *symbol;
        unsigned bit;
    } tables[] = {
        {"gotoblas_SANDYBRIDGE", SYCoreSandybridge}, {"gotoblas_HASWELL", SYCoreHaswell}, {"gotoblas_ZEN", SYCoreZen},
        {"gotoblas_SKYLAKEX", SYCoreSkylakeX}, {"gotoblas_COOPERLAKE", SYCoreCooperlake},
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        if (dlsym(RTLD_DEFAULT, tables[i].symbol) != NULL) selection.available |= tables[i].bit;
    }
    const char *preset = getenv("OPENBLAS_CORETYPE");
    if (preset != NULL && preset[0] != 0) {
        selection.outcome = SYCoreOutcomeEnvironment;
        return;
    }
    const char *wanted = sy_blas_choose_core(&selection.cpu, selection.libraryCore, selection.available);
    if (wanted == NULL) {
        selection.outcome = SYCoreOutcomeKept;
        return;
    }
    copy_name(selection.requested, wanted);
    // OpenBLAS reads OPENBLAS_CORETYPE only while it initialises: set it, re-run that step, and unset it
    // so that child processes make their own choice. setenv moves the environment to the heap; the process's
    // own array comes back afterwards, because a statically linked Swift runtime finds the command line by
    // walking back from `environ` to argv (with the heap copy, CommandLine.arguments would lose every argument).
    char **original_environment = environ;
    setenv("OPENBLAS_CORETYPE", wanted, 1);
    quit();
    init();
    if (strcasecmp(corename(), wanted) == 0 || sy_core_level(corename()) > sy_core_level(selection.libraryCore)) {
        selection.outcome = SYCoreOutcomeSwitched;
    } else {
        setenv("OPENBLAS_CORETYPE", selection.libraryCore, 1);
        quit();
        init();
        selection.outcome = SYCoreOutcomeFailed;
    }
    unsetenv("OPENBLAS_CORETYPE");
    environ = original_environment;
    copy_name(selection.core, corename());
#endif
}
