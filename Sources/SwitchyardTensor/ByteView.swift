/// A read-only window onto a ``ByteStorage``: slicing never copies.
public struct ByteView: Sendable, Equatable, CustomStringConvertible {
    /// The storage this view keeps alive.
    public let storage: ByteStorage
    /// The first byte of the view within `storage`.
    public let offset: Int
    /// The number of bytes in the view.
    public let count: Int

    /// Makes a view of `count` bytes at `offset` in `storage`.
    /// - Parameters:
    ///   - storage: the owner of the bytes.
    ///   - offset: where the view starts; `offset + count` must not exceed `storage.count`.
    ///   - count: the length.
    @inlinable
    public init(storage: ByteStorage, offset: Int = 0, count: Int? = nil) {
        let length = count ?? (storage.count - offset)
        precondition(offset >= 0 && length >= 0 && offset + length <= storage.count, "view out of bounds")
        self.storage = storage
        self.offset = offset
        self.count = length
    }

    /// Copies bytes into a new aligned storage.
    /// - Parameter bytes: the bytes to copy.
    public init(copying bytes: UnsafeRawBufferPointer) {
        let storage = ByteStorage(uninitializedCount: bytes.count) { target in
            if bytes.count > 0 { target.copyMemory(from: bytes) }
        }
        self.init(storage: storage)
    }

    /// Copies an array of bytes into a new aligned storage.
    /// - Parameter bytes: the bytes to copy.
    public init(_ bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        self = array.withUnsafeBytes { ByteView(copying: $0) }
    }

    /// An empty view.
    public static let empty = ByteView([])

    /// A sub-view; `range` is relative to this view.
    /// - Parameter range: the bytes to keep; must lie inside the view.
    @inlinable
    public func slice(_ range: Range<Int>) -> ByteView {
        precondition(range.lowerBound >= 0 && range.upperBound <= self.count, "slice out of bounds")
        return ByteView(storage: self.storage, offset: self.offset + range.lowerBound, count: range.count)
    }

    /// Calls `body` with the viewed bytes.
    /// - Parameter body: reads the bytes; the pointer must not escape.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: self.storage.base + self.offset, count: self.count))
    }

    /// Whether the first byte lies on a ``ByteStorage/alignment`` boundary (views of received buffers often do not).
    @inlinable
    public var isAligned: Bool { Int(bitPattern: self.storage.base + self.offset) % ByteStorage.alignment == 0 }

    /// This view when it is aligned, else a copy in fresh aligned storage: for code that reads typed elements in place.
    public func aligned() -> ByteView {
        self.isAligned ? self : self.withUnsafeBytes { ByteView(copying: $0) }
    }

    /// The bytes as an array (a copy).
    public var bytes: [UInt8] { self.withUnsafeBytes { Array($0) } }

    public static func == (lhs: ByteView, rhs: ByteView) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in
                left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
            }
        }
    }

    public var description: String { "ByteView(\(self.count) bytes)" }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
