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

    /// The fused model on every path — convolutions on oneDNN's int8 kernels, and on the GEMM path with the packed
    /// kernel and with oneDNN's GEMM — against the operators one by one.
    func compare(_ bytes: [UInt8], input: String, rows: Tensor, output: String, tolerance: Float) throws {
        let fused = try Model(bytes: bytes)
        var gemmOptions = ModelOptions()
        gemmOptions.oneDNNConvolution = false
        let gemm = try Model(bytes: bytes, options: gemmOptions)
        var plain = ModelOptions()
        plain.fuse = false
        let unfused = try Model(bytes: bytes, options: plain)
        #expect(fused.summary.plannedNodeCount < unfused.summary.plannedNodeCount)
        for count in [1, 3, 5, 40, 64] where count <= rows.shape[0] {  // 1 and 5: the one-row VNNI path
            let named = [NamedTensor(input, try rows.rows(0..<count))]
            let packed = try withPacked(true) {
                try gemm.run(named, outputNames: [output])[0].tensor.scalars(as: Float.self)
            }
            let oneDNN = try withPacked(false) {
                try gemm.run(named, outputNames: [output])[0].tensor.scalars(as: Float.self)
            }
            let convolutions = try fused.run(named, outputNames: [output])[0].tensor.scalars(as: Float.self)
            let reference = try unfused.run(named, outputNames: [output])[0].tensor.scalars(as: Float.self)
            #expect(packed == oneDNN, "batch \(count): the two GEMM paths differ")
            for (name, answer) in [("GEMM path", packed), ("oneDNN convolutions", convolutions)] {
                let worst = zip(answer, reference).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= tolerance, "batch \(count), \(name): \(worst) from the operators one by one")
            }
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
        // every convolution in integers; the first two pass uint8 on (the third feeds Flatten in float)
        let planned = try Model(bytes: try result.model.serialized()).graph.nodes.compactMap {
            $0.op as? QuantizedConvOp
        }
        #expect(planned.count == 3 && planned.filter { $0.output != nil }.count == 2)
        // On oneDNN's convolutions the GEMM path's copies of the weights are never made (held once, not three times);
        // a model without oneDNN's convolutions makes them for its plans.
        #expect(planned.allSatisfy { !$0.gemmWeights.isMade } || !OneDNN.isUsable)
        var gemmOptions = ModelOptions()
        gemmOptions.oneDNNConvolution = false
        let gemmModel = try Model(bytes: try result.model.serialized(), options: gemmOptions)
        #expect(gemmModel.graph.nodes.compactMap { $0.op as? QuantizedConvOp }.allSatisfy { $0.gemmWeights.isMade })
        // The integer accumulators are exact on every path; a product's float rounding may put an activation on
        // the other side of a uint8 rounding boundary (one quantum), which moves a score by that quantum × weight.
        try self.compare(try result.model.serialized(), input: "image", rows: data, output: "scores", tolerance: 2e-2)
    }

    /// The int8 MatMul fusions take along only default-domain activations: a node of another domain that happens to
    /// be named Relu stays a node of its own after the static (QDQ) and the dynamic fused steps alike.
    @Test func fusedMatMulsLeaveACustomDomainReluAlone() throws {
        let original = try Fixtures.digits()
        let staticOptions = QuantizationOptions(mode: .static)
        let ranges = try Calibrator.ranges(
            original,
            tensors: Quantizer.activationsToCalibrate(original, options: staticOptions),
            data: try Fixtures.calibration(),
            method: .minMax
        )
        let quantized = try Quantizer.quantize(original, options: staticOptions, ranges: ranges).model.serialized()
        let dynamic = try Quantizer.quantize(original, options: QuantizationOptions(mode: .dynamic)).model.serialized()
        for (bytes, fuse, fused) in [
            (quantized, Fusion.fuseQuantizedMatMul, "QuantizedLinear"),
            (dynamic, Fusion.fuseDynamicQuantizedLinear, "DynamicQuantizedLinear"),
        ] as [([UInt8], (inout Graph) -> Void, String)] {
            var graph = try GraphLoader.load(bytes: bytes, source: "digits", directory: nil)
            let relu = try #require(graph.nodes.firstIndex { $0.opType == "Relu" })
            graph.nodes[relu].domain = "com.example"
            fuse(&graph)
            let steps = graph.nodes.map(\.opType)
            #expect(steps.filter { $0 == fused }.count == 3, "\(steps)")
            #expect(graph.nodes.contains { $0.opType == "Relu" && $0.domain == "com.example" }, "\(steps)")
            // The default-domain Relu after the second MatMul joined its step as before.
            #expect(steps.filter { $0 == "Relu" }.count == 1, "\(steps)")
        }
    }

    /// QDQ MatMuls — yard's static digits model and onnxruntime's `quantize_static` of it — run as int8 GEMMs on the
    /// uint8 their QuantizeLinear wrote (no DequantizeLinear of the weights per call), on both GEMM paths, with the
    /// operators' answers and onnxruntime's.
    @Test func staticMatMulsRunInIntegersWithTheOperatorsAnswers() throws {
        let original = try Fixtures.digits()
        let options = QuantizationOptions(mode: .static)
        let ranges = try Calibrator.ranges(
            original,
            tensors: Quantizer.activationsToCalibrate(original, options: options),
            data: try Fixtures.calibration(),
            method: .minMax
        )
        let ours = try Quantizer.quantize(original, options: options, ranges: ranges).model.serialized()
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (f32, calibration, rows) = ("\(directory)/f32.onnx", "\(directory)/cal.npy", "\(directory)/x.npy")
        try original.write(to: f32)
        try NPY.write(try Fixtures.calibration(), to: calibration)
        let test = try Fixtures.test().inputs
        try NPY.write(test, to: rows)
        let theirsPath = "\(directory)/ort.onnx"
        try Fixtures.onnxruntimeTool([
            "quantize", "--mode", "static", "--model", f32, "--out", theirsPath, "--calibration", calibration,
        ])
        let theirs = Array(try Data(contentsOf: URL(fileURLWithPath: theirsPath)))
        for (name, bytes) in [("yard", ours), ("onnxruntime", theirs)] {
            let planned = try Model(bytes: bytes).graph.nodes.map(\.opType)
            #expect(planned.filter { $0 == "QuantizedLinear" }.count == 3, "\(name): \(planned)")
            #expect(!planned.contains("MatMul"), "\(name): \(planned)")
            // A product's float rounding may put a value across a uint8 rounding boundary of the next layer's
            // QuantizeLinear: one quantum, which moves a probability by far less than this.
            try self.compare(bytes, input: "X", rows: test, output: "probabilities", tolerance: 2e-2)
        }
        let expectedPath = "\(directory)/expected.npy"
        try Fixtures.onnxruntimeTool([
            "run", "--model", theirsPath, "--x", rows, "--output", "probabilities", "--save-outputs", expectedPath,
        ])
        let expected = try NPY.read(expectedPath).scalars(as: Float.self)
        let engine = try Model(bytes: theirs)
        let values = try engine.run([NamedTensor("X", test)], outputNames: ["probabilities"])[0].tensor
            .scalars(as: Float.self)
        let worst = zip(values, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(values.count == expected.count && worst <= 2e-2, "worst \(worst) from onnxruntime's answers")
        // A row of the wrong width is refused with a clear error.
        #expect(throws: EngineError.self) {
            try engine.run([NamedTensor("X", try Tensor([Float](repeating: 1, count: 63), shape: [1, 63]))])
        }
    }

    /// onnxruntime's own QDQ form (`Conv → QuantizeLinear → DequantizeLinear → Relu → QuantizeLinear`, int32 bias
    /// through DequantizeLinear, per-channel weights): every convolution runs in integers with a uint8 result, each
    /// Relu between two quantizations is a lookup, and the answers are onnxruntime's on the same file.
    @Test func onnxruntimesQDQConvolutionsRunInIntegersWithItsAnswers() throws {
        let (model, data) = try Self.smallCNN()
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (original, calibration, rows) = ("\(directory)/f32.onnx", "\(directory)/cal.npy", "\(directory)/x.npy")
        try model.write(to: original)
        try NPY.write(try data.rows(0..<32), to: calibration)
        try NPY.write(data, to: rows)
        let quantized = "\(directory)/ort.onnx"
        let expectedPath = "\(directory)/expected.npy"
        try Fixtures.onnxruntimeTool([
            "quantize", "--mode", "static", "--model", original, "--out", quantized, "--calibration", calibration,
        ])
        try Fixtures.onnxruntimeTool([
            "run", "--model", quantized, "--x", rows, "--output", "scores", "--save-outputs", expectedPath,
        ])
        let expected = try NPY.read(expectedPath).scalars(as: Float.self)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: quantized)))
        var gemmOptions = ModelOptions()
        gemmOptions.oneDNNConvolution = false
        for engine in [try Model(bytes: bytes), try Model(bytes: bytes, options: gemmOptions)] {
            let planned = engine.graph.nodes.map(\.opType)
            #expect(planned.filter { $0 == "QuantizedConv" }.count == 3, "\(planned)")
            // the last Relu feeds Flatten, not a QuantizeLinear: it stays
            #expect(planned.filter { $0 == "QuantizedLookup" }.count == 2 && !planned.contains("Conv"))
            let convolutions = engine.graph.nodes.compactMap { $0.op as? QuantizedConvOp }
            #expect(convolutions.allSatisfy { $0.output != nil }, "every convolution writes uint8")
            let answer = try engine.run([NamedTensor("image", data)], outputNames: ["scores"])[0].tensor
            let values = try answer.scalars(as: Float.self)
            #expect(values.count == expected.count)
            // The same integers; a product's float rounding may put a value on the other side of a rounding
            // boundary, so allow a few quanta of the scores' scale, and the same top class on (nearly) every row.
            let worst = zip(values, expected).map { abs($0 - $1) }.max() ?? .infinity
            let spread = (expected.max() ?? 0) - (expected.min() ?? 0)
            #expect(worst <= spread * 0.02, "worst \(worst) of a spread of \(spread)")
            func classes(_ v: [Float]) -> [Int] {
                stride(from: 0, to: v.count, by: 4).map { start in (0..<4).max { v[start + $0] < v[start + $1] }! }
            }
            let agree = zip(classes(values), classes(expected)).filter { $0 == $1 }.count
            #expect(Double(agree) >= 0.97 * Double(data.shape[0]), "\(agree) of \(data.shape[0]) rows agree")
            // A wrong image is refused with a clear error; the model keeps answering.
            let wrong = try Tensor([Float](repeating: 0.5, count: 2 * 4 * 10 * 10), shape: [2, 4, 10, 10])
            #expect(throws: EngineError.self) {
                try engine.run([NamedTensor("image", wrong)], outputNames: ["scores"])
            }
            let again = try engine.run([NamedTensor("image", try data.rows(0..<1))], outputNames: ["scores"])[0]
            #expect(try again.tensor.scalars(as: Float.self) == Array(values.prefix(4)))
        }
    }

    /// Dynamic mode on a CNN: per-channel ConvInteger (ours) and onnxruntime's per-tensor ConvInteger form run as
    /// integer convolutions on a per-call quantized image, with the operators' answers and onnxruntime's.
    @Test func dynamicConvolutionsRunInIntegersWithOnnxruntimesAnswers() throws {
        let (model, data) = try Self.smallCNN()
        let result = try Quantizer.quantize(model, options: QuantizationOptions(mode: .dynamic))
        #expect(Fixtures.operators(result.model).filter { $0 == "ConvInteger" }.count == 3)
        #expect(result.keptInFloat.isEmpty, "\(result.keptInFloat)")
        try self.compare(try result.model.serialized(), input: "image", rows: data, output: "scores", tolerance: 2e-3)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (original, rows) = ("\(directory)/f32.onnx", "\(directory)/x.npy")
        try model.write(to: original)
        try NPY.write(data, to: rows)
        let theirs = "\(directory)/ort.onnx"
        try Fixtures.onnxruntimeTool(["quantize", "--mode", "dynamic", "--model", original, "--out", theirs])
        let ours = "\(directory)/ours.onnx"
        try result.model.write(to: ours)
        for file in [ours, theirs] {
            let expectedPath = "\(directory)/expected.npy"
            try Fixtures.onnxruntimeTool([
                "run", "--model", file, "--x", rows, "--output", "scores", "--save-outputs", expectedPath,
            ])
            let expected = try NPY.read(expectedPath).scalars(as: Float.self)
            let engine = try Model(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: file))))
            let planned = engine.graph.nodes.map(\.opType)
            #expect(planned.filter { $0 == "QuantizedConv" }.count == 3, "\(file): \(planned)")
            #expect(!planned.contains("ConvInteger") && !planned.contains("Cast"), "\(file): \(planned)")
            let values = try engine.run([NamedTensor("image", data)], outputNames: ["scores"])[0].tensor
                .scalars(as: Float.self)
            let worst = zip(values, expected).map { abs($0 - $1) }.max() ?? .infinity
            let spread = (expected.max() ?? 0) - (expected.min() ?? 0)
            #expect(worst <= spread * 0.02, "\(file): worst \(worst) of a spread of \(spread)")
            let wrong = try Tensor([Float](repeating: 0.5, count: 4 * 10 * 10), shape: [1, 4, 10, 10])
            #expect(throws: EngineError.self) {
                try engine.run([NamedTensor("image", wrong)], outputNames: ["scores"])
            }
        }
    }

    /// `DequantizeLinear → Relu/Clip → QuantizeLinear` on uint8 becomes one lookup with exactly the operators'
    /// answers for all 256 inputs.
    @Test func requantizingChainsAreOneLookupWithTheOperatorsAnswers() throws {
        func scalar(_ name: String, float: Float? = nil, byte: UInt8? = nil) -> Onnx_TensorProto {
            var tensor = Onnx_TensorProto()
            tensor.name = name
            if let float {
                tensor.dataType = 1
                tensor.floatData = [float]
            } else {
                tensor.dataType = 2
                tensor.rawData = Data([byte!])
            }
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
        func info(_ name: String) -> Onnx_ValueInfoProto {
            var value = Onnx_ValueInfoProto()
            value.name = name
            var type = Onnx_TypeProto.Tensor()
            type.elemType = 2
            for dim in [1, 256] {
                var entry = Onnx_TensorShapeProto.Dimension()
                entry.dimValue = Int64(dim)
                type.shape.dim.append(entry)
            }
            value.type.tensorType = type
            return value
        }
        var graph = Onnx_GraphProto()
        graph.name = "requantize"
        graph.initializer = [
            scalar("s1", float: 0.05), scalar("z1", byte: 100), scalar("s2", float: 0.031), scalar("z2", byte: 7),
            scalar("low", float: -0.5), scalar("high", float: 4),
        ]
        graph.node = [
            node("DequantizeLinear", ["x", "s1", "z1"], "dq"), node("Relu", ["dq"], "relu"),
            node("QuantizeLinear", ["relu", "s2", "z2"], "y"),
            node("DequantizeLinear", ["x", "s2", "z2"], "dq2"), node("Clip", ["dq2", "low", "high"], "clip"),
            node("QuantizeLinear", ["clip", "s1", "z1"], "z"),
        ]
        graph.input = [info("x")]
        graph.output = [info("y"), info("z")]
        var proto = Onnx_ModelProto()
        proto.irVersion = 8
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 17
        proto.opsetImport = [opset]
        proto.graph = graph
        let bytes = try ONNXModel(proto: proto, source: "requantize").serialized()
        let fused = try Model(bytes: bytes)
        var plain = ModelOptions()
        plain.fuse = false
        let unfused = try Model(bytes: bytes, options: plain)
        #expect(fused.graph.nodes.map(\.opType) == ["QuantizedLookup", "QuantizedLookup"])
        let x = [NamedTensor("x", try Tensor((0...255).map { UInt8($0) }, shape: [1, 256]))]
        let a = try fused.run(x, outputNames: ["y", "z"]).map { try $0.tensor.scalars(as: UInt8.self) }
        let b = try unfused.run(x, outputNames: ["y", "z"]).map { try $0.tensor.scalars(as: UInt8.self) }
        #expect(a == b)
        #expect(a[0][100] == 7 && a[0][0] == 7, "Relu maps the zero point and below to the output's zero point")
        // A float image where uint8 is expected is refused.
        #expect(throws: EngineError.self) {
            try fused.run([NamedTensor("x", try Tensor([Float](repeating: 0, count: 256), shape: [1, 256]))])
        }
    }

    /// Three 3×3 convolutions with ReLU on 3×10×10 images, then a linear layer to 4 scores; seeded random weights and
    /// rows, so that the one-quantum rounding differences the tolerances allow are the same on every run.
    static func smallCNN() throws -> (ONNXModel, Tensor) {
        var generator = SplitMix64(seed: 0x5EED_C0DE)
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

/// SplitMix64: a small seeded generator for reproducible test models.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
