import SwitchyardTensor

/// Bounds-checked little-endian reads from a payload. Every read checks the remaining length first,
/// so no allocation is ever sized by an unchecked number.
struct PayloadReader {
    let payload: ByteView
    private(set) var position = 0

    init(_ payload: ByteView) { self.payload = payload }

    var remaining: Int { self.payload.count - self.position }

    mutating func need(_ count: Int, _ what: @autoclosure () -> String) throws(WireError) {
        guard count <= self.remaining else {
            throw WireError(
                .malformedPayload,
                "payload ends inside \(what()) (needs \(count) bytes, \(self.remaining) left)"
            )
        }
    }

    mutating func u8(_ what: @autoclosure () -> String) throws(WireError) -> UInt8 {
        try self.need(1, what())
        defer { self.position += 1 }
        return self.payload.withUnsafeBytes { $0[self.position] }
    }

    mutating func u16(_ what: @autoclosure () -> String) throws(WireError) -> UInt16 {
        try self.need(2, what())
        defer { self.position += 2 }
        return self.payload.withUnsafeBytes {
            UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: self.position, as: UInt16.self))
        }
    }

    mutating func u32(_ what: @autoclosure () -> String) throws(WireError) -> UInt32 {
        try self.need(4, what())
        defer { self.position += 4 }
        return self.payload.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: self.position, as: UInt32.self))
        }
    }

    mutating func u64(_ what: @autoclosure () -> String) throws(WireError) -> UInt64 {
        try self.need(8, what())
        defer { self.position += 8 }
        return self.payload.withUnsafeBytes {
            UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: self.position, as: UInt64.self))
        }
    }

    /// A `u16` length then that many bytes of UTF-8.
    mutating func string(_ what: @autoclosure () -> String) throws(WireError) -> String {
        let length = Int(try self.u16(what()))
        try self.need(length, what())
        defer { self.position += length }
        let text: String? = self.payload.withUnsafeBytes { raw in
            let bytes = UnsafeBufferPointer(
                start: raw.baseAddress!.advanced(by: self.position).assumingMemoryBound(to: UInt8.self),
                count: length
            )
            var ascii = true
            for byte in bytes where byte >= 0x80 {
                ascii = false
                break
            }
            // names and keys are nearly always ASCII: skip the generic validator for them
            return ascii ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
        }
        guard let text else { throw WireError(.malformedPayload, "\(what()) is not valid UTF-8") }
        return text
    }

    mutating func parameters() throws(WireError) -> [Parameter] {
        let count = Int(try self.u16("parameter count"))
        guard count <= WireLimits.maxParameters else {
            throw WireError(.limitExceeded, "\(count) parameters, the limit is \(WireLimits.maxParameters)")
        }
        var result: [Parameter] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let key = try self.string("parameter \(index) key")
            let value = try self.string("parameter \(index) value")
            result.append(Parameter(key, value))
        }
        return result
    }

    mutating func skip(to offset: Int) { self.position = offset }

    func end(_ what: String) throws(WireError) {
        guard self.remaining == 0 else {
            throw WireError(.malformedPayload, "\(self.remaining) bytes after the end of the \(what) payload")
        }
    }
}
