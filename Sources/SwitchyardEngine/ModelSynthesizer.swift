import SwiftProtobuf
import SwitchyardONNX

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Writes valid ONNX multilayer perceptrons with seeded random weights, for benchmarks and tests.
///
/// The graph is what PyTorch exports for `nn.Sequential(Linear, ReLU, ..., Linear)` followed by a
/// softmax: `Gemm(transB=1)` per layer, `Relu` between layers, `Softmax(axis=1)` at the end. Input
/// `input` is `f32[?, layers[0]]`; output `probabilities` is `f32[?, layers.last]`.
public struct ModelSynthesizer: Sendable {
    /// Layer widths, input first; at least two.
    public var layers: [Int]
    /// The seed of the weight generator: the same seed gives the same bytes.
    public var seed: UInt64
    /// The opset the file declares.
    public var opset: Int = 17

    /// Makes a synthesizer.
    /// - Parameters:
    ///   - layers: widths, input first (`[784, 512, 512, 10]`).
    ///   - seed: the random seed.
    public init(layers: [Int], seed: UInt64 = 1) {
        self.layers = layers
        self.seed = seed
    }

    /// The serialized model.
    /// - Throws: `EngineError.invalidInput` for fewer than two layers or a width outside 1...65536.
    public func serialized() throws(EngineError) -> [UInt8] {
        guard self.layers.count >= 2, self.layers.allSatisfy({ (1...65536).contains($0) }) else {
            throw EngineError(.invalidInput, "layers must be two or more widths in 1...65536, got \(self.layers)")
        }
        var random = SplitMix64(seed: self.seed)
        var graph = Onnx_GraphProto()
        graph.name = "mlp_" + self.layers.map(String.init).joined(separator: "_")
        graph.input = [Self.valueInfo("input", [nil, self.layers[0]])]
        var current = "input"
        for index in 0..<(self.layers.count - 1) {
            let (fanIn, fanOut) = (self.layers[index], self.layers[index + 1])
            let bound = Float(1 / Double(fanIn).squareRoot())  // PyTorch's default Linear init range
            let weights = (0..<(fanIn * fanOut)).map { _ in random.uniform(-bound, bound) }
            let bias = (0..<fanOut).map { _ in random.uniform(-bound, bound) }
            graph.initializer.append(Self.tensor("fc\(index).weight", [fanOut, fanIn], weights))
            graph.initializer.append(Self.tensor("fc\(index).bias", [fanOut], bias))
            let last = index == self.layers.count - 2
            let gemmOut = last ? "logits" : "fc\(index)"
            graph.node.append(
                Self.node(
                    "Gemm",
                    "/fc\(index)/Gemm",
                    [current, "fc\(index).weight", "fc\(index).bias"],
                    [gemmOut],
                    ints: ["transB": 1]
                )
            )
            if last {
                graph.node.append(
                    Self.node("Softmax", "/softmax/Softmax", [gemmOut], ["probabilities"], ints: ["axis": 1])
                )
            } else {
                graph.node.append(Self.node("Relu", "/relu\(index)/Relu", [gemmOut], ["relu\(index)"]))
                current = "relu\(index)"
            }
        }
        graph.output = [Self.valueInfo("probabilities", [nil, self.layers.last!])]
        var model = Onnx_ModelProto()
        model.irVersion = 8
        model.producerName = "switchyard yard model synth"
        model.producerVersion = "seed \(self.seed)"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(self.opset)
        model.opsetImport = [opset]
        model.graph = graph
        do {
            return try model.serializedBytes()
        } catch {
            throw EngineError(.invalidModel, "could not serialize the model: \(error)", cause: error)
        }
    }

    private static func valueInfo(_ name: String, _ dims: [Int?]) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = 1
        var shape = Onnx_TensorShapeProto()
        shape.dim = dims.map { dim in
            var proto = Onnx_TensorShapeProto.Dimension()
            if let dim { proto.dimValue = Int64(dim) } else { proto.dimParam = "batch" }
            return proto
        }
        tensor.shape = shape
        info.type.tensorType = tensor
        return info
    }

    private static func tensor(_ name: String, _ dims: [Int], _ values: [Float]) -> Onnx_TensorProto {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = 1
        tensor.dims = dims.map { Int64($0) }
        tensor.rawData = values.withUnsafeBytes { Data($0) }
        return tensor
    }

    private static func node(
        _ op: String,
        _ name: String,
        _ inputs: [String],
        _ outputs: [String],
        ints: [String: Int] = [:]
    )
        -> Onnx_NodeProto
    {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = inputs
        node.output = outputs
        for (key, value) in ints.sorted(by: { $0.key < $1.key }) {
            var attribute = Onnx_AttributeProto()
            attribute.name = key
            attribute.type = .int
            attribute.i = Int64(value)
            node.attribute.append(attribute)
        }
        return node
    }
}

/// A small, fast, seedable generator (SplitMix64), so synthesized weights are the same everywhere.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        let unit = Float(self.next() >> 40) / Float(1 << 24)
        return low + (high - low) * unit
    }
}
