import SwitchyardTensor
import SwitchyardWire

/// A strict JSON parser (RFC 8259) over bytes, for request headers.
///
/// Members named `data` are not parsed into values: their text is checked only for its extent and kept as a byte
/// range, so that a tensor of a million floats never becomes a million `JSONValue`s (see ``TensorDataDecoder``).
/// Nesting is bounded, strings must be valid UTF-8, and every error names the byte offset.
struct JSONParser {
    /// Deepest nesting of arrays and objects accepted (tensor data has its own bound).
    static let maxDepth = 32

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    private var depth = 0
    private let deferredKey: String?

    private init(bytes: UnsafeRawBufferPointer, deferredKey: String?) {
        self.bytes = bytes
        self.deferredKey = deferredKey
    }

    /// Parses one JSON document that fills `bytes` (whitespace around it allowed).
    /// - Parameters:
    ///   - bytes: the text.
    ///   - deferredKey: members with this name keep their text as a ``JSONValue/deferred(_:)`` range.
    /// - Throws: `GatewayError.malformedJSON` with the offset of the first error.
    static func parse(
        _ bytes: UnsafeRawBufferPointer,
        deferring deferredKey: String? = "data"
    ) throws(GatewayError)
        -> JSONValue
    {
        var parser = JSONParser(bytes: bytes, deferredKey: deferredKey)
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private func error(_ message: String) -> GatewayError {
        GatewayError(.malformedJSON, "malformed JSON at byte \(self.position): \(message)")
    }

    private var current: UInt8? { self.position < self.bytes.count ? self.bytes[self.position] : nil }

    private mutating func skipWhitespace() {
        while self.position < self.bytes.count {
            switch self.bytes[self.position] {
            case 0x20, 0x0A, 0x0D, 0x09: self.position += 1
            default: return
            }
        }
    }

    private mutating func value() throws(GatewayError) -> JSONValue {
        guard let byte = self.current else { throw self.error("the text ends where a value was expected") }
        switch byte {
        case UInt8(ascii: "{"): return try self.object()
        case UInt8(ascii: "["): return try self.array()
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"):
            try self.literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try self.literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = self.position
            self.position = try JSONNumberScanner.scan(self.bytes, from: start) { offset, message in
                GatewayError(.malformedJSON, "malformed JSON at byte \(offset): \(message)")
            }
            return .number(JSONNumber(text: String(decoding: self.bytes[start..<self.position], as: UTF8.self)))
        default:
            throw self.error("unexpected character '\(Self.printable(byte))' where a value was expected")
        }
    }

    private mutating func literal(_ word: StaticString) throws(GatewayError) {
        let count = word.utf8CodeUnitCount
        guard self.bytes.count - self.position >= count else { throw self.error("expected \(word)") }
        for index in 0..<count where self.bytes[self.position + index] != word.utf8Start[index] {
            throw self.error("expected \(word)")
        }
        self.position += count
    }

    private mutating func enter() throws(GatewayError) {
        self.depth += 1
        guard self.depth <= Self.maxDepth else { throw self.error("nested deeper than \(Self.maxDepth) levels") }
    }

    private mutating func object() throws(GatewayError) -> JSONValue {
        try self.enter()
        self.position += 1
        var members: [(key: String, value: JSONValue)] = []
        self.skipWhitespace()
        if self.current == UInt8(ascii: "}") {
            self.position += 1
            self.depth -= 1
            return .object(members)
        }
        while true {
            self.skipWhitespace()
            guard self.current == UInt8(ascii: "\"") else { throw self.error("expected a member name in quotes") }
            let key = try self.memberName()
            self.skipWhitespace()
            guard self.current == UInt8(ascii: ":") else { throw self.error("expected ':' after the member name") }
            self.position += 1
            self.skipWhitespace()
            if key == self.deferredKey {
                let start = self.position
                if let (dtype, shape) = Self.tensorType(members) {
                    // datatype and shape came first (as tritonclient writes them): decode in this one pass
                    let name = members.first { $0.key == "name" }.flatMap {
                        if case .string(let name) = $0.value { name } else { nil }
                    }
                    let (data, end) = try TensorDataDecoder.decode(
                        self.bytes,
                        from: start,
                        dtype: dtype,
                        shape: shape,
                        name: name ?? "?"
                    )
                    self.position = end
                    members.append((key, .tensorData(data)))
                } else {
                    if self.current == UInt8(ascii: "[") {
                        self.position = try Self.skipArray(self.bytes, from: start)
                    } else {
                        _ = try self.value()  // a lone scalar: small
                    }
                    members.append((key, .deferred(start..<self.position)))
                }
            } else {
                members.append((key, try self.value()))
            }
            self.skipWhitespace()
            switch self.current {
            case UInt8(ascii: ","): self.position += 1
            case UInt8(ascii: "}"):
                self.position += 1
                self.depth -= 1
                return .object(members)
            default: throw self.error("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func array() throws(GatewayError) -> JSONValue {
        try self.enter()
        self.position += 1
        var values: [JSONValue] = []
        self.skipWhitespace()
        if self.current == UInt8(ascii: "]") {
            self.position += 1
            self.depth -= 1
            return .array(values)
        }
        while true {
            self.skipWhitespace()
            values.append(try self.value())
            self.skipWhitespace()
            switch self.current {
            case UInt8(ascii: ","): self.position += 1
            case UInt8(ascii: "]"):
                self.position += 1
                self.depth -= 1
                return .array(values)
            default: throw self.error("expected ',' or ']' in an array")
            }
        }
    }

    /// The member names of infer requests: read as these constants, without making and checking a string each.
    private static let knownNames: [String] = [
        "id", "name", "data", "shape", "inputs", "outputs", "datatype", "parameters", "binary_data", "binary_data_size",
        "binary_data_output", "model_name", "model_version", "timeout", "priority", "routing_key",
    ]

    /// Reads a member name at the opening quote: one of ``knownNames`` written plainly, or any string.
    private mutating func memberName() throws(GatewayError) -> String {
        let start = self.position + 1
        var end = start
        while end < self.bytes.count, end - start <= 18, case let byte = self.bytes[end],
            byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20, byte < 0x80
        {
            end += 1
        }
        if end < self.bytes.count, self.bytes[end] == UInt8(ascii: "\"") {
            let text = UnsafeRawBufferPointer(rebasing: self.bytes[start..<end])
            for name in Self.knownNames where name.utf8.count == text.count && name.utf8.elementsEqual(text) {
                self.position = end + 1
                return name
            }
        }
        return try self.string()
    }

    /// Reads a string at the opening quote; validates UTF-8 and escapes.
    private mutating func string() throws(GatewayError) -> String {
        let (text, end) = try JSONStringScanner.read(self.bytes, from: self.position) { offset, message in
            GatewayError(.malformedJSON, "malformed JSON at byte \(offset): \(message)")
        }
        self.position = end
        return text
    }

    /// The datatype and shape an object gave so far, when both are valid for decoding its data at once.
    private static func tensorType(_ members: [(key: String, value: JSONValue)]) -> (DType, Shape)? {
        var dtype: DType?
        var shape: Shape?
        for (key, value) in members {
            if key == "datatype", case .string(let name) = value {
                dtype = DType(oipName: name)
            } else if key == "shape", case .array(let dims) = value, dims.count <= WireLimits.maxRank {
                var values: [Int] = []
                for dim in dims {
                    guard case .number(let number) = dim, let value = number.int64, value >= 0,
                        value <= Int64(UInt32.max)
                    else {
                        return nil
                    }
                    values.append(Int(value))
                }
                shape = Shape(values)
            }
        }
        guard let dtype, let shape else { return nil }
        return (dtype, shape)
    }

    /// The end of the array that starts at `start`: brackets are matched outside strings. The text inside is checked
    /// strictly later, when it is decoded for its datatype.
    static func skipArray(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(GatewayError) -> Int {
        var position = start
        var depth = 0
        var inString = false
        while position < bytes.count {
            let byte = bytes[position]
            if inString {
                if byte == UInt8(ascii: "\\") {
                    position += 1
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "[") {
                depth += 1
                guard depth <= TensorDataDecoder.maxNesting else {
                    throw GatewayError(
                        .malformedJSON,
                        "malformed JSON at byte \(position): "
                            + "tensor data nested deeper than \(TensorDataDecoder.maxNesting) levels"
                    )
                }
            } else if byte == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0 { return position + 1 }
            } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}") {
                throw GatewayError(.malformedJSON, "malformed JSON at byte \(position): an object inside tensor data")
            }
            position += 1
        }
        throw GatewayError(.malformedJSON, "malformed JSON at byte \(start): the tensor data array is not closed")
    }

    static func printable(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "0x" + String(byte, radix: 16)
    }
}

/// JSON number syntax: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
enum JSONNumberScanner {
    /// The end of the number that starts at `start`.
    /// - Throws: `fail(offset, message)` for text that is not a JSON number.
    @inline(__always)
    static func scan<E: Error>(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        fail: (Int, String) -> E
    ) throws(E) -> Int {
        var position = start
        let count = bytes.count
        func digit(_ at: Int) -> Bool { at < count && bytes[at] &- UInt8(ascii: "0") < 10 }
        if position < count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard digit(position) else { throw fail(position, "expected a digit") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
            if digit(position) { throw fail(position, "a number may not have a leading zero") }
        } else {
            while digit(position) { position += 1 }
        }
        if position < count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digit(position) else { throw fail(position, "expected a digit after the decimal point") }
            while digit(position) { position += 1 }
        }
        if position < count, bytes[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            if position < count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard digit(position) else { throw fail(position, "expected a digit in the exponent") }
            while digit(position) { position += 1 }
        }
        return position
    }
}

/// JSON strings: escapes, surrogate pairs, no raw control characters, valid UTF-8.
enum JSONStringScanner {
    /// Reads the string whose opening quote is at `start`.
    /// - Returns: the text and the offset after the closing quote.
    /// - Throws: `fail(offset, message)` for a malformed string.
    static func read<E: Error>(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        fail: (Int, String) -> E
    ) throws(E) -> (String, Int) {
        var position = start + 1
        // fast path: no escapes
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<position])
                guard let text = String(validating: slice.assumingMemoryBound(to: UInt8.self), as: UTF8.self) else {
                    throw fail(start, "the string is not valid UTF-8")
                }
                return (text, position + 1)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail(position, "a control character inside a string must be escaped") }
            position += 1
        }
        var utf8: [UInt8] = Array(bytes[(start + 1)..<position])
        try Self.appendEscaped(bytes, at: &position, to: &utf8, fail: fail)
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw fail(start, "the string is not valid UTF-8")
        }
        return (text, position)
    }

    /// Appends the raw bytes of a string from `position` (inside it) to its closing quote, decoding escapes.
    static func appendEscaped<E: Error>(
        _ bytes: UnsafeRawBufferPointer,
        at position: inout Int,
        to utf8: inout [UInt8],
        fail: (Int, String) -> E
    ) throws(E) {
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { break }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try Self.hex4(bytes, at: &position, fail: fail)
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw fail(position, "a high surrogate must be followed by a low surrogate") }
                        position += 2
                        let low = try Self.hex4(bytes, at: &position, fail: fail)
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw fail(position - 4, "a high surrogate must be followed by a low surrogate")
                        }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail(position - 4, "a low surrogate without a high one")
                    }
                    utf8.append(contentsOf: String(UnicodeScalar(scalar)!).utf8)
                default:
                    throw fail(position - 1, "unknown escape '\\\(JSONParser.printable(escape))'")
                }
            default:
                if byte < 0x20 { throw fail(position, "a control character inside a string must be escaped") }
                utf8.append(byte)
                position += 1
            }
        }
        throw fail(position, "the string is not closed")
    }

    private static func hex4<E: Error>(
        _ bytes: UnsafeRawBufferPointer,
        at position: inout Int,
        fail: (Int, String) -> E
    ) throws(E) -> UInt32 {
        guard bytes.count - position >= 4 else { throw fail(position, "expected four hex digits after \\u") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail(position, "expected four hex digits after \\u")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
