import Foundation
public import SwitchyardTensor

/// Reading and writing NumPy `.npy` files (format versions 1–3, little-endian, C order).
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Decodes the bytes of an `.npy` file.
    /// - Parameters:
    ///   - bytes: the file's contents.
    ///   - source: a name for messages.
    /// - Returns: the array as a tensor (f32, f64, f16, i64, i32, i8, u8 or bool; NumPy's fixed-width unicode
    ///   `<U` and byte-string `|S` arrays as a `bytes` tensor of UTF-8 strings, trailing NULs dropped as NumPy
    ///   drops them).
    /// - Throws: `EngineError.invalidInput` for a malformed header, an unsupported dtype, big-endian data,
    ///   Fortran order or a data size that does not match the shape.
    public static func decode(_ bytes: [UInt8], source: String = "array") throws(EngineError) -> Tensor {
        func fail(_ message: String) -> EngineError { EngineError(.invalidInput, "\(source): \(message)") }
        guard bytes.count >= 10, Array(bytes[0..<6]) == Self.magic else { throw fail("not a NumPy .npy file") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail(".npy format version \(major) is not supported")
        }
        guard headerLength <= 1 << 20, bytes.count >= headerStart + headerLength else {
            throw fail("truncated .npy header")
        }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = Self.field("descr", in: header).map(Self.unquote) else {
            throw fail("the header has no 'descr'")
        }
        guard let fortran = Self.field("fortran_order", in: header) else {
            throw fail("the header has no 'fortran_order'")
        }
        guard fortran == "False" else {
            throw fail("Fortran-order arrays are not supported; save a C-order array (numpy.ascontiguousarray)")
        }
        guard let shapeText = Self.field("shape", in: header) else { throw fail("the header has no 'shape'") }
        let dtype: DType
        var stringWidth: (characters: Int, unicode: Bool)? = nil
        if let kind = descr.dropFirst().first, kind == "U" || kind == "S", descr.first != ">",
            let characters = Int(descr.dropFirst(2)), characters >= 0
        {
            stringWidth = (characters, kind == "U")
        }
        switch descr {
        case _ where stringWidth != nil: dtype = .bytes
        case "<f4": dtype = .float32
        case "<f8": dtype = .float64
        case "<f2": dtype = .float16
        case "<i8": dtype = .int64
        case "<i4": dtype = .int32
        case "|i1", "<i1": dtype = .int8
        case "|u1", "<u1": dtype = .uint8
        case "|b1": dtype = .bool
        case "|O":
            throw fail(
                "dtype '|O' (objects) needs pickle; save strings as a fixed-width array (numpy.array(x, dtype=str))")
        default:
            throw fail(
                "dtype '\(descr)' is not supported (float32, float64, float16, int64, int32, int8, uint8, bool, "
                    + "unicode or byte strings; little-endian)")
        }
        let inner = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        var dims: [Int] = []
        for part in inner.split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            guard let dim = Int(text), dim >= 0 else { throw fail("bad shape \(shapeText)") }
            dims.append(dim)
        }
        let shape = Shape(dims)
        let dataStart = headerStart + headerLength
        if let stringWidth {
            return try Self.strings(
                bytes[dataStart...], shape: shape, characters: stringWidth.characters, unicode: stringWidth.unicode,
                fail: fail)
        }
        guard let count = shape.elementCount,
            case let (size, overflow) = count.multipliedReportingOverflow(by: dtype.byteWidth!),
            !overflow
        else { throw fail("shape \(shape) is too large") }
        guard bytes.count - dataStart == size else {
            throw fail("holds \(bytes.count - dataStart) bytes of data; shape \(shape) of \(dtype) needs \(size)")
        }
        let view = bytes.withUnsafeBytes { raw in ByteView(copying: UnsafeRawBufferPointer(rebasing: raw[dataStart...]))
        }
        do {
            return try Tensor(dtype: dtype, shape: shape, data: view)
        } catch {
            throw fail(error.message)
        }
    }

    /// Reads an `.npy` file.
    /// - Parameter path: the file.
    /// - Throws: `EngineError.io` when it cannot be read, `.invalidInput` as for ``decode(_:source:)``.
    public static func read(_ path: String) throws(EngineError) -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError(.io, "\(path): cannot read the file")
        }
        return try Self.decode([UInt8](data), source: path)
    }

    /// Encodes a tensor as an `.npy` file (format 1.0, C order). Strings (`bytes` tensors, read as UTF-8) are
    /// written as NumPy unicode `<U` as wide as the longest; bfloat16, which NumPy has no type for, as float32.
    /// - Parameter tensor: the array.
    /// - Throws: `EngineError.invalidInput` for dtypes NumPy files here do not carry.
    public static func encode(_ tensor: Tensor) throws(EngineError) -> [UInt8] {
        let descr: String
        var data = tensor.data.bytes
        switch tensor.dtype {
        case .float32: descr = "<f4"
        case .float64: descr = "<f8"
        case .int64: descr = "<i8"
        case .int32: descr = "<i4"
        case .int8: descr = "|i1"
        case .uint8: descr = "|u1"
        case .bool: descr = "|b1"
        case .float16: descr = "<f2"
        case .bfloat16:
            descr = "<f4"
            data = tensor.data.withUnsafeBytes { raw in
                var widened = [UInt8](repeating: 0, count: tensor.elementCount * 4)
                for index in 0..<tensor.elementCount {
                    let bits = UInt32(raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)) << 16
                    withUnsafeBytes(of: bits.littleEndian) { widened.replaceSubrange((index * 4)..<(index * 4 + 4), with: $0) }
                }
                return widened
            }
        case .bytes:
            let strings = (try? tensor.strings()) ?? []
            let scalars = strings.map { Array($0.unicodeScalars) }
            let width = max(1, scalars.map(\.count).max() ?? 0)
            descr = "<U\(width)"
            data = []
            data.reserveCapacity(scalars.count * width * 4)
            for string in scalars {
                for position in 0..<width {
                    let value = position < string.count ? string[position].value : 0
                    data += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
                }
            }
        }
        let dims = tensor.shape.dims
        let shape = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = Self.magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        bytes += data
        return bytes
    }

    /// Writes a tensor to an `.npy` file atomically (a temporary file renamed into place), so a failed
    /// write never leaves a partial file.
    /// - Parameters:
    ///   - tensor: the array.
    ///   - path: the destination.
    /// - Throws: `EngineError.io` when the file cannot be written.
    public static func write(_ tensor: Tensor, to path: String) throws(EngineError) {
        let bytes = try Self.encode(tensor)
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EngineError(.io, "\(path): cannot write: \(error)", cause: error)
        }
    }

    /// A NumPy fixed-width string array (`characters` UTF-32 code units or bytes each, NUL-padded) as UTF-8 strings.
    private static func strings(
        _ data: ArraySlice<UInt8>, shape: Shape, characters: Int, unicode: Bool, fail: (String) -> EngineError
    ) throws(EngineError) -> Tensor {
        let unit = unicode ? 4 : 1
        guard let count = shape.elementCount,
            case let (width, overflow) = characters.multipliedReportingOverflow(by: unit), !overflow,
            case let (size, overflow2) = count.multipliedReportingOverflow(by: width), !overflow2
        else { throw fail("shape \(shape) is too large") }
        guard data.count == size else {
            throw fail("holds \(data.count) bytes of data; shape \(shape) of \(characters)-character strings needs \(size)")
        }
        var strings: [String] = []
        strings.reserveCapacity(count)
        var position = data.startIndex
        for _ in 0..<count {
            let element = data[position..<(position + width)]
            position += width
            if unicode {
                var values: [UInt32] = stride(from: element.startIndex, to: element.endIndex, by: 4).map { offset in
                    UInt32(element[offset]) | UInt32(element[offset + 1]) << 8 | UInt32(element[offset + 2]) << 16
                        | UInt32(element[offset + 3]) << 24
                }
                while values.last == 0 { values.removeLast() }
                var text = String.UnicodeScalarView()
                for value in values {
                    guard let scalar = Unicode.Scalar(value) else { throw fail("holds an invalid unicode character") }
                    text.append(scalar)
                }
                strings.append(String(text))
            } else {
                let end = element.lastIndex { $0 != 0 }.map { $0 + 1 } ?? element.startIndex
                strings.append(String(decoding: element[element.startIndex..<end], as: UTF8.self))
            }
        }
        do {
            return try Tensor(strings: strings, shape: shape)
        } catch {
            throw fail(error.message)
        }
    }

    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " || $0 == ":" }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        rest = rest.prefix { $0 != "," && $0 != "}" }
        return rest.trimmingCharacters(in: .whitespaces)
    }

    private static func unquote(_ text: String) -> String {
        text.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
    }
}

extension Tensor {
    /// The same values as another numeric dtype (what `yard predict` does when a file's dtype differs
    /// from the model's input). Float to integer truncates toward zero.
    /// - Parameter dtype: the target type (not `bytes`).
    /// - Throws: `EngineError.invalidInput` for `bytes` on either side.
    public func converted(to dtype: DType) throws(EngineError) -> Tensor {
        if dtype == self.dtype { return self }
        guard let width = dtype.byteWidth, self.dtype != .bytes else {
            throw EngineError(.invalidInput, "cannot convert \(self.dtype) numbers to \(dtype)")
        }
        let count = self.elementCount
        let from = self.dtype
        let storage = self.data.withUnsafeBytes { source in
            ByteStorage(count: count * width) { target in
                guard count > 0, let input = source.baseAddress, let output = target.baseAddress else { return }
                for index in 0..<count {
                    if from.isFloatingPoint {
                        store(double: loadDouble(input, index, from), output, index, dtype)
                    } else {
                        store(integer: loadInteger(input, index, from), output, index, dtype)
                    }
                }
            }
        }
        do {
            return try Tensor(dtype: dtype, shape: self.shape, data: ByteView(storage: storage))
        } catch {
            throw EngineError(.invalidInput, error.message)
        }
    }
}
