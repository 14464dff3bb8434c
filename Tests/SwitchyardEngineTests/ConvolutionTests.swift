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
        // Depthwise row kernel: wide, even, dilated and strided filters, pads wider than the stride.
        Geometry(channels: 6, filters: 6, group: 6, size: 11, kernel: 5, stride: 1, pad: 2, dilation: 1, relu: true),
        Geometry(channels: 4, filters: 4, group: 4, size: 9, kernel: 3, stride: 1, pad: 2, dilation: 2, bias: false),
        Geometry(channels: 3, filters: 3, group: 3, size: 10, kernel: 3, stride: 3, pad: 0, dilation: 1),
        Geometry(channels: 5, filters: 5, group: 5, size: 9, kernel: 4, stride: 2, pad: 3, dilation: 1, relu: true),
        Geometry(channels: 2, filters: 2, group: 2, size: 1, kernel: 3, stride: 1, pad: 1, dilation: 1),
    ]

    /// MaxPool on the row kernel against a direct loop: strides, pads, dilations, ceil mode, NaN (which wins).
    @Test(arguments: [
        (size: 9, kernel: 3, stride: 2, pad: 1, dilation: 1, ceil: false),
        (size: 10, kernel: 2, stride: 3, pad: 0, dilation: 1, ceil: true),
        (size: 8, kernel: 3, stride: 1, pad: 2, dilation: 2, ceil: false),
        (size: 7, kernel: 4, stride: 2, pad: 2, dilation: 1, ceil: true),
    ])
    func maxPoolMatchesADirectLoop(
        _ g: (size: Int, kernel: Int, stride: Int, pad: Int, dilation: Int, ceil: Bool)
    )
        throws
    {
        var factory = GraphFactory()
        factory.input("x", [nil, 3, g.size, g.size])
        factory.node(
            "MaxPool",
            ["x"],
            ["y"],
            ints: ["ceil_mode": g.ceil ? 1 : 0],
            lists: [
                "kernel_shape": [Int64(g.kernel), Int64(g.kernel)], "strides": [Int64(g.stride), Int64(g.stride)],
                "pads": Array(repeating: Int64(g.pad), count: 4),
                "dilations": [Int64(g.dilation), Int64(g.dilation)],
            ]
        )
        factory.output("y")
        let model = try Model(bytes: try factory.bytes())
        var random = SystemRandomNumberGenerator()
        let batch = 2
        var x = (0..<(batch * 3 * g.size * g.size)).map { _ in Float.random(in: -1...1, using: &random) }
        x[5] = .nan
        let y = try model.run([NamedTensor("x", try Tensor(x, shape: [batch, 3, g.size, g.size]))])[0].tensor
        let extent = (g.kernel - 1) * g.dilation + 1
        let span = g.size + 2 * g.pad - extent
        var out = (g.ceil ? (span + g.stride - 1) / g.stride : span / g.stride) + 1
        if g.ceil && (out - 1) * g.stride >= g.size + g.pad { out -= 1 }
        try #require(y.shape == [batch, 3, out, out])
        let got = try y.scalars(as: Float.self)
        for plane in 0..<(batch * 3) {
            for oy in 0..<out {
                for ox in 0..<out {
                    var best = -Float.infinity
                    for ky in 0..<g.kernel {
                        for kx in 0..<g.kernel {
                            let iy = oy * g.stride - g.pad + ky * g.dilation
                            let ix = ox * g.stride - g.pad + kx * g.dilation
                            guard iy >= 0, iy < g.size, ix >= 0, ix < g.size else { continue }
                            let value = x[(plane * g.size + iy) * g.size + ix]
                            if value > best || value.isNaN { best = value }
                        }
                    }
                    let actual = got[(plane * out + oy) * out + ox]
                    #expect(actual == best || (actual.isNaN && best.isNaN), "plane \(plane) (\(oy), \(ox))")
                }
            }
        }
    }

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
