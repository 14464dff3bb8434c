import CEngineKernels

/// Loops split across the engine's threads: the OpenMP team oneDNN's primitives run on, so the whole engine keeps one
/// pool of threads (OpenBLAS runs single-threaded inside the shares; see ``BLAS/setThreadCount(_:)``).
enum Parallel {
    /// Threads a split loop may use.
    static var threads: Int { Int(sy_parallel_threads()) }

    /// Calls `body` on contiguous ranges covering `0..<count`, at most one range per thread and each of at least
    /// `minimumPerThread` items, so that short loops stay on the calling thread without waking the team. Returns
    /// when all ranges are done. `body` must only write what its range owns.
    @inline(__always)
    static func forEach(_ count: Int, minimumPerThread: Int, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        if count < 2 * minimumPerThread || sy_parallel_threads() <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var share = escaping
            withUnsafeMutablePointer(to: &share) { pointer in
                sy_parallel_for(
                    Int64(count),
                    Int64(minimumPerThread),
                    { context, begin, end in
                        context!.assumingMemoryBound(to: ((Range<Int>) -> Void).self).pointee(Int(begin)..<Int(end))
                    },
                    pointer
                )
            }
        }
    }

    /// Elements per thread below which an elementwise loop is not worth splitting (waking a thread costs a few µs).
    static let elementGrain = 32 * 1024
}
