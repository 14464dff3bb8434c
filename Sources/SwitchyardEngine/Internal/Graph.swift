import SwitchyardTensor

/// A value's type once shapes are concrete: its dtype and dimensions.
struct ValueType: Equatable, Sendable, CustomStringConvertible {
    var dtype: DType
    var shape: [Int]

    var count: Int { self.shape.reduce(1, *) }
    var byteCount: Int { self.count * self.dtype.elementSize }
    var description: String { "\(self.dtype)[" + self.shape.map(String.init).joined(separator: ",") + "]" }
}

/// A tensor whose data is known before any request: an initializer, a Constant node, or a value the
/// planner folded (a Shape of a known shape, say).
struct Constant: Sendable {
    var type: ValueType
    var buffer: AlignedBuffer
    /// For a string constant: the heap its element pointers address (kept alive with the constant).
    var strings: StringHeap?

    init(type: ValueType, buffer: AlignedBuffer, strings: StringHeap? = nil) {
        self.type = type
        self.buffer = buffer
        self.strings = strings
    }

    /// A string constant holding copies of `strings`.
    init(strings: [[UInt8]], shape: [Int]) {
        var pointers: [UnsafeRawPointer] = []
        let heap = StringHeap(holding: strings, pointers: &pointers)
        self.type = ValueType(dtype: .bytes, shape: shape)
        self.buffer = pointers.withUnsafeBytes { AlignedBuffer(copying: $0) }
        self.strings = heap
    }

    /// The elements of a string constant.
    var stringValues: [[UInt8]] { StringElements.arrays(self.buffer.pointer, count: self.type.count) }

    init<T: TensorScalar>(_ values: [T], shape: [Int]) {
        self.type = ValueType(dtype: T.dtype, shape: shape)
        self.buffer = values.withUnsafeBytes { AlignedBuffer(copying: $0) }
    }

    func values<T: TensorScalar>(_ type: T.Type) -> [T] {
        let count = self.type.count
        return Array(UnsafeBufferPointer(start: self.buffer.pointer.assumingMemoryBound(to: T.self), count: count))
    }

    /// The elements as integers, for shape-like inputs (int64 or int32).
    var integers: [Int]? {
        switch self.type.dtype {
        case .int64: self.values(Int64.self).map { Int($0) }
        case .int32: self.values(Int32.self).map { Int($0) }
        default: nil
        }
    }

    /// The elements as floats (float32 or float64), for scalar parameters like Clip's bounds.
    var floats: [Float]? {
        switch self.type.dtype {
        case .float32: self.values(Float.self)
        case .float64: self.values(Double.self).map { Float($0) }
        default: nil
        }
    }
}

/// An attribute of a node, decoded from ONNX.
enum Attribute: Sendable {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case strings([String])
    case tensor(Constant)
    case unsupported(String)
}

/// One node of the graph, with its operator already built from the attributes.
struct Node: Sendable {
    var name: String
    var opType: String
    var domain: String
    /// Value ids; `nil` where an optional input or output is omitted (an empty name in ONNX).
    var inputs: [Int?]
    var outputs: [Int?]
    var op: any Operator
}

/// A declared graph input.
struct GraphInput: Sendable {
    var name: String
    var value: Int
    var dtype: DType
    /// `nil` marks a dynamic dimension.
    var dims: [Int?]
}

/// The loaded graph: values by id, constants, nodes in topological order, inputs and outputs.
struct Graph: Sendable {
    var valueNames: [String]
    var constants: [Int: Constant]
    var nodes: [Node]
    var inputs: [GraphInput]
    /// Output value ids with their declared dtype and dims (when the file declares them).
    var outputs: [(name: String, value: Int, dtype: DType?, dims: [Int?]?)]
    var opsetVersion: Int
    var mlOpsetVersion: Int?
    var producer: String
    var irVersion: Int
    /// Element types recorded in the file's value_info, by value id.
    var declaredTypes: [Int: DType] = [:]

    func name(_ value: Int) -> String { self.valueNames[value] }
}
