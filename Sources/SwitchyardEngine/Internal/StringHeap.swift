import SwitchyardTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where string elements live while the engine works on them.
///
/// A `bytes` (ONNX `string`) value holds one pointer per element, 8 bytes, so every operator that only moves
/// elements (Reshape, Gather, Concat, Transpose, Where, ...) moves strings as it moves int64s. Each pointer
/// addresses a little-endian `u32` length followed by that many bytes: the wire protocol's element layout, so a
/// request's strings are used where they arrived. Constants, class labels and lookup tables keep their strings
/// in heaps of their own; strings made while a request runs go into its arena's heap, emptied when the arena is
/// reused. A heap never moves what it holds, so pointers stay valid as long as the heap lives.
final class StringHeap: @unchecked Sendable {
    private var chunks: [(base: UnsafeMutableRawPointer, capacity: Int)] = []
    private var used = 0
    /// Owners of memory that this heap's users point into (a request's payload, a constant's heap, an operator).
    private var kept: [Any] = []
    private static let chunkSize = 1 << 14

    init() {}

    /// Makes a heap holding `strings`, and the pointers to them in order.
    convenience init(holding strings: [[UInt8]], pointers: inout [UnsafeRawPointer]) {
        self.init()
        pointers = strings.map { self.add($0) }
    }

    deinit {
        for chunk in self.chunks { free(chunk.base) }
    }

    /// Copies `bytes` in as one element; returns its pointer.
    func add(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawPointer {
        let need = (4 + bytes.count + 7) & ~7
        if self.chunks.isEmpty || self.used + need > self.chunks[self.chunks.count - 1].capacity {
            let capacity = max(Self.chunkSize, need)
            guard let base = malloc(capacity) else { fatalError("out of memory allocating \(capacity) bytes") }
            self.chunks.append((base, capacity))
            self.used = 0
        }
        let target = self.chunks[self.chunks.count - 1].base + self.used
        target.storeBytes(of: UInt32(bytes.count).littleEndian, as: UInt32.self)
        if bytes.count > 0 { (target + 4).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        self.used += need
        return UnsafeRawPointer(target)
    }

    func add(_ bytes: [UInt8]) -> UnsafeRawPointer { bytes.withUnsafeBytes { self.add($0) } }

    func add(_ string: String) -> UnsafeRawPointer { self.add(Array(string.utf8)) }

    /// Keeps `owner` alive as long as this heap (whatever the heap's pointers may address).
    func keep(_ owner: Any) { self.kept.append(owner) }

    /// Forgets every string (the first chunk is kept for the next request) and every kept owner.
    func reset() {
        if self.chunks.count > 1 {
            for chunk in self.chunks.dropFirst() { free(chunk.base) }
            self.chunks.removeSubrange(1...)
        }
        self.used = 0
        if !self.kept.isEmpty { self.kept.removeAll(keepingCapacity: true) }
    }
}

/// Reading and writing string elements (see ``StringHeap``).
enum StringElements {
    /// The empty string, for elements no kernel set (never a null pointer to follow).
    nonisolated(unsafe) static let empty: UnsafeRawPointer = {
        let block = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        block.storeBytes(of: UInt64(0), as: UInt64.self)
        return UnsafeRawPointer(block)
    }()

    /// The bytes of the element a pointer addresses; a null pointer reads as the empty string.
    @inline(__always)
    static func bytes(_ element: UnsafeRawPointer?) -> UnsafeRawBufferPointer {
        guard let element else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let length = Int(UInt32(littleEndian: element.loadUnaligned(as: UInt32.self)))
        return UnsafeRawBufferPointer(start: element + 4, count: length)
    }

    /// Element `index` of a string value.
    @inline(__always)
    static func element(_ value: UnsafeRawPointer, _ index: Int) -> UnsafeRawPointer? {
        value.load(fromByteOffset: index * 8, as: UnsafeRawPointer?.self)
    }

    @inline(__always)
    static func set(_ value: UnsafeMutableRawPointer, _ index: Int, _ element: UnsafeRawPointer) {
        value.storeBytes(of: element, toByteOffset: index * 8, as: UnsafeRawPointer.self)
    }

    /// Whether two elements hold the same bytes.
    @inline(__always)
    static func equal(_ a: UnsafeRawPointer?, _ b: UnsafeRawPointer?) -> Bool {
        if a == b { return true }
        let (x, y) = (Self.bytes(a), Self.bytes(b))
        return x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0)
    }

    /// The elements of a string value as byte arrays.
    static func arrays(_ value: UnsafeRawPointer, count: Int) -> [[UInt8]] {
        (0..<count).map { Array(Self.bytes(Self.element(value, $0))) }
    }

    /// Points `count` elements at the `bytes` elements of wire data (`u32` length, then the bytes, each).
    /// - Returns: `false` when the data does not hold `count` well-formed elements.
    static func index(wire data: UnsafeRawBufferPointer, count: Int, into target: UnsafeMutableRawPointer) -> Bool {
        var position = 0
        for element in 0..<count {
            guard data.count - position >= 4, let base = data.baseAddress else { return false }
            let length = Int(UInt32(littleEndian: data.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
            guard data.count - position - 4 >= length else { return false }
            Self.set(target, element, base + position)
            position += 4 + length
        }
        return position == data.count
    }

    /// Writes `count` elements in the wire layout (`u32` length, then the bytes, each).
    static func wire(_ value: UnsafeRawPointer, count: Int) -> ByteStorage {
        var total = 0
        for index in 0..<count { total += 4 + Self.bytes(Self.element(value, index)).count }
        return ByteStorage(uninitializedCount: total) { target in
            var position = 0
            for index in 0..<count {
                let bytes = Self.bytes(Self.element(value, index))
                target.storeBytes(of: UInt32(bytes.count).littleEndian, toByteOffset: position, as: UInt32.self)
                if bytes.count > 0 {
                    (target.baseAddress! + position + 4).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                }
                position += 4 + bytes.count
            }
        }
    }
}

extension DType {
    /// Bytes per element inside the engine: a string element is a pointer (``StringHeap``).
    var elementSize: Int { self.byteWidth ?? MemoryLayout<UnsafeRawPointer>.size }
}

/// Fixed strings an operator answers (class labels, a lookup table's values), each stored once.
final class StringList: @unchecked Sendable {
    let values: [[UInt8]]
    private let heap: StringHeap
    private let pointers: [UnsafeRawPointer]

    init(_ values: [[UInt8]]) {
        var pointers: [UnsafeRawPointer] = []
        self.heap = StringHeap(holding: values, pointers: &pointers)
        self.pointers = pointers
        self.values = values
    }

    convenience init(_ strings: [String]) { self.init(strings.map { Array($0.utf8) }) }

    var count: Int { self.values.count }

    /// The element pointer of string `index`.
    @inline(__always) subscript(index: Int) -> UnsafeRawPointer { self.pointers[index] }
}
