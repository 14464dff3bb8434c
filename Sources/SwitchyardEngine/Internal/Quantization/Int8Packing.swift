import CInt8GEMM

/// int8 weights packed once at load for ``sy_gemm_u8s8_f32``'s VNNI kernel.
enum Int8Packing {
    /// The CPU has the kernel the packed form is for.
    static let available = sy_int8_has_vnni() != 0

    /// Packs row-major int8 [K, N] weights, or nil on CPUs without the kernel (oneDNN reads them unpacked).
    static func pack(
        _ weights: UnsafePointer<Int8>,
        k: Int,
        n: Int
    ) -> (weights: AlignedBuffer, columnSums: AlignedBuffer)? {
        guard Self.available else { return nil }
        let packed = AlignedBuffer(count: sy_int8_packed_bytes(Int64(k), Int64(n)))
        let sums = AlignedBuffer(count: n * 4)
        sy_int8_pack(
            weights,
            Int64(k),
            Int64(n),
            Int64(n),
            packed.pointer.assumingMemoryBound(to: Int8.self),
            sums.pointer.assumingMemoryBound(to: Int32.self)
        )
        return (packed, sums)
    }
}

extension Int8Packing {
    /// Lets the packed kernel run (when the CPU has it) or not, returning the previous setting; for tests, which run
    /// the oneDNN path a CPU without VNNI takes. Both give identical results.
    static func usePacked(_ enabled: Bool) -> Bool { sy_int8_use_packed(enabled ? 1 : 0) != 0 }
}
