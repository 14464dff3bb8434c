import Foundation
import SwitchyardCompression
@testable import SwitchyardEngine
import SwitchyardONNX
import SwitchyardTensor
import Testing

/// The engine's fused int8 steps (``DynamicQuantizedLinearOp``, ``QuantizedConvOp``) on both GEMM paths: the packed
/// VNNI kernel (few rows, on CPUs that have it) and oneDNN (many rows, and every CPU without VNNI). The packed
/// kernel is switched off here to run oneDNN at every size, as a CPU without VNNI would; both must answer exactly
/// alike, and as the unfused operators do.
@Suite(.serialized)
struct QuantizedKernelTests {
    /// Runs `body` with the packed kernel allowed or not, restoring the setting.
    func withPacked<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
        let previous = Int8Packing.usePacked(enabled)
        defer { _ = Int8Packing.usePacked(previous) }
        return try body()
    }

    func compare(_ bytes: [UInt8], input: String, rows: Tensor, output: String, tolerance: Float) throws {
        let fused = try Model(bytes: bytes)
        var plain = ModelOptions()
        plain.fuse = false
        let unfused = try Model(bytes: bytes, options: plain)
        #expect(fused.summary.plannedNodeCount < unfused.summary.plannedNodeCount)
        for count in [1, 3, 40, 64] where count <= rows.shape[0] {
            let named = [NamedTensor(input, try rows.rows(0..<count))]
            let packed = try withPacked(true) {
                try fused.run(named, outputNames: [output])[0].tensor.scalars(as: Float.self)
            }
            let oneDNN = try withPacked(false) {
                try fused.run(named, outputNames: [output])[0].tensor.scalars(as: Float.self)
            }
            let reference = try unfused.run(named, outputNames: [output])[0].tensor.scalars(as: Float.self)
            #expect(packed == oneDNN, "batch \(count): the two GEMM paths differ")
            let worst = zip(packed, reference).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= tolerance, "batch \(count): \(worst) from the operators one by one")
        }
    }

    @Test func dynamicLinearStepsAgreeOnBothPaths() throws {
        let result = try Quantizer.quantize(try Fixtures.digits(), options: QuantizationOptions(mode: .dynamic))
        try self.compare(
            try result.model.serialized(),
            input: "X",
            rows: try Fixtures.test().inputs,
            output: "probabilities",
            tolerance: 1e-5
        )
    }

    @Test func staticConvolutionsAgreeOnBothPaths() throws {
        let (model, data) = try Self.smallCNN()
        let options = QuantizationOptions(mode: .static)
        let ranges = try Calibrator.ranges(
            model,
            tensors: Quantizer.activationsToCalibrate(model, options: options),
            data: data,
            method: .minMax
        )
        let result = try Quantizer.quantize(model, options: options, ranges: ranges)
        #expect(Fixtures.operators(result.model).contains("DequantizeLinear"))
        // 8×8 output positions (oneDNN), then 6×6 and 4×4 (the packed kernel on VNNI CPUs)
        try self.compare(try result.model.serialized(), input: "image", rows: data, output: "scores", tolerance: 1e-4)
    }

    /// Three 3×3 convolutions with ReLU on 3×10×10 images, then a linear layer to 4 scores; random weights and rows.
    static func smallCNN() throws -> (ONNXModel, Tensor) {
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int, _ scale: Float) -> [Float] {
            (0..<count).map { _ in Float.random(in: -scale...scale, using: &generator) }
        }
        func tensor(_ name: String, _ dims: [Int], _ values: [Float]) -> Onnx_TensorProto {
            var tensor = Onnx_TensorProto()
            tensor.name = name
            tensor.dims = dims.map { Int64($0) }
            tensor.dataType = 1
            tensor.floatData = values
            return tensor
        }
        func node(_ op: String, _ inputs: [String], _ output: String) -> Onnx_NodeProto {
            var node = Onnx_NodeProto()
            node.opType = op
            node.input = inputs
            node.output = [output]
            node.name = output
            return node
        }
        var graph = Onnx_GraphProto()
        graph.name = "small_cnn"
        var previous = "image"
        for (index, (from, to)) in [(3, 8), (8, 16), (16, 16)].enumerated() {
            graph.initializer.append(tensor("w\(index)", [to, from, 3, 3], random(to * from * 9, 0.4)))
            graph.initializer.append(tensor("b\(index)", [to], random(to, 0.1)))
            graph.node.append(node("Conv", [previous, "w\(index)", "b\(index)"], "conv\(index)"))
            graph.node.append(node("Relu", ["conv\(index)"], "relu\(index)"))
            previous = "relu\(index)"
        }
        graph.node.append(node("Flatten", [previous], "flat"))
        graph.initializer.append(tensor("w3", [256, 4], random(1024, 0.1)))
        graph.node.append(node("MatMul", ["flat", "w3"], "scores"))
        func info(_ name: String, _ dims: [Int64?]) -> Onnx_ValueInfoProto {
            var value = Onnx_ValueInfoProto()
            value.name = name
            var type = Onnx_TypeProto.Tensor()
            type.elemType = 1
            for dim in dims {
                var entry = Onnx_TensorShapeProto.Dimension()
                if let dim { entry.dimValue = dim } else { entry.dimParam = "N" }
                type.shape.dim.append(entry)
            }
            value.type.tensorType = type
            return value
        }
        graph.input = [info("image", [nil, 3, 10, 10])]
        graph.output = [info("scores", [nil, 4])]
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        proto.opsetImport = [opset]
        proto.graph = graph
        let rows = try Tensor(random(64 * 300, 1).map { abs($0) }, shape: [64, 3, 10, 10])
        return (ONNXModel(proto: proto, source: "small_cnn"), rows)
    }
}
