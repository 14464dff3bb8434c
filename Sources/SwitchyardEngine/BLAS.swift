import CEngineKernels
import CInt8GEMM
import COpenBLAS
import Synchronization

/// The OpenBLAS library the engine's matrix work runs on, and the engine's thread count.
///
/// The engine has one pool of threads, the OpenMP team oneDNN runs on: oneDNN's primitives and the engine's split
/// loops (attention's per-head GEMMs, large OpenBLAS GEMMs split by rows, softmax, normalization, elementwise ops)
/// use it, and OpenBLAS itself runs single-threaded, so two pools never spin against each other. The count is
/// process-wide: set it once at start-up, before inferences run; without a call it is OpenBLAS's default (the CPUs,
/// or `OPENBLAS_NUM_THREADS`).
public enum BLAS {
    /// The number of threads one inference's operators use.
    public static var threadCount: Int {
        _ = Self.defaults
        return Int(sy_parallel_threads())
    }

    /// Sets the number of threads one inference's operators use.
    /// - Parameter count: 1 or more; values above the machine's cores are allowed but rarely help.
    public static func setThreadCount(_ count: Int) {
        Self.explicitlySet.store(true, ordering: .sequentiallyConsistent)
        _ = Self.defaults
        Self.apply(count)
    }

    private static let explicitlySet = Atomic<Bool>(false)

    /// OpenBLAS's own default count, taken over by the team the first time the engine needs it.
    static let defaults: Void = {
        if !Self.explicitlySet.load(ordering: .sequentiallyConsistent) { Self.apply(Int(openblas_get_num_threads())) }
    }()

    private static func apply(_ count: Int) {
        let count = Int32(max(1, count))
        sy_parallel_set_threads(count)
        sy_dnnl_set_default_threads(count)
        openblas_set_num_threads(1)
    }

    /// OpenBLAS's build description (version, target CPU kernels, threading).
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The library 2-D convolutions run on, with its version and instruction set ("oneDNN 2.6.3 (avx512_core)"),
    /// or why they stay on im2col over OpenBLAS.
    public static var convolutions: String { OneDNN.description }

    /// The kernels OpenBLAS runs on this CPU and how they were chosen (see ``BLASCoreSelection``).
    public static var coreSelection: BLASCoreSelection { .current }
}
