/// A typed, shaped block of little-endian data, viewed without copying.
///
/// For fixed-width dtypes `data.count == shape.elementCount × dtype.byteWidth`. For `bytes`, the data is
/// `elementCount` elements, each a little-endian `u32` length followed by that many bytes.
///
/// A tensor joined from other tensors' rows (``init(joiningRows:)``) keeps their views instead of copying them: a
/// frame encoder writes the views one after another (``forEachSegment(_:)``), and only code that asks for ``data``
/// pays for one contiguous copy.
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    public let dtype: DType
    public let shape: Shape
    private let segments: Segments

    /// One view, or the row views of joined tensors in order (never fewer than two).
    private enum Segments: Sendable {
        case one(ByteView)
        case joined([ByteView], count: Int)
    }

    /// The bytes in C order. A joined tensor copies its parts into fresh aligned storage on every call: code that
    /// only passes the bytes on reads them with ``forEachSegment(_:)``; code that reads them often, from
    /// ``contiguous()``.
    public var data: ByteView {
        switch self.segments {
        case .one(let view): return view
        case .joined(let views, let count): return Self.join(views, count: count)
        }
    }

    /// The number of data bytes.
    public var byteCount: Int {
        switch self.segments {
        case .one(let view): view.count
        case .joined(_, let count): count
        }
    }

    /// Whether the data is one view (``data`` costs nothing).
    public var isContiguous: Bool {
        if case .one = self.segments { return true }
        return false
    }

    /// Calls `body` with each view of the data in order (one for a contiguous tensor), without copying.
    /// - Parameter body: takes a view; empty views are skipped.
    /// - Throws: what `body` throws.
    public func forEachSegment<E: Error>(_ body: (ByteView) throws(E) -> Void) throws(E) {
        switch self.segments {
        case .one(let view):
            if view.count > 0 { try body(view) }
        case .joined(let views, _):
            for view in views { try body(view) }
        }
    }

    /// This tensor with its data in one view: itself when it is contiguous, else one copy of its parts.
    public func contiguous() -> Tensor {
        guard case .joined(let views, let count) = self.segments else { return self }
        return Tensor(checked: self.dtype, self.shape, .one(Self.join(views, count: count)))
    }

    private init(checked dtype: DType, _ shape: Shape, _ segments: Segments) {
        self.dtype = dtype
        self.shape = shape
        self.segments = segments
    }

    private static func join(_ views: [ByteView], count: Int) -> ByteView {
        let storage = ByteStorage(uninitializedCount: count) { target in
            var offset = 0
            for view in views {
                view.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: target[offset..<(offset + source.count)])
                        .copyMemory(from: source)
                }
                offset += view.count
            }
        }
        return ByteView(storage: storage)
    }

    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.dtype == rhs.dtype && lhs.shape == rhs.shape && lhs.data == rhs.data
    }

    /// Makes a tensor over existing bytes, checking that they fit the dtype and shape.
    /// - Parameters:
    ///   - dtype: the element type.
    ///   - shape: the dimensions.
    ///   - data: the bytes, in C order.
    /// - Throws: `TensorError` with `.sizeMismatch`, `.malformedBytes` or `.tooLarge`.
    public init(dtype: DType, shape: Shape, data: ByteView) throws(TensorError) {
        guard let count = shape.elementCount else {
            throw TensorError(.tooLarge, "shape \(shape) has more elements than can be counted")
        }
        if let width = dtype.byteWidth {
            let (expected, overflow) = count.multipliedReportingOverflow(by: width)
            guard !overflow else { throw TensorError(.tooLarge, "shape \(shape) of \(dtype) is too large") }
            guard expected == data.count else {
                throw TensorError(
                    .sizeMismatch,
                    "\(dtype) tensor of shape \(shape) needs \(expected) bytes of data, got \(data.count)"
                )
            }
        } else {
            try Self.checkByteElements(data, count: count)
        }
        self.dtype = dtype
        self.shape = shape
        self.segments = .one(data)
    }

    /// Makes a tensor by copying scalars.
    /// - Parameters:
    ///   - scalars: the elements in C order.
    ///   - shape: the dimensions; defaults to one dimension of `scalars.count`.
    /// - Throws: `TensorError.sizeMismatch` when the count does not fit the shape.
    public init<T: TensorScalar>(_ scalars: [T], shape: Shape? = nil) throws(TensorError) {
        let view = scalars.withUnsafeBytes { ByteView(copying: $0) }
        try self.init(dtype: T.dtype, shape: shape ?? [scalars.count], data: view)
    }

    /// Makes a `bytes` tensor from strings (UTF-8).
    /// - Parameters:
    ///   - strings: the elements in C order.
    ///   - shape: the dimensions; defaults to one dimension of `strings.count`.
    /// - Throws: `TensorError.sizeMismatch` when the count does not fit the shape.
    public init(strings: [String], shape: Shape? = nil) throws(TensorError) {
        var bytes: [UInt8] = []
        for string in strings {
            let utf8 = Array(string.utf8)
            let length = UInt32(utf8.count)
            bytes += [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
            bytes += utf8
        }
        let shape = shape ?? [strings.count]
        guard shape.elementCount == strings.count else {
            throw TensorError(.sizeMismatch, "\(strings.count) strings do not fill shape \(shape)")
        }
        try self.init(dtype: .bytes, shape: shape, data: ByteView(bytes))
    }

    /// The number of elements.
    public var elementCount: Int { self.shape.elementCount! }

    /// Copies the elements out as Swift scalars.
    /// - Parameter type: the scalar type; must match `dtype`.
    /// - Throws: `TensorError.typeMismatch` when it does not.
    public func scalars<T: TensorScalar>(as type: T.Type = T.self) throws(TensorError) -> [T] {
        guard T.dtype == self.dtype else {
            throw TensorError(.typeMismatch, "tensor holds \(self.dtype), not \(T.dtype)")
        }
        let count = self.elementCount
        return self.data.withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 {
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                }
                initialized = count
            }
        }
    }

    /// The elements of a `bytes` tensor.
    /// - Throws: `TensorError.typeMismatch` for other dtypes.
    public func byteElements() throws(TensorError) -> [ByteView] {
        guard self.dtype == .bytes else { throw TensorError(.typeMismatch, "tensor holds \(self.dtype), not bytes") }
        var result: [ByteView] = []
        result.reserveCapacity(self.elementCount)
        var position = 0
        while position < self.data.count {
            let length = self.data.withUnsafeBytes {
                Int($0.loadUnaligned(fromByteOffset: position, as: UInt32.self).littleEndian)
            }
            result.append(self.data.slice((position + 4)..<(position + 4 + length)))
            position += 4 + length
        }
        return result
    }

    /// The elements of a `bytes` tensor decoded as UTF-8 (invalid sequences repaired).
    /// - Throws: `TensorError.typeMismatch` for other dtypes.
    public func strings() throws(TensorError) -> [String] {
        try self.byteElements().map { String(decoding: $0.bytes, as: UTF8.self) }
    }

    /// The rows `range` of the first dimension, without copying.
    ///
    /// For `bytes` tensors the elements are walked to find where the rows start and end (still no copy).
    /// - Parameter range: the rows to keep.
    /// - Throws: `TensorError.shapeMismatch` for scalars or out-of-range rows.
    public func rows(_ range: Range<Int>) throws(TensorError) -> Tensor {
        guard self.shape.rank >= 1, range.lowerBound >= 0, range.upperBound <= self.shape[0] else {
            throw TensorError(.shapeMismatch, "rows \(range) out of range for shape \(self.shape)")
        }
        let perRow = self.shape.dims.dropFirst().reduce(1, *)  // fits: the whole tensor's count does
        guard let width = self.dtype.byteWidth else {
            let (start, end) = self.data.withUnsafeBytes { raw in
                var position = 0
                var start = 0
                for element in 0..<(range.upperBound * perRow) {
                    if element == range.lowerBound * perRow { start = position }
                    position += 4 + Int(raw.loadUnaligned(fromByteOffset: position, as: UInt32.self).littleEndian)
                }
                return (range.isEmpty ? position : start, position)
            }
            return try Tensor(
                dtype: self.dtype,
                shape: self.shape.withBatch(range.count),
                data: self.data.slice(start..<end)
            )
        }
        let rowBytes = perRow * width
        let view = self.data.slice((range.lowerBound * rowBytes)..<(range.upperBound * rowBytes))
        return try Tensor(dtype: self.dtype, shape: self.shape.withBatch(range.count), data: view)
    }

    /// Joins tensors along the first dimension without copying: the result keeps the parts' views.
    /// - Parameter parts: tensors of one dtype whose shapes agree past the first dimension.
    /// - Throws: `TensorError.typeMismatch` or `.shapeMismatch` when they do not.
    public init(joiningRows parts: [Tensor]) throws(TensorError) {
        guard let first = parts.first else { throw TensorError(.shapeMismatch, "nothing to concatenate") }
        guard first.shape.rank >= 1 else { throw TensorError(.shapeMismatch, "cannot concatenate scalars") }
        let inner = first.shape.dims.dropFirst()
        var rows = 0
        var bytes = 0
        var views: [ByteView] = []
        views.reserveCapacity(parts.count)
        for part in parts {
            guard part.dtype == first.dtype else {
                throw TensorError(.typeMismatch, "cannot join \(part.dtype) rows to \(first.dtype) rows")
            }
            guard part.shape.rank == first.shape.rank, part.shape.dims.dropFirst() == inner else {
                throw TensorError(.shapeMismatch, "row shape of \(part.shape) differs from \(first.shape)")
            }
            rows += part.shape[0]
            bytes += part.byteCount
            part.forEachSegment { views.append($0) }
        }
        let shape = first.shape.withBatch(rows)
        switch views.count {
        case 0: self.init(checked: first.dtype, shape, .one(.empty))
        case 1: self.init(checked: first.dtype, shape, .one(views[0]))
        default: self.init(checked: first.dtype, shape, .joined(views, count: bytes))
        }
    }

    /// Joins tensors along the first dimension into one contiguous tensor (one copy when there are several parts).
    /// - Parameter parts: tensors of one dtype whose shapes agree past the first dimension.
    /// - Throws: `TensorError.typeMismatch` or `.shapeMismatch` when they do not.
    public static func concatenatingRows(_ parts: [Tensor]) throws(TensorError) -> Tensor {
        try Tensor(joiningRows: parts).contiguous()
    }

    public var description: String { "Tensor(\(self.dtype), \(self.shape))" }

    private static func checkByteElements(_ data: ByteView, count: Int) throws(TensorError) {
        var position = 0
        var elements = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws(TensorError) in
            while position < raw.count {
                guard raw.count - position >= 4 else {
                    throw TensorError(.malformedBytes, "bytes element \(elements) has a truncated length prefix")
                }
                let length = Int(raw.loadUnaligned(fromByteOffset: position, as: UInt32.self).littleEndian)
                guard raw.count - position - 4 >= length else {
                    throw TensorError(.malformedBytes, "bytes element \(elements) runs past the end of the data")
                }
                position += 4 + length
                elements += 1
            }
        }
        guard elements == count else {
            throw TensorError(.sizeMismatch, "bytes tensor holds \(elements) elements, its shape needs \(count)")
        }
    }
}

/// A tensor with the name it has in a request, a response or a model's graph.
public struct NamedTensor: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var tensor: Tensor

    /// Names a tensor.
    /// - Parameters:
    ///   - name: the input or output name.
    ///   - tensor: the value.
    public init(_ name: String, _ tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }

    public var description: String { "\(self.name): \(self.tensor)" }
}
