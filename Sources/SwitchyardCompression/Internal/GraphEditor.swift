import Foundation
import SwitchyardONNX

/// A float tensor taken out of (or going into) an initializer.
struct FloatTensor: Sendable {
    var dims: [Int]
    var values: [Float]

    var count: Int { self.values.count }
}

/// Edits one graph: finds producers, consumers and initializers, makes names, tensors and nodes.
struct GraphEditor {
    var graph: Onnx_GraphProto
    private var used: Set<String>

    init(_ graph: Onnx_GraphProto) {
        self.graph = graph
        var used = Set<String>()
        for node in graph.node {
            used.formUnion(node.input)
            used.formUnion(node.output)
            used.insert(node.name)
        }
        used.formUnion(graph.initializer.map(\.name))
        used.formUnion(graph.input.map(\.name))
        self.used = used
    }

    /// A value or node name not used yet, starting with `base`.
    mutating func unique(_ base: String) -> String {
        var name = base
        var suffix = 1
        while self.used.contains(name) {
            name = "\(base)_\(suffix)"
            suffix += 1
        }
        self.used.insert(name)
        return name
    }

    func initializerIndex(_ name: String) -> Int? { self.graph.initializer.firstIndex { $0.name == name } }

    /// The float32 data of initializer `name`, or `nil` when there is none of that type.
    func floats(_ name: String) -> FloatTensor? {
        guard let index = self.initializerIndex(name) else { return nil }
        return Self.floats(of: self.graph.initializer[index])
    }

    static func floats(of tensor: Onnx_TensorProto) -> FloatTensor? {
        guard tensor.dataType == 1 else { return nil }
        let dims = tensor.dims.map { Int($0) }
        let count = dims.reduce(1, *)
        if tensor.hasRawData {
            guard tensor.rawData.count == count * 4 else { return nil }
            let values = tensor.rawData.withUnsafeBytes { raw in
                (0..<count).map {
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                }
            }
            return FloatTensor(dims: dims, values: values)
        }
        guard tensor.floatData.count == count else { return nil }
        return FloatTensor(dims: dims, values: tensor.floatData)
    }

    /// Node indices reading `value`.
    func consumers(of value: String) -> [Int] {
        self.graph.node.indices.filter { self.graph.node[$0].input.contains(value) }
    }

    /// The index of the node writing `value`.
    func producer(of value: String) -> Int? {
        self.graph.node.firstIndex { $0.output.contains(value) }
    }

    func isGraphOutput(_ value: String) -> Bool { self.graph.output.contains { $0.name == value } }

    /// Adds (or replaces) an initializer.
    mutating func setInitializer(_ tensor: Onnx_TensorProto) {
        if let index = self.initializerIndex(tensor.name) {
            self.graph.initializer[index] = tensor
        } else {
            self.graph.initializer.append(tensor)
            self.used.insert(tensor.name)
        }
        // An initializer also listed as a graph input (IR < 4 style) keeps its declared type in step.
        if let index = self.graph.input.firstIndex(where: { $0.name == tensor.name }) {
            self.graph.input[index].type.tensorType.elemType = tensor.dataType
        }
    }

    /// Drops initializers no node reads and that are not graph outputs.
    mutating func removeUnusedInitializers() {
        var read = Set<String>()
        for node in self.graph.node { read.formUnion(node.input) }
        read.formUnion(self.graph.output.map(\.name))
        let dropped = Set(self.graph.initializer.map(\.name).filter { !read.contains($0) })
        self.graph.initializer.removeAll { dropped.contains($0.name) }
        self.graph.input.removeAll { dropped.contains($0.name) }
    }

    /// Orders nodes so that each is after the producers of its inputs (inserted nodes are appended first).
    mutating func sortTopologically() {
        var available = Set(self.graph.initializer.map(\.name))
        available.formUnion(self.graph.input.map(\.name))
        available.insert("")
        var pending = self.graph.node
        var ordered: [Onnx_NodeProto] = []
        while !pending.isEmpty {
            let before = pending.count
            var rest: [Onnx_NodeProto] = []
            for node in pending {
                if node.input.allSatisfy({ available.contains($0) }) {
                    ordered.append(node)
                    available.formUnion(node.output)
                } else {
                    rest.append(node)
                }
            }
            pending = rest
            if pending.count == before {  // a cycle or a dangling name: keep the rest as they were
                ordered += pending
                break
            }
        }
        self.graph.node = ordered
    }

    static func tensor(_ name: String, dims: [Int], floats: [Float]) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = dims.map { Int64($0) }
        tensor.dataType = 1
        var bytes = Data(count: floats.count * 4)
        bytes.withUnsafeMutableBytes { raw in
            for (index, value) in floats.enumerated() {
                raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
            }
        }
        tensor.rawData = bytes
        return tensor
    }

    static func tensor(_ name: String, dims: [Int], int8: [Int8]) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = dims.map { Int64($0) }
        tensor.dataType = 3
        tensor.rawData = Data(int8.map { UInt8(bitPattern: $0) })
        return tensor
    }

    static func tensor(_ name: String, dims: [Int], uint8: [UInt8]) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = dims.map { Int64($0) }
        tensor.dataType = 2
        tensor.rawData = Data(uint8)
        return tensor
    }

    static func tensor(_ name: String, dims: [Int], int32: [Int32]) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = dims.map { Int64($0) }
        tensor.dataType = 6
        var bytes = Data(count: int32.count * 4)
        bytes.withUnsafeMutableBytes { raw in
            for (index, value) in int32.enumerated() {
                raw.storeBytes(of: value.littleEndian, toByteOffset: index * 4, as: Int32.self)
            }
        }
        tensor.rawData = bytes
        return tensor
    }

    /// A 16-bit float tensor (`dataType` 10 for float16, 16 for bfloat16) from its bit patterns.
    static func tensor(_ name: String, dims: [Int], halfBits: [UInt16], dataType: Int32) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = dims.map { Int64($0) }
        tensor.dataType = dataType
        var bytes = Data(count: halfBits.count * 2)
        bytes.withUnsafeMutableBytes { raw in
            for (index, value) in halfBits.enumerated() {
                raw.storeBytes(of: value.littleEndian, toByteOffset: index * 2, as: UInt16.self)
            }
        }
        tensor.rawData = bytes
        return tensor
    }

    static func node(
        _ opType: String,
        _ inputs: [String],
        _ outputs: [String],
        name: String,
        ints: [String: Int] = [:]
    ) -> Onnx_NodeProto {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.input = inputs
        node.output = outputs
        node.name = name
        for (key, value) in ints.sorted(by: { $0.key < $1.key }) {
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            attribute.type = .int
            attribute.i = Int64(value)
            node.attribute.append(attribute)
        }
        return node
    }

    static func intAttribute(_ node: Onnx_NodeProto, _ name: String) -> Int? {
        node.attribute.first { $0.name == name }.map { Int($0.i) }
    }

    static func floatAttribute(_ node: Onnx_NodeProto, _ name: String) -> Float? {
        node.attribute.first { $0.name == name }.map(\.f)
    }
}
