import Foundation
import SwiftProtobuf
import SwitchyardONNX

/// Builds small ONNX models in tests, for the cases a well-behaved exporter never writes.
struct GraphFactory {
    var nodes: [Onnx_NodeProto] = []
    var inputs: [Onnx_ValueInfoProto] = []
    var outputs: [Onnx_ValueInfoProto] = []
    var initializers: [Onnx_TensorProto] = []
    var opset: Int64 = 17
    var irVersion: Int64 = 8

    mutating func input(_ name: String, _ dims: [Int?], type: Int32 = 1) {
        self.inputs.append(Self.info(name, dims, type))
    }
    mutating func output(_ name: String, _ dims: [Int?]? = nil, type: Int32 = 1) {
        self.outputs.append(Self.info(name, dims, type))
    }

    mutating func node(
        _ op: String,
        _ inputs: [String],
        _ outputs: [String],
        domain: String = "",
        ints: [String: Int64] = [:],
        lists: [String: [Int64]] = [:],
        reals: [String: Float] = [:],
        texts: [String: String] = [:],
        graphs: [String: GraphFactory] = [:]
    ) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = "\(op.lowercased())_\(self.nodes.count)"
        node.input = inputs
        node.output = outputs
        node.domain = domain
        for (key, value) in ints {
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            attribute.type = .int
            attribute.i = value
            node.attribute.append(attribute)
        }
        for (key, values) in lists {
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            attribute.type = .ints
            attribute.ints = values
            node.attribute.append(attribute)
        }
        for (key, text) in texts {
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            attribute.type = .string
            attribute.s = Data(text.utf8)
            node.attribute.append(attribute)
        }
        for (key, body) in graphs {
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            attribute.type = .graph
            attribute.g = body.graph()
            node.attribute.append(attribute)
        }
        for (key, value) in reals {
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            attribute.type = .float
            attribute.f = value
            node.attribute.append(attribute)
        }
        self.nodes.append(node)
    }

    mutating func floats(_ name: String, _ dims: [Int], _ values: [Float]? = nil) {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = 1
        tensor.dims = dims.map { Int64($0) }
        tensor.floatData = values ?? Array(repeating: 0.5, count: dims.reduce(1, *))
        self.initializers.append(tensor)
    }

    /// An initializer of an integer type held in `int32_data` (uint8, int8, int32, bool) or `int64_data`.
    mutating func integers(_ name: String, _ dims: [Int], type: Int32, _ values: [Int64]) {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = type
        tensor.dims = dims.map { Int64($0) }
        if type == 7 { tensor.int64Data = values } else { tensor.int32Data = values.map { Int32($0) } }
        self.initializers.append(tensor)
    }

    mutating func int64s(_ name: String, _ values: [Int64]) {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = 7
        tensor.dims = [Int64(values.count)]
        tensor.int64Data = values
        self.initializers.append(tensor)
    }

    mutating func externalFloats(_ name: String, _ dims: [Int], location: String = "weights.bin", offset: Int? = nil) {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = 1
        tensor.dims = dims.map { Int64($0) }
        tensor.dataLocation = .external
        var entry = Onnx_StringStringEntryProto()
        entry.key = "location"
        entry.value = location
        tensor.externalData = [entry]
        if let offset {
            var start = Onnx_StringStringEntryProto()
            start.key = "offset"
            start.value = String(offset)
            tensor.externalData.append(start)
        }
        self.initializers.append(tensor)
    }

    /// The graph alone: a model's, or a control-flow body (a node's graph attribute).
    func graph() -> Onnx_GraphProto {
        var graph = Onnx_GraphProto()
        graph.name = "test"
        graph.node = self.nodes
        graph.input = self.inputs
        graph.output = self.outputs
        graph.initializer = self.initializers
        return graph
    }

    func bytes() throws -> [UInt8] {
        let graph = self.graph()
        var model = Onnx_ModelProto()
        model.irVersion = self.irVersion
        var opset = Onnx_OperatorSetIdProto()
        opset.version = self.opset
        var ml = Onnx_OperatorSetIdProto()
        ml.domain = "ai.onnx.ml"
        ml.version = 1
        model.opsetImport = [opset, ml]
        model.graph = graph
        return try model.serializedBytes()
    }

    static func info(_ name: String, _ dims: [Int?]?, _ type: Int32) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = type
        if let dims {
            var shape = Onnx_TensorShapeProto()
            shape.dim = dims.map { dim in
                var proto = Onnx_TensorShapeProto.Dimension()
                if let dim { proto.dimValue = Int64(dim) } else { proto.dimParam = "N" }
                return proto
            }
            tensor.shape = shape
        }
        info.type.tensorType = tensor
        return info
    }

    /// A valid two-layer model: input x[N,4] -> MatMul W[4,3] -> Add b[3] -> Relu -> y[N,3].
    static func small() -> GraphFactory {
        var factory = GraphFactory()
        factory.input("x", [nil, 4])
        factory.floats("w", [4, 3], (0..<12).map { Float($0) / 10 - 0.5 })
        factory.floats("b", [3], [0.1, -0.2, 0.3])
        factory.node("MatMul", ["x", "w"], ["m"])
        factory.node("Add", ["m", "b"], ["a"])
        factory.node("Relu", ["a"], ["y"])
        factory.output("y", [nil, 3])
        return factory
    }
}
