#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An immutable block of bytes shared by the tensors and frames that view it.
///
/// Storage it allocates itself is 64-byte aligned, so a receiver can use float data in place (SIMD and BLAS like
/// 64-byte alignment); storage that borrows bytes kept alive by an owner (a received network buffer) is aligned as
/// that owner's bytes are. The immutability makes sharing across tasks safe.
public final class ByteStorage: @unchecked Sendable {
    /// The alignment of every storage block this type allocates, in bytes.
    public static let alignment = 64

    @usableFromInline let base: UnsafeMutableRawPointer
    /// The number of bytes.
    public let count: Int
    /// What keeps borrowed bytes alive and unchanged (e.g. a received `ByteBuffer`); `nil` when this storage
    /// allocated its bytes itself.
    public let owner: (any Sendable)?

    /// Views bytes that `owner` keeps alive, without copying them.
    /// - Parameters:
    ///   - bytes: the bytes; they must stay valid and unchanged while `owner` lives.
    ///   - owner: holds the bytes (a value or object whose lifetime is the bytes' lifetime).
    public init(borrowing bytes: UnsafeRawBufferPointer, owner: any Sendable) {
        self.base = UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(Self.emptyBase))
        self.count = bytes.count
        self.owner = owner
    }

    /// A valid address for empty borrowed storage (never read).
    nonisolated(unsafe) private static let emptyBase = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)

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
        self.owner = nil
        // on a throw the object is fully initialized, so deinit frees the memory (freeing it here too was a double free)
        try initialize(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    deinit { if self.owner == nil { free(self.base) } }

    /// Calls `body` with the bytes.
    /// - Parameter body: reads the bytes; the pointer must not escape.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: self.base, count: self.count))
    }
}
