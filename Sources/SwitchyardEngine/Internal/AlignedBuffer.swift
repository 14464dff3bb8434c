#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutable, 64-byte-aligned, zeroed block owned by the engine (constants, arenas, scratch).
/// Its address never changes, so plans may keep raw pointers into it while they hold the buffer.
final class AlignedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(count: Int) {
        var raw: UnsafeMutableRawPointer? = nil
        let size = max(count, 64)
        guard posix_memalign(&raw, 64, size) == 0, let raw else {
            fatalError("out of memory allocating \(count) bytes")
        }
        memset(raw, 0, size)
        self.pointer = raw
        self.count = count
    }

    convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count)
        if bytes.count > 0 { self.pointer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
    }

    deinit { free(self.pointer) }
}

/// Rounds a byte count up to the arena alignment.
@inline(__always)
func alignUp(_ value: Int, _ alignment: Int = 64) -> Int { (value + alignment - 1) / alignment * alignment }
