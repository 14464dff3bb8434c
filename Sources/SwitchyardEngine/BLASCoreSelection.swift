import COpenBLAS
import COpenBLASCore

/// Which OpenBLAS kernels the process runs, and why.
///
/// Debian's OpenBLAS 0.3.21 picks its kernels when it loads and falls back to SSE3 (Prescott) kernels on
/// CPUs it does not know, such as recent AVX-512 Xeons, which costs 3–4× in GEMM speed. Before any Swift
/// code runs, the engine compares that choice with what the CPU supports and, when the library chose an older
/// instruction set, makes it select a matching core (SkylakeX, Cooperlake, Haswell, Zen, Sandybridge).
/// `OPENBLAS_CORETYPE` in the environment still wins.
public struct BLASCoreSelection: Sendable, Equatable, CustomStringConvertible {
    /// How the selection ended.
    public enum Outcome: String, Sendable {
        /// OpenBLAS's own choice matches the CPU.
        case kept
        /// OpenBLAS chose older kernels; the engine switched to ``BLASCoreSelection/core``.
        case switched
        /// `OPENBLAS_CORETYPE` was set: the operator's choice stands.
        case environment
        /// The BLAS library cannot switch kernels (not a `DYNAMIC_ARCH` OpenBLAS).
        case unsupported
        /// The library refused the matching core; its own choice was kept.
        case failed
        /// Not an x86-64 CPU.
        case notX86 = "not-x86"
    }

    /// The core OpenBLAS chose by itself when it loaded.
    public var libraryCore: String
    /// The core whose kernels run now.
    public var core: String
    /// How the selection ended.
    public var outcome: Outcome
    /// The CPU's vector extensions that matter to BLAS kernels (`AVX-512`, `AVX2`, ...).
    public var cpu: CPUFeatures

    /// One line for logs and tools: `SkylakeX (OpenBLAS chose Prescott; switched for AVX-512)`.
    public var description: String {
        switch self.outcome {
        case .kept: "\(self.core) (OpenBLAS's choice; CPU \(self.cpu.summary))"
        case .switched: "\(self.core) (OpenBLAS chose \(self.libraryCore); switched for CPU \(self.cpu.summary))"
        case .environment: "\(self.core) (set by OPENBLAS_CORETYPE; CPU \(self.cpu.summary))"
        case .unsupported: "\(self.core) (this BLAS cannot switch kernels; CPU \(self.cpu.summary))"
        case .failed: "\(self.core) (OpenBLAS refused a matching core; CPU \(self.cpu.summary))"
        case .notX86: "\(self.core) (OpenBLAS's choice)"
        }
    }

    /// The selection this process made at start-up.
    public static var current: BLASCoreSelection {
        let raw = sy_blas_core_selection()!.pointee
        let outcome: Outcome =
            switch raw.outcome {
            case SYCoreOutcomeKept: .kept
            case SYCoreOutcomeSwitched: .switched
            case SYCoreOutcomeEnvironment: .environment
            case SYCoreOutcomeFailed: .failed
            case SYCoreOutcomeNotX86: .notX86
            default: .unsupported
            }
        return BLASCoreSelection(
            libraryCore: Self.string(raw.libraryCore),
            core: String(cString: openblas_get_corename()),
            outcome: outcome,
            cpu: CPUFeatures(raw.cpu)
        )
    }

    /// The core the engine switches to for a CPU, or `nil` to keep the library's choice.
    /// - Parameters:
    ///   - cpu: the CPU's features.
    ///   - libraryCore: the core OpenBLAS chose, as `openblas_get_corename` reports it.
    ///   - available: the switchable cores the library contains (`Sandybridge`, `Haswell`, `Zen`, `SkylakeX`,
    ///     `Cooperlake`).
    public static func choose(cpu: CPUFeatures, libraryCore: String, available: Set<String>) -> String? {
        let bits: [(String, Int)] = [
            ("Sandybridge", SYCoreSandybridge), ("Haswell", SYCoreHaswell), ("Zen", SYCoreZen),
            ("SkylakeX", SYCoreSkylakeX), ("Cooperlake", SYCoreCooperlake),
        ]
        let mask = bits.reduce(UInt32(0)) { available.contains($1.0) ? $0 | UInt32($1.1) : $0 }
        var raw = cpu.raw
        return libraryCore.withCString { name in
            sy_blas_choose_core(&raw, name, mask).map { String(cString: $0) }
        }
    }

    /// The instruction-set level of a core's kernels: 1 SSE, 2 AVX, 3 AVX2, 4 AVX-512, 5 AVX-512 with BF16.
    /// - Parameter core: a name as `openblas_get_corename` reports it.
    public static func level(ofCore core: String) -> Int { Int(sy_core_level(core)) }

    private static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
