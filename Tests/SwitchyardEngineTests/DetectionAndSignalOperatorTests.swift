import SwitchyardEngine
import SwitchyardTensor
import Testing

/// NonMaxSuppression, RoiAlign, Unique, Det, DFT, STFT, MelWeightMatrix, ConvInteger, QLinearConv, MaxUnpool,
/// Col2Im and AffineGrid given bad shapes, attributes or data: a clear error naming the node, never a crash, and the
/// model keeps serving good requests.
struct DetectionAndSignalOperatorTests {
    private func loadError(_ factory: GraphFactory) throws -> EngineError {
        try #require(throws: EngineError.self) { try Model(bytes: try factory.bytes(), source: "test.onnx") }
    }

    private static func nms(boxes: [Int?], scores: [Int?]) -> GraphFactory {
        var factory = GraphFactory()
        factory.input("boxes", boxes)
        factory.input("scores", scores)
        factory.int64s("limit", [2])
        factory.floats("iou", [1], [0.5])
        factory.node("NonMaxSuppression", ["boxes", "scores", "limit", "iou"], ["selected"])
        factory.output("selected", nil, type: 7)
        return factory
    }

    @Test func nonMaxSuppressionSelectsByScoreAndOverlap() throws {
        let model = try Model(bytes: try Self.nms(boxes: [1, 3, 4], scores: [1, 1, 3]).bytes(), source: "nms.onnx")
        // Boxes 0 and 1 overlap (IoU 0.9); box 2 is apart. Scores: 1 > 0 > 2.
        let boxes = try Tensor([Float(0), 0, 10, 10, 0, 1, 10, 10, 20, 20, 30, 30], shape: [1, 3, 4])
        let scores = try Tensor([Float(0.8), 0.9, 0.1], shape: [1, 1, 3])
        let selected = try model.run([NamedTensor("boxes", boxes), NamedTensor("scores", scores)])[0].tensor
        #expect(selected.shape == [2, 3])
        #expect(try selected.scalars(as: Int64.self) == [0, 0, 1, 0, 0, 2])
    }

    @Test func nonMaxSuppressionRefusesBoxesAndScoresThatDisagree() throws {
        let error = try self.loadError(Self.nms(boxes: [1, 5, 3], scores: [1, 2, 5]))
        #expect(error.message.contains("nonmaxsuppression_0") && error.message.contains("[batches, boxes, 4]"))
        let other = try self.loadError(Self.nms(boxes: [1, 5, 4], scores: [1, 2, 6]))
        #expect(other.message.contains("scores must be [1, classes, 5]"), "\(other.message)")
    }

    private static func roiAlign(mode: String = "avg") -> GraphFactory {
        var factory = GraphFactory()
        factory.input("x", [1, 2, 4, 4])
        factory.input("rois", [1, 4])
        factory.input("batch", [1], type: 7)
        factory.node(
            "RoiAlign",
            ["x", "rois", "batch"],
            ["y"],
            ints: ["output_height": 2, "output_width": 2],
            texts: ["mode": mode]
        )
        factory.output("y", [1, 2, 2, 2])
        return factory
    }

