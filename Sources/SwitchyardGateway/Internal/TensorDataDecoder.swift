import SwitchyardTensor

/// Decodes a tensor's JSON `data` (flat, or nested to match its shape) straight into tensor storage.
///
/// The text was only delimited by ``JSONParser``; here it is parsed strictly for its datatype: numbers for the
/// numeric types (integers must be integers within the type's range), `true`/`false` for BOOL, strings for BYTES.
/// No element becomes a JSON value: a 1,000,000-float tensor is one allocation and one pass.
enum TensorDataDecoder {
    /// Deepest nesting of a `data` array.
    static let maxNesting = 32

    private enum Expect { case valueOrClose, value, separator }
    private enum Layout { case unknown, flat, nested }

    /// Decodes `range` of `bytes` (an array, or a lone scalar for a one-element tensor).
    /// - Parameters:
    ///   - bytes: the request header.
    ///   - range: the text of the `data` member.
    ///   - dtype: the tensor's type.
    ///   - shape: the tensor's shape; nested data must follow it exactly, flat data must have its element count.
    ///   - name: the input's name, for messages.
    /// - Returns: the tensor's bytes, little-endian, in row-major order.
    /// - Throws: `GatewayError.malformedJSON` or `.invalidRequest` saying which element is wrong and why.
    static func decode(
        _ bytes: UnsafeRawBufferPointer, range: Range<Int>, dtype: DType, shape: Shape, name: String
    ) throws(GatewayError) -> ByteView {
        let window = UnsafeRawBufferPointer(rebasing: bytes[..<range.upperBound])
        let (data, end) = try Self.decode(window, from: range.lowerBound, dtype: dtype, shape: shape, name: name)
        guard end == range.upperBound else {
            throw GatewayError(.malformedJSON, "malformed JSON at byte \(end): unexpected text after the tensor data")
        }
        return data
    }

    /// Decodes the data that starts at `start` and ends where its array (or lone scalar) ends.
    /// - Returns: the tensor's bytes and the offset after the data.
    /// - Throws: `GatewayError` as ``decode(_:range:dtype:shape:name:)``.
    static func decode(
        _ bytes: UnsafeRawBufferPointer, from start: Int, dtype: DType, shape: Shape, name: String
    ) throws(GatewayError) -> (ByteView, Int) {
        // every element takes at least one byte of text: a shape the text cannot fill is refused before allocating
        guard let count = shape.elementCount, count <= bytes.count - start else {
            throw GatewayError(
                .invalidRequest,
                "input '\(name)': shape \(shape) needs \(shape.elementCount.map(String.init) ?? "too many") elements; "
                    + "its data has fewer"
            )
        }
        var end = start
        if dtype == .bytes {
            var output: [UInt8] = []
            output.reserveCapacity(min(bytes.count - start, 1 << 20))
            end = try Self.walk(bytes, from: start, shape: shape, count: count, name: name) {
                (position: inout Int, _: Int) throws(GatewayError) in
                guard bytes[position] == UInt8(ascii: "\"") else {
                    throw Self.wrongElement(name, dtype, at: position, expected: "a string")
                }
                let (text, stringEnd) = try JSONStringScanner.read(bytes, from: position) { offset, message in
                    GatewayError(.malformedJSON, "malformed JSON at byte \(offset): \(message)")
                }
                position = stringEnd
                let length = UInt32(text.utf8.count)
                withUnsafeBytes(of: length.littleEndian) { output.append(contentsOf: $0) }
                output.append(contentsOf: text.utf8)
            }
            return (output.withUnsafeBytes { ByteView(copying: $0) }, end)
        }
        let width = dtype.byteWidth!
        do {
            let storage = try ByteStorage(uninitializedCount: count * width) { target in
                end = try Self.walk(bytes, from: start, shape: shape, count: count, name: name) {
                    (position: inout Int, index: Int) throws(GatewayError) in
                    try Self.element(bytes, at: &position, dtype: dtype, into: target, index: index, name: name)
                }
            }
            return (ByteView(storage: storage), end)
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(.invalidRequest, "input '\(name)': \(error)")
        }
    }

