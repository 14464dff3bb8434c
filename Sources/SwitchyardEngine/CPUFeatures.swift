import COpenBLASCore

/// The vector extensions of a CPU that BLAS kernels use, with the operating system's support for their state.
public struct CPUFeatures: Sendable, Equatable {
    public var intel = false
    /// AuthenticAMD or HygonGenuine.
    public var amd = false
    public var avx = false
    public var fma = false
    public var avx2 = false
    public var avx512f = false
    public var avx512dq = false
    public var avx512cd = false
    public var avx512bw = false
    public var avx512vl = false
    public var avx512vnni = false
    public var avx512bf16 = false
    public var avxVNNI = false
    /// The OS saves AVX (YMM) state.
    public var osYMM = false
    /// The OS saves AVX-512 (ZMM and mask) state.
    public var osZMM = false

    /// Makes a feature set; everything absent unless `configure` sets it.
    /// - Parameter configure: sets the features present.
    public init(_ configure: (inout CPUFeatures) -> Void = { _ in }) { configure(&self) }

    /// This machine's CPU (cpuid and xgetbv).
    public static var host: CPUFeatures {
        var raw = SYCPUFeatures()
        sy_cpu_features_detect(&raw)
        return CPUFeatures(raw)
    }

    /// The instruction-set level: 1 SSE, 2 AVX, 3 AVX2 + FMA, 4 AVX-512 (F, DQ, CD, BW, VL), 5 AVX-512 with BF16.
    public var level: Int {
        var raw = self.raw
        return Int(sy_cpu_level(&raw))
    }

    /// `AVX-512 BF16`, `AVX-512`, `AVX2`, `AVX` or `SSE`, plus ` VNNI` when the CPU has 8-bit dot products.
    public var summary: String {
        let names = [1: "SSE", 2: "AVX", 3: "AVX2", 4: "AVX-512", 5: "AVX-512 BF16"]
        let vnni = (self.avx512vnni && self.level >= 4) || (self.avxVNNI && self.level >= 3) ? " VNNI" : ""
        return names[self.level, default: "SSE"] + vnni
    }

    init(_ raw: SYCPUFeatures) {
        self.intel = raw.intel
        self.amd = raw.amd
        self.avx = raw.avx
        self.fma = raw.fma
        self.avx2 = raw.avx2
        self.avx512f = raw.avx512f
        self.avx512dq = raw.avx512dq
        self.avx512cd = raw.avx512cd
        self.avx512bw = raw.avx512bw
        self.avx512vl = raw.avx512vl
        self.avx512vnni = raw.avx512vnni
        self.avx512bf16 = raw.avx512bf16
        self.avxVNNI = raw.avxvnni
        self.osYMM = raw.osYMM
        self.osZMM = raw.osZMM
    }

    var raw: SYCPUFeatures {
        SYCPUFeatures(
            intel: self.intel,
            amd: self.amd,
            avx: self.avx,
            fma: self.fma,
            avx2: self.avx2,
            avx512f: self.avx512f,
            avx512dq: self.avx512dq,
            avx512cd: self.avx512cd,
            avx512bw: self.avx512bw,
            avx512vl: self.avx512vl,
            avx512vnni: self.avx512vnni,
            avx512bf16: self.avx512bf16,
            avxvnni: self.avxVNNI,
            osYMM: self.osYMM,
            osZMM: self.osZMM
        )
    }
}
