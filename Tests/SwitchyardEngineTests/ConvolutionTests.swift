import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// 2-D convolutions of every geometry the CNNs use against a direct loop, on oneDNN (where it has vector kernels for
/// the CPU) and on im2col over OpenBLAS: strides, pads, dilations, groups, depthwise, 1×1, bias and a fused Relu, at
/// batch 1 and 3 (two plans sharing the weights oneDNN reordered).
struct ConvolutionTests {
    struct Geometry: Sendable, CustomStringConvertible {
        var channels, filters, group, size, kernel, stride, pad, dilation: Int
        var bias = true
        var relu = false
        var description: String {
            "c\(channels) f\(filters) g\(group) \(size)px k\(kernel) s\(stride) p\(pad) d\(dilation)"
                + (bias ? " bias" : "") + (relu ? " relu" : "")
        }
    }

    static let geometries: [Geometry] = [
        Geometry(
            channels: 3,
            filters: 16,
            group: 1,
            size: 17,
            kernel: 7,
            stride: 2,
            pad: 3,
            dilation: 1,
            relu: true
        ),
        Geometry(
            channels: 16,
            filters: 32,
            group: 1,
            size: 9,
            kernel: 3,
            stride: 1,
            pad: 1,
            dilation: 1,
            relu: true
        ),
        Geometry(
            channels: 32,
            filters: 24,
            group: 1,
            size: 8,
            kernel: 1,
            stride: 1,
            pad: 0,
            dilation: 1,
            bias: false
        ),
        Geometry(
            channels: 24,
            filters: 24,
            group: 24,
            size: 10,
            kernel: 3,
            stride: 2,
            pad: 1,
            dilation: 1,
            relu: true
        ),
        Geometry(
            channels: 8,
            filters: 12,
            group: 4,
            size: 7,
            kernel: 3,
            stride: 1,
            pad: 2,
            dilation: 2
        ),
        Geometry(channels: 5, filters: 7, group: 1, size: 6, kernel: 2, stride: 3, pad: 0, dilation: 1),
    ]

    @Test(arguments: geometries, [true, false])
    func matchesADirectLoop(_ g: Geometry, oneDNN: Bool) throws {
        var random = SystemRandomNumberGenerator()
        func values(_ count: Int) -> [Float] {
            (0..<count).map { _ in Float.random(in: -1...1, using: &random) }
        }
        let perGroup = g.channels / g.group
        let weights = values(g.filters * perGroup * g.kernel * g.kernel)
        let bias = values(g.filters)
        var factory = GraphFactory()
        factory.input("x", [nil, g.channels, g.size, g.size])
        factory.floats("w", [g.filters, perGroup, g.kernel, g.kernel], weights)
        factory.floats("b", [g.filters], bias)
        factory.node(
            "Conv",
            g.bias ? ["x", "w", "b"] : ["x", "w"],
            [g.relu ? "c" : "y"],
            ints: ["group": Int64(g.group)],
            lists: [
                "strides": [Int64(g.stride), Int64(g.stride)],
                "pads": Array(repeating: Int64(g.pad), count: 4),
                "dilations": [Int64(g.dilation), Int64(g.dilation)],
            ]
        )
        if g.relu { factory.node("Relu", ["c"], ["y"]) }
        factory.output("y")
        let model = try Model(
            bytes: try factory.bytes(),
            options: .defaults { $0.oneDNNConvolution = oneDNN }
        )
        for batch in [1, 3] {
            let x = values(batch * g.channels * g.size * g.size)
            let y = try model.run([
                NamedTensor("x", try Tensor(x, shape: [batch, g.channels, g.size, g.size]))
            ])[0].tensor
            let extent = (g.kernel - 1) * g.dilation + 1
            let out = (g.size + 2 * g.pad - extent) / g.stride + 1
            try #require(y.shape == [batch, g.filters, out, out])
            let got = try y.scalars(as: Float.self)
            let filtersPerGroup = g.filters / g.group
            var worst: Float = 0
            for n in 0..<batch {
                for f in 0..<g.filters {
                    let group = f / filtersPerGroup
                    for oy in 0..<out {
                        for ox in 0..<out {
                            var sum = g.bias ? bias[f] : 0
                            for c in 0..<perGroup {
                                let channel = group * perGroup + c
                                for ky in 0..<g.kernel {
                                    for kx in 0..<g.kernel {
                                        let iy = oy * g.stride - g.pad + ky * g.dilation
                                        let ix = ox * g.stride - g.pad + kx * g.dilation
                                        guard iy >= 0, iy < g.size, ix >= 0, ix < g.size else { continue }
                                        sum +=
                                            weights[((f * perGroup + c) * g.kernel + ky) * g.kernel + kx]
                                            * x[((n * g.channels + channel) * g.size + iy) * g.size + ix]
                                    }
                                }
                            }
                            if g.relu { sum = max(sum, 0) }
                            let index = ((n * g.filters + f) * out + oy) * out + ox
                            worst = max(worst, abs(got[index] - sum))
                        }
                    }
                }
            }
            #expect(worst <= 1e-4, "batch \(batch): max abs difference \(worst)")
        }
    }
}
