import CInt8GEMM
import COpenBLAS

/// The OpenBLAS library the engine's matrix work runs on.
///
/// The thread count is process-wide (OpenBLAS keeps one pool): set it once at start-up, before
/// inferences run. Elementwise kernels run on the calling thread.
public enum BLAS {
    /// The number of threads OpenBLAS uses for one GEMM.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the number of threads OpenBLAS (and oneDNN, for the convolutions) use for one GEMM.
    /// - Parameter count: 1 or more; values above the machine's cores are allowed but rarely help.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
        sy_dnnl_set_default_threads(Int32(max(1, count)))
    }

    /// OpenBLAS's build description (version, target CPU kernels, threading).
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The library 2-D convolutions run on, with its version and instruction set ("oneDNN 2.6.3 (avx512_core)"),
    /// or why they stay on im2col over OpenBLAS.
    public static var convolutions: String { OneDNN.description }

    /// The kernels OpenBLAS runs on this CPU and how they were chosen (see ``BLASCoreSelection``).
    public static var coreSelection: BLASCoreSelection { .current }
}