    @inline(__always)
    private static func element(
        _ bytes: UnsafeRawBufferPointer, at position: inout Int, dtype: DType,
        into target: UnsafeMutableRawBufferPointer,
        index: Int, name: String
    ) throws(GatewayError) {
        let start = position
        if dtype == .bool {
            if Self.matches(bytes, position, "true") {
                target.storeBytes(of: 1, toByteOffset: index, as: UInt8.self)
                position += 4
            } else if Self.matches(bytes, position, "false") {
                target.storeBytes(of: 0, toByteOffset: index, as: UInt8.self)
                position += 5
            } else {
                throw Self.wrongElement(name, dtype, at: start, expected: "true or false")
            }
            return
        }
        guard bytes[position] == UInt8(ascii: "-") || bytes[position] &- UInt8(ascii: "0") < 10 else {
            throw Self.wrongElement(name, dtype, at: start, expected: "a number")
        }
        let decimal = try DecimalParser.scan(bytes, &position)
        switch dtype {
        case .float32:
            guard let value = DecimalParser.float(decimal, in: bytes) else {
                throw Self.outOfRange(name, dtype, at: start)
            }
            target.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
        case .float64:
            let value = DecimalParser.double(decimal, in: bytes)
            guard value.isFinite else { throw Self.outOfRange(name, dtype, at: start) }
            target.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 8, as: UInt64.self)
        case .float16:
            let value = Float16(DecimalParser.double(decimal, in: bytes))
            guard value.isFinite else { throw Self.outOfRange(name, dtype, at: start) }
            target.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 2, as: UInt16.self)
        case .bfloat16:
            let value = Float(DecimalParser.double(decimal, in: bytes))
            let bits = value.bitPattern
            let rounded = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)  // nearest even
            guard value.isFinite, rounded & 0x7F80 != 0x7F80 else { throw Self.outOfRange(name, dtype, at: start) }
            target.storeBytes(of: rounded.littleEndian, toByteOffset: index * 2, as: UInt16.self)
        default:
            guard let value = DecimalParser.integer(decimal) else {
                throw decimal.isInteger
                    ? Self.outOfRange(name, dtype, at: start)
                    : Self.wrongElement(name, dtype, at: start, expected: "an integer")
            }
            switch dtype {
            case .int64: target.storeBytes(of: value.littleEndian, toByteOffset: index * 8, as: Int64.self)
            case .int32:
                guard let narrow = Int32(exactly: value) else { throw Self.outOfRange(name, dtype, at: start) }
                target.storeBytes(of: narrow.littleEndian, toByteOffset: index * 4, as: Int32.self)
            case .int8:
                guard let narrow = Int8(exactly: value) else { throw Self.outOfRange(name, dtype, at: start) }
                target.storeBytes(of: narrow, toByteOffset: index, as: Int8.self)
            case .uint8:
                guard let narrow = UInt8(exactly: value) else { throw Self.outOfRange(name, dtype, at: start) }
                target.storeBytes(of: narrow, toByteOffset: index, as: UInt8.self)
            default:
                throw GatewayError(.unsupported, "input '\(name)': \(dtype.oipName) data cannot be given as JSON")
            }
        }
    }

    /// Walks the array at `start`, calling `element` for each scalar with its row-major index.
    /// - Returns: the offset after the array.
    @inline(__always)
    private static func walk(
        _ bytes: UnsafeRawBufferPointer, from start: Int, shape: Shape, count: Int, name: String,
        _ element: (inout Int, Int) throws(GatewayError) -> Void
    ) throws(GatewayError) -> Int {
        var position = start
        let end = bytes.count
        guard position < end else {
            throw GatewayError(.malformedJSON, "malformed JSON at byte \(position): tensor data expected")
        }
        if bytes[position] != UInt8(ascii: "[") {  // a lone scalar
            guard count == 1 else {
                throw GatewayError(
                    .invalidRequest, "input '\(name)': data is a single value; shape \(shape) needs \(count)")
            }
            try element(&position, 0)
            return position
        }
        let rank = shape.rank
        var depth = 0
        var index = 0
        var expect = Expect.value
        var layout = Layout.unknown
        var lengths = [Int](repeating: 0, count: Self.maxNesting + 2)
        @inline(__always) func malformed(_ message: String) -> GatewayError {
            GatewayError(.malformedJSON, "malformed JSON at byte \(position): \(message)")
        }
        while position < end {
            let byte = bytes[position]
            if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                position += 1
                continue
            }
            switch expect {
            case .value, .valueOrClose:
                if byte == UInt8(ascii: "[") {
                    if depth >= 1 {
                        if layout == .flat {
                            throw GatewayError(.invalidRequest, "input '\(name)': data mixes nested arrays and values")
                        }
                        layout = .nested
                        lengths[depth] += 1
                    }
                    depth += 1
                    guard depth <= max(rank, 1), depth <= Self.maxNesting else {
                        throw GatewayError(
                            .invalidRequest, "input '\(name)': data is nested deeper than its shape \(shape)")
                    }
                    lengths[depth] = 0
                    position += 1
                    expect = .valueOrClose
                } else if byte == UInt8(ascii: "]") && expect == .valueOrClose {
                    try Self.close(depth, lengths: lengths, layout: layout, shape: shape, name: name)
                    depth -= 1
                    position += 1
                    expect = .separator
                    if depth == 0 { break }
                } else {
                    if depth == 1, layout != .nested {
                        layout = .flat
                    } else if depth != rank {
                        throw GatewayError(
                            .invalidRequest,
                            "input '\(name)': a value at nesting level \(depth) of data for shape \(shape)")
                    }
                    guard index < count else {
                        throw GatewayError(
                            .invalidRequest,
                            "input '\(name)': data has more than the \(count) elements of shape \(shape)")
                    }
                    try element(&position, index)
                    index += 1
                    lengths[depth] += 1
                    expect = .separator
                }
            case .separator:
                if byte == UInt8(ascii: ",") {
                    position += 1
                    expect = .value
                } else if byte == UInt8(ascii: "]") {
                    try Self.close(depth, lengths: lengths, layout: layout, shape: shape, name: name)
                    depth -= 1
                    position += 1
                } else {
                    throw malformed("expected ',' or ']' in tensor data")
                }
            }
            if depth == 0 { break }
        }
        guard depth == 0 else { throw malformed("the tensor data array is not closed") }
        guard index == count else {
            throw GatewayError(
                .invalidRequest, "input '\(name)': data has \(index) elements; shape \(shape) needs \(count)")
        }
        return position
    }

    @inline(__always)
    private static func close(_ depth: Int, lengths: [Int], layout: Layout, shape: Shape, name: String)
        throws(GatewayError)
    {
        guard layout == .nested, depth <= shape.rank else { return }
        guard lengths[depth] == shape[depth - 1] else {
            throw GatewayError(
                .invalidRequest,
                "input '\(name)': nested data has \(lengths[depth]) entries in dimension \(depth - 1); "
                    + "shape \(shape) says \(shape[depth - 1])"
            )
        }
    }

    @inline(__always)
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ position: Int, _ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { return false }
        for index in 0..<count where bytes[position + index] != word.utf8Start[index] { return false }
        return true
    }

    private static func wrongElement(_ name: String, _ dtype: DType, at offset: Int, expected: String) -> GatewayError {
        GatewayError(.invalidRequest, "input '\(name)': \(dtype.oipName) data must hold \(expected) (byte \(offset))")
    }

    private static func outOfRange(_ name: String, _ dtype: DType, at offset: Int) -> GatewayError {
        GatewayError(
            .invalidRequest, "input '\(name)': a value at byte \(offset) is out of the range of \(dtype.oipName)")
    }
}