    @Test func roiAlignBatchIndexOutsideTheBatchIsAnInputError() throws {
        let model = try Model(bytes: try Self.roiAlign().bytes(), source: "roi.onnx")
        let x = NamedTensor("x", try Tensor([Float](repeating: 1, count: 32), shape: [1, 2, 4, 4]))
        let rois = NamedTensor("rois", try Tensor([Float(0), 0, 3, 3], shape: [1, 4]))
        let error = try #require(throws: EngineError.self) {
            try model.run([x, rois, NamedTensor("batch", try Tensor([Int64(5)]))])
        }
        #expect(error.code == .invalidInput)
        #expect(error.message.contains("batch index 5"), "\(error.message)")
        let good = try model.run([x, rois, NamedTensor("batch", try Tensor([Int64(0)]))])[0].tensor
        #expect(try good.scalars(as: Float.self) == [Float](repeating: 1, count: 8))
    }

    @Test func roiAlignUnknownModeIsRefused() throws {
        let error = try self.loadError(Self.roiAlign(mode: "median"))
        #expect(error.message.contains("mode must be avg or max"), "\(error.message)")
    }

    @Test func uniqueAxisOutOfRangeIsRefused() throws {
        var factory = GraphFactory()
        factory.input("x", [nil, 3])
        factory.node("Unique", ["x"], ["y"], ints: ["axis": 5])
        factory.output("y", nil)
        let error = try self.loadError(factory)
        #expect(error.message.contains("unique_0") && error.message.contains("axis 5"), "\(error.message)")
    }

    @Test func uniqueSortsAndCounts() throws {
        var factory = GraphFactory()
        factory.input("x", [nil])
        factory.node("Unique", ["x"], ["y", "indices", "inverse", "counts"])
        factory.output("y", nil)
        factory.output("indices", nil, type: 7)
        factory.output("inverse", nil, type: 7)
        factory.output("counts", nil, type: 7)
        let model = try Model(bytes: try factory.bytes(), source: "unique.onnx")
        let outputs = try model.run([NamedTensor("x", try Tensor([Float(2), 1, 1, 3, 4, 3]))])
        #expect(try outputs[0].tensor.scalars(as: Float.self) == [1, 2, 3, 4])
        #expect(try outputs[1].tensor.scalars(as: Int64.self) == [1, 0, 3, 4])
        #expect(try outputs[2].tensor.scalars(as: Int64.self) == [1, 0, 0, 2, 3, 2])
        #expect(try outputs[3].tensor.scalars(as: Int64.self) == [2, 1, 2, 1])
    }

    @Test func detOfANonSquareMatrixIsRefused() throws {
        var factory = GraphFactory()
        factory.input("x", [2, 3])
        factory.node("Det", ["x"], ["y"])
        factory.output("y", nil)
        let error = try self.loadError(factory)
        #expect(error.message.contains("[..., M, M]"), "\(error.message)")
    }

    @Test func dftAlongTheRealImaginaryAxisIsRefused() throws {
        var factory = GraphFactory()
        factory.input("x", [1, 8, 1])
        factory.node("DFT", ["x"], ["y"], ints: ["axis": -1])
        factory.output("y", nil)
        let error = try self.loadError(factory)
        #expect(error.message.contains("may not be the last"), "\(error.message)")
    }

    @Test func stftFrameLongerThanTheSignalIsRefused() throws {
        var factory = GraphFactory()
        factory.input("x", [1, 10, 1])
        factory.int64s("step", [4])
        factory.int64s("length", [20])
        factory.node("STFT", ["x", "step", "", "length"], ["y"])
        factory.output("y", nil)
        let error = try self.loadError(factory)
        #expect(error.message.contains("frame_length 20"), "\(error.message)")
    }

    @Test func convIntegerWeightsThatDoNotFitTheChannelsAreRefused() throws {
        var factory = GraphFactory()
        factory.input("x", [1, 3, 5, 5], type: 2)
        factory.integers("w", [2, 2, 3, 3], type: 2, [Int64](repeating: 1, count: 36))
        factory.node("ConvInteger", ["x", "w"], ["y"])
        factory.output("y", nil, type: 6)
        let error = try self.loadError(factory)
        #expect(error.message.contains("do not fit 3 input channels"), "\(error.message)")
    }

    private static func qlinearConv(wScales: Int) -> GraphFactory {
        var factory = GraphFactory()
        factory.input("x", [1, 1, 3, 3], type: 2)
        factory.floats("xs", [], [0.5])
        factory.integers("xz", [], type: 2, [10])
        factory.integers("w", [2, 1, 2, 2], type: 3, [1, 2, 3, 4, -1, -2, -3, -4])
        factory.floats("ws", wScales == 1 ? [] : [wScales], [Float](repeating: 0.25, count: wScales))
        factory.integers("wz", [], type: 3, [0])
        factory.floats("ys", [], [0.5])
        factory.integers("yz", [], type: 2, [100])
        factory.node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
        factory.output("y", nil, type: 2)
        return factory
    }

    @Test func qlinearConvRequantizesAndSaturates() throws {
        let model = try Model(bytes: try Self.qlinearConv(wScales: 2).bytes(), source: "q.onnx")
        let x = try Tensor([UInt8](repeating: 14, count: 9), shape: [1, 1, 3, 3])  // x − xz = 4 everywhere
        let y = try model.run([NamedTensor("x", x)])[0].tensor
        // filter 0: 4·(1+2+3+4) = 40 → 40·0.5·0.25/0.5 = 10 → 110; filter 1: −10 → 90.
        #expect(y.shape == [1, 2, 2, 2])
        #expect(try y.scalars(as: UInt8.self) == [110, 110, 110, 110, 90, 90, 90, 90])
    }

    @Test func qlinearConvPerChannelScalesOfTheWrongCountAreRefused() throws {
        let error = try self.loadError(Self.qlinearConv(wScales: 3))
        #expect(error.message.contains("w_scale must hold one value or one per filter (2)"), "\(error.message)")
    }

    @Test func maxUnpoolIndexOutsideTheOutputIsAnInputError() throws {
        var factory = GraphFactory()
        factory.input("x", [1, 1, 2, 2])
        factory.input("i", [1, 1, 2, 2], type: 7)
        factory.node("MaxUnpool", ["x", "i"], ["y"], lists: ["kernel_shape": [2, 2], "strides": [2, 2]])
        factory.output("y", [1, 1, 4, 4])
        let model = try Model(bytes: try factory.bytes(), source: "unpool.onnx")
        let x = NamedTensor("x", try Tensor([Float(5), 6, 7, 8], shape: [1, 1, 2, 2]))
        let error = try #require(throws: EngineError.self) {
            try model.run([x, NamedTensor("i", try Tensor([Int64(0), 2, 8, 16], shape: [1, 1, 2, 2]))])
        }
        #expect(error.code == .invalidInput && error.message.contains("index 16"), "\(error.message)")
        let y = try model.run([x, NamedTensor("i", try Tensor([Int64(0), 3, 12, 15], shape: [1, 1, 2, 2]))])[0]
        #expect(try y.tensor.scalars(as: Float.self) == [5, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 8])
    }

    @Test func col2ImWithTheWrongNumberOfBlocksIsRefused() throws {
        var factory = GraphFactory()
        factory.opset = 18
        factory.input("x", [1, 4, 5])
        factory.int64s("image", [3, 3])
        factory.int64s("block", [2, 2])
        factory.node("Col2Im", ["x", "image", "block"], ["y"])
        factory.output("y", nil)
        let error = try self.loadError(factory)
        #expect(error.message.contains("has 5 blocks") && error.message.contains("give 4"), "\(error.message)")
    }

    @Test func affineGridThetaOfTheWrongShapeIsRefused() throws {
        var factory = GraphFactory()
        factory.opset = 20
        factory.input("theta", [2, 3, 3])
        factory.int64s("size", [2, 1, 4, 4])
        factory.node("AffineGrid", ["theta", "size"], ["grid"])
        factory.output("grid", nil)
        let error = try self.loadError(factory)
        #expect(error.message.contains("theta must be [2, 2, 3]"), "\(error.message)")
    }

    @Test func melWeightMatrixPastTheSpectrumIsRefused() throws {
        var factory = GraphFactory()
        factory.int64s("bins", [8])
        factory.int64s("length", [16])
        factory.int64s("rate", [8000])
        factory.floats("low", [], [0])
        factory.floats("high", [], [40000])
        factory.input("x", [1])
        factory.node("MelWeightMatrix", ["bins", "length", "rate", "low", "high"], ["m"])
        factory.node("Identity", ["x"], ["y"])
        factory.output("m", nil)
        factory.output("y", nil)
        let error = try self.loadError(factory)
        #expect(error.message.contains("past the spectrum"), "\(error.message)")
    }
}
