import NIOCore
import SwitchyardTensor

/// Writes JSON into a `ByteBuffer` without building intermediate strings for numbers and tensor data.
struct JSONWriter {
    var buffer: ByteBuffer

    init(buffer: ByteBuffer) { self.buffer = buffer }

    @inline(__always) mutating func raw(_ text: StaticString) { self.buffer.writeStaticString(text) }

    @inline(__always) mutating func byte(_ byte: UInt8) { self.buffer.writeInteger(byte) }

    /// A quoted, escaped string.
    mutating func string(_ text: String) {
        self.byte(UInt8(ascii: "\""))
        var plain = true
        for byte in text.utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
            plain = false
            break
        }
        if plain {
            self.buffer.writeString(text)
        } else {
            for byte in text.utf8 { self.escaped(byte) }
        }
        self.byte(UInt8(ascii: "\""))
    }

    /// A quoted string from UTF-8 bytes that are known to be valid.
    mutating func string(utf8 bytes: UnsafeRawBufferPointer) {
        self.byte(UInt8(ascii: "\""))
        for byte in bytes { self.escaped(byte) }
        self.byte(UInt8(ascii: "\""))
    }

    @inline(__always) private mutating func escaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): self.raw("\\\"")
        case UInt8(ascii: "\\"): self.raw("\\\\")
        case 0x0A: self.raw("\\n")
        case 0x0D: self.raw("\\r")
        case 0x09: self.raw("\\t")
        case 0..<0x20:
            self.raw("\\u00")
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            self.byte(hex[Int(byte >> 4)])
            self.byte(hex[Int(byte & 0xF)])
        default: self.byte(byte)
        }
    }

    /// A member name and its colon: `"key":`.
    mutating func key(_ key: String) {
        self.string(key)
        self.byte(UInt8(ascii: ":"))
    }

    mutating func integer<T: BinaryInteger>(_ value: T) {
        if value == 0 {
            self.byte(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { self.byte(UInt8(ascii: "-")) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
            var count = 0
            while magnitude > 0 {
                digits[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { self.byte(digits[index]) }
        }
    }

    /// The shortest text that reads back as the same value; NaN and infinities as Python's `json` writes them.
    mutating func floating<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) {
        if value.isNaN {
            self.raw("NaN")
        } else if value.isInfinite {
            if value < 0 { self.raw("-Infinity") } else { self.raw("Infinity") }
        } else {
            self.buffer.writeString(value.description)
        }
    }

    /// A tensor's elements as a flat JSON array.
    /// - Returns: `false` for a BYTES tensor whose elements are not UTF-8 (JSON cannot carry them).
    mutating func tensorData(_ tensor: Tensor) -> Bool {
        self.byte(UInt8(ascii: "["))
        let count = tensor.elementCount
        let dtype = tensor.dtype
        let fine: Bool = tensor.data.withUnsafeBytes { raw in
            if dtype == .bytes {
                var position = 0
                for index in 0..<count {
                    if index > 0 { self.byte(UInt8(ascii: ",")) }
                    let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
                    let element = UnsafeRawBufferPointer(rebasing: raw[(position + 4)..<(position + 4 + length)])
                    guard String(validating: element.assumingMemoryBound(to: UInt8.self), as: UTF8.self) != nil else {
                        return false
                    }
                    self.string(utf8: element)
                    position += 4 + length
                }
                return true
            }
            for index in 0..<count {
                if index > 0 { self.byte(UInt8(ascii: ",")) }
                switch dtype {
                case .float32:
                    self.floating(
                        Float(
                            bitPattern: UInt32(
                                littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))))
                case .float64:
                    self.floating(
                        Double(
                            bitPattern: UInt64(
                                littleEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))))
                case .float16:
                    self.floating(
                        Float16(
                            bitPattern: UInt16(
                                littleEndian: raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))))
                case .bfloat16:
                    let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                    self.floating(Float(bitPattern: UInt32(bits) << 16))
                case .int64:
                    self.integer(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: Int64.self)))
                case .int32:
                    self.integer(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: Int32.self)))
                case .int8: self.integer(raw.load(fromByteOffset: index, as: Int8.self))
                case .uint8: self.integer(raw.load(fromByteOffset: index, as: UInt8.self))
                case .bool:
                    if raw.load(fromByteOffset: index, as: UInt8.self) != 0 {
                        self.raw("true")
                    } else {
                        self.raw("false")
                    }
                case .bytes: break
                }
            }
            return true
        }
        self.byte(UInt8(ascii: "]"))
        return fine
    }

    /// A string as JSON text (quoted and escaped).
    static func quoted(_ text: String) -> String {
        var writer = JSONWriter(buffer: ByteBuffer())
        writer.string(text)
        return String(buffer: writer.buffer)
    }
}
