#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An immutable, 64-byte-aligned block of bytes shared by the tensors and frames that view it.
///
/// The alignment lets a receiver use float data in place (SIMD and BLAS like 64-byte alignment), and
/// the immutability makes sharing across tasks safe.
public final class ByteStorage: @unchecked Sendable {
    /// The alignment of every storage block, in bytes.
    public static let alignment = 64

    @usableFromInline let base: UnsafeMutableRawPointer
    /// The number of bytes.
    public let count: Int

    /// Allocates `count` bytes and lets `initialize` fill them before the storage becomes visible.
    /// - Parameters:
    ///   - count: the size in bytes (zero allowed).
    ///   - initialize: writes the contents; the bytes start zeroed.
    /// - Throws: whatever `initialize` throws; the memory is freed.
    public convenience init(
        count: Int,
        initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows {
        try self.init(count: count, zeroed: true, initializingWith: initialize)
    }

    /// Allocates `count` bytes that `initialize` must fill completely (no zeroing first; for copies).
    /// - Parameters:
    ///   - count: the size in bytes (zero allowed).
    ///   - initialize: writes every byte.
    /// - Throws: whatever `initialize` throws; the memory is freed.
    public convenience init(
        uninitializedCount count: Int,
        initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows {
        try self.init(count: count, zeroed: false, initializingWith: initialize)
    }

    private init(
        count: Int,
        zeroed: Bool,
        initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows {
        precondition(count >= 0)
        var pointer: UnsafeMutableRawPointer? = nil
        let status = posix_memalign(&pointer, Self.alignment, max(count, 1))
        guard status == 0, let pointer else { fatalError("out of memory allocating \(count) bytes") }
        if zeroed { memset(pointer, 0, max(count, 1)) }
        self.base = pointer
        self.count = count
        // on a throw the object is fully initialized, so deinit frees the memory (freeing it here too was a double free)
        try initialize(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    deinit { free(self.base) }

    /// Calls `body` with the bytes.
    /// - Parameter body: reads the bytes; the pointer must not escape.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: self.base, count: self.count))
    }
}
