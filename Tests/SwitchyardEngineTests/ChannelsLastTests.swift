import Foundation
import SwitchyardTensor
import Testing

@testable import SwitchyardEngine

/// Images kept channels-last between oneDNN layers (``ChannelsLast``) give the answers of the NCHW path (each layer
/// moved in and out; checked against direct loops in ``ConvolutionTests``), on odd image sizes and batches, through
/// the layers CNNs chain: strided, depthwise and 1×1 convolutions with Clip and Relu, a residual Add, MaxPool in
/// ceil mode, a squeeze-excite branch (GlobalAveragePool → 1×1 → Sigmoid → Mul broadcast over the image), a
/// scalar Mul, GlobalAveragePool at the end; an intermediate image that is also a graph output stays NCHW.
struct ChannelsLastTests {
    /// The model's bytes (random weights, made once so that both paths load the same file).
    private static func bytes() throws -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -0.5...0.5, using: &random) } }
        var factory = GraphFactory()
        factory.input("x", [nil, 3, nil, nil])
        func conv(
            _ input: String,
            _ output: String,
            _ channels: Int,
            _ filters: Int,
            kernel: Int,
            stride: Int = 1,
            group: Int = 1
        ) {
            let shape = [filters, channels / group, kernel, kernel]
            factory.floats(output + "_w", shape, values(shape.reduce(1, *)))
            factory.floats(output + "_b", [filters], values(filters))
            factory.node(
                "Conv",
                [input, output + "_w", output + "_b"],
                [output],
                ints: ["group": Int64(group)],
                lists: [
                    "strides": [Int64(stride), Int64(stride)],
                    "pads": Array(repeating: Int64(kernel / 2), count: 4),
                ]
            )
        }
        factory.floats("low", [], [0])
        factory.floats("high", [], [6])
        factory.floats("half", [], [0.5])
        conv("x", "c1", 3, 16, kernel: 3, stride: 2)
        factory.node("Clip", ["c1", "low", "high"], ["a1"])
        conv("a1", "c2", 16, 16, kernel: 3, group: 16)
        factory.node("Clip", ["c2", "low", "high"], ["a2"])
        conv("a2", "c3", 16, 16, kernel: 1)
        factory.node("Add", ["a1", "c3"], ["r1"])
        factory.node(
            "MaxPool",
            ["r1"],
            ["p1"],
            ints: ["ceil_mode": 1],
            lists: ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 0, 1]]
        )
        conv("p1", "c4", 16, 24, kernel: 5, stride: 1)
        factory.node("Relu", ["c4"], ["a4"])
        factory.node("GlobalAveragePool", ["a4"], ["s1"])
        conv("s1", "s2", 24, 24, kernel: 1)
        factory.node("Sigmoid", ["s2"], ["s3"])
        factory.node("Mul", ["a4", "s3"], ["e1"])
        factory.node("Mul", ["e1", "half"], ["e2"])
        conv("e2", "c5", 24, 8, kernel: 1)
        factory.node("GlobalAveragePool", ["c5"], ["y"])
        factory.output("y")
        factory.output("a2")
        return try factory.bytes()
    }

    @Test func matchesTheNCHWPath() throws {
        guard OneDNN.isUsable else { return }
        var random = SystemRandomNumberGenerator()
        let bytes = try Self.bytes()
        let planar = try Model(bytes: bytes, options: .defaults { $0.channelsLast = false })
        let channelsLast = try Model(bytes: bytes)
        // c2, c4, c5 read channels-last images; c1, c3, c4, s2, c5 make them (a2 is a graph output: NCHW).
        let convolutions = channelsLast.graph.nodes.compactMap { $0.op as? ConvOp }
        #expect(convolutions.filter(\.sourceChannelsLast).count == 3)
        #expect(convolutions.filter(\.resultChannelsLast).count == 5)
        #expect(channelsLast.graph.nodes.contains { ($0.op as? PoolOp)?.channelsLast == true })
        #expect(channelsLast.graph.nodes.filter { $0.op is ChannelsLastElementwise }.count == 3)
        #expect(planar.graph.nodes.contains { $0.op is ChannelsLastElementwise } == false)
        for (batch, height, width) in [(1, 13, 11), (3, 9, 16), (2, 3, 5)] {
            let count = batch * 3 * height * width
            let x = (0..<count).map { _ in Float.random(in: -1...1, using: &random) }
            let feed = [NamedTensor("x", try Tensor(x, shape: [batch, 3, height, width]))]
            let expected = try planar.run(feed)
            let got = try channelsLast.run(feed)
            for (want, have) in zip(expected, got) {
                try #require(want.tensor.shape == have.tensor.shape, "\(want.name)")
                let a = try want.tensor.scalars(as: Float.self)
                let b = try have.tensor.scalars(as: Float.self)
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                #expect(worst <= 1e-4, "\(want.name) batch \(batch) \(height)×\(width): max abs difference \(worst)")
            }
        }
    }
}
