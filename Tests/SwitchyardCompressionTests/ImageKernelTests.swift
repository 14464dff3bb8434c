import SwitchyardCompression
@testable import SwitchyardEngine
import SwitchyardTensor
import Testing

/// The dynamic int8 convolution's image kernels (quantize-and-transpose in, rescale-and-transpose out) give the
/// operators' exact bits on both of their paths (AVX-512 and scalar), NaN and infinities included, at sizes that are
/// not multiples of the vector width.
@Suite(.serialized)
struct ImageKernelTests {
    static let shapes = [(1, 3, 35), (2, 20, 33), (1, 64, 256), (3, 17, 1)]

    func values(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SplitMix64(seed: seed)
        var values = (0..<count).map { _ in Float.random(in: -3...5, using: &generator) }
        for (index, special) in [Float.nan, .infinity, -.infinity, 0, -0.0, 1e30].enumerated()
        where index * 7 < count {
            values[index * 7] = special
        }
        return values
    }

    /// The first index where two answers differ, with both values, or nil: short failure messages.
    func firstDifference<T: Equatable>(_ answer: [T], _ reference: [T]) -> String? {
        guard answer.count == reference.count else { return "\(answer.count) values, not \(reference.count)" }
        guard let index = answer.indices.first(where: { answer[$0] != reference[$0] }) else { return nil }
        return "at \(index): \(answer[index]), not \(reference[index])"
    }

    /// DynamicQuantizeLinear's scale and zero point as the engine computed them in Swift before the vector kernels.
    static func referenceRange(_ x: [Float]) -> (Float, UInt8) {
        var low: Float = 0
        var high: Float = 0
        for value in x where value.isFinite {
            low = min(low, value)
            high = max(high, value)
        }
        let scale = high == low ? 1 : (high - low) / 255
        return (scale, UInt8(saturate((0 - low / scale).rounded(.toNearestOrEven), .uint8)))
    }

    /// saturate(round_half_even(x / scale) + zero) as the engine computed it in Swift before the vector kernels.
    static func referenceQuantize(_ x: [Float], scale: Float, zero: UInt8) -> [UInt8] {
        x.map { UInt8(saturate((min(max($0 / scale, -65536), 65536)).rounded(.toNearestOrEven) + Float(zero), .uint8)) }
    }

    func onBothPaths<T: Equatable>(_ body: () -> T) -> (vector: T, scalar: T) {
        let previous = ImageKernels.useVector(true)
        defer { _ = ImageKernels.useVector(previous) }
        let vector = body()
        _ = ImageKernels.useVector(false)
        return (vector, body())
    }

    @Test(arguments: shapes)
    func quantizingChannelsLastIsDynamicQuantizeLinearTransposed(batch: Int, channels: Int, pixels: Int) {
        let count = batch * channels * pixels
        let x = self.values(count, seed: UInt64(count))
        let (scale, zero) = Self.referenceRange(x)
        let planar = Self.referenceQuantize(x, scale: scale, zero: zero)
        var expected = [UInt8](repeating: 0, count: count)
        for image in 0..<batch {
            for channel in 0..<channels {
                for pixel in 0..<pixels {
                    let base = image * channels * pixels
                    expected[base + pixel * channels + channel] = planar[base + channel * pixels + pixel]
                }
            }
        }
        struct Answer: Equatable {
            var scale: Float
            var zero: UInt8
            var bytes: [UInt8]
        }
        let answers = self.onBothPaths { () -> Answer in
            var out = [UInt8](repeating: 0xAA, count: count)
            let (scale, zero) = x.withUnsafeBufferPointer { source in
                out.withUnsafeMutableBufferPointer {
                    ImageKernels.quantizeChannelsLast(
                        source.baseAddress!,
                        batch: batch,
                        channels: channels,
                        pixels: pixels,
                        into: $0.baseAddress!
                    )
                }
            }
            return Answer(scale: scale, zero: zero, bytes: out)
        }
        for answer in [answers.vector, answers.scalar] {
            #expect(answer.scale == scale && answer.zero == zero, "\(answer.scale) \(answer.zero)")
            #expect(self.firstDifference(answer.bytes, expected) == nil)
        }
    }

    @Test(arguments: shapes)
    func rescalingIsMulAddActivationTransposed(batch: Int, channels: Int, pixels: Int) throws {
        let count = batch * channels * pixels
        let x = self.values(count, seed: UInt64(count) + 1)
        let bias = self.values(channels, seed: 9).map { $0.isFinite ? $0 : 0.25 }
        let scale: Float = 0.0173
        for activations in [[], [Activation.relu], [.clip(-0.5, 0.7)]] {
            for bias in [bias, nil] {
                var expected = [Float](repeating: 0, count: count)
                for image in 0..<batch {
                    for channel in 0..<channels {
                        for pixel in 0..<pixels {
                            let base = image * channels * pixels
                            let value = x[base + pixel * channels + channel]
                            expected[base + channel * pixels + pixel] = value * scale + (bias?[channel] ?? 0)
                        }
                    }
                }
                for activation in activations { apply(activation, &expected, count) }
                let epilogue = try #require(ImageEpilogue(activations))
                let answers = self.onBothPaths { () -> [UInt32] in
                    var out = [Float](repeating: 7, count: count)
                    x.withUnsafeBufferPointer { source in
                        epilogue.run(
                            source.baseAddress!,
                            batch: batch,
                            channels: channels,
                            pixels: pixels,
                            scale: scale,
                            bias: bias,
                            into: &out
                        )
                    }
                    return out.map(\.bitPattern)
                }
                let reference = expected.map(\.bitPattern)
                for (path, answer) in [("vector", answers.vector), ("scalar", answers.scalar)] {
                    let difference = self.firstDifference(answer, reference)
                    #expect(difference == nil, "\(path), \(activations), bias \(bias != nil)")
                }
            }
        }
        #expect(ImageEpilogue([.relu, .relu]) == nil && ImageEpilogue([.sigmoid]) == nil)
    }

    /// QuantizeLinear per tensor and DynamicQuantizeLinear's range (the engine's `quantizeUInt8` and
    /// `dynamicQuantization`) at lengths around the vector width, NaN and infinities included.
    @Test(arguments: [1, 15, 16, 17, 100, 4099])
    func quantizingIsSaturatedRoundHalfEven(count: Int) {
        var x = self.values(count, seed: UInt64(count) + 5)
        if count > 3 { x[count - 1] = 2.5 * 0.02 }  // a tie at scale 0.02: rounds to even
        let range = self.onBothPaths { () -> [Float] in
            let (scale, zero) = x.withUnsafeBufferPointer { dynamicQuantization($0.baseAddress!, count) }
            return [scale, Float(zero)]
        }
        let (scale, zero) = Self.referenceRange(x)
        #expect(range.vector == [scale, Float(zero)] && range.scalar == [scale, Float(zero)])
        for (scale, zero) in [(Float(0.02), UInt8(0)), (0.02, 128), (scale, zero)] {
            let answers = self.onBothPaths { () -> [UInt8] in
                var out = [UInt8](repeating: 0xAA, count: count)
                x.withUnsafeBufferPointer { quantizeUInt8($0.baseAddress!, count, scale: scale, zero: zero, &out) }
                return out
            }
            let reference = Self.referenceQuantize(x, scale: scale, zero: zero)
            #expect(self.firstDifference(answers.vector, reference) == nil, "scale \(scale), zero \(zero)")
            #expect(self.firstDifference(answers.scalar, reference) == nil, "scale \(scale), zero \(zero)")
        }
    }

    /// The NCHW ↔ NHWC moves around oneDNN's kernels, for 1- and 4-byte elements, both ways.
    @Test(arguments: shapes)
    func layoutMovesTranspose(batch: Int, channels: Int, pixels: Int) {
        let count = batch * channels * pixels
        let words = (0..<count).map { UInt32(truncatingIfNeeded: $0 &* 2_654_435_761) }
        for size in [1, 4] {
            for toChannelsLast in [true, false] {
                let (rows, columns) = toChannelsLast ? (channels, pixels) : (pixels, channels)
                var expected = [UInt32](repeating: 0, count: count)
                for image in 0..<batch {
                    let base = image * count / batch
                    for r in 0..<rows {
                        for c in 0..<columns { expected[base + c * rows + r] = words[base + r * columns + c] }
                    }
                }
                if size == 1 { expected = expected.map { $0 & 0xFF } }
                let move = LayoutMove.transpose(
                    batch: batch,
                    channels: channels,
                    pixels: pixels,
                    elementSize: size,
                    toChannelsLast: toChannelsLast
                )
                let answers = self.onBothPaths { () -> [UInt32] in
                    if size == 1 {
                        let source = words.map { UInt8($0 & 0xFF) }
                        var target = [UInt8](repeating: 0, count: count)
                        source.withUnsafeBytes { from in
                            target.withUnsafeMutableBytes { to in
                                try? move.run(
                                    from.baseAddress!,
                                    to.baseAddress!,
                                    threads: 1,
                                    scratch: to.baseAddress!,
                                    what: "test"
                                )
                            }
                        }
                        return target.map { UInt32($0) }
                    }
                    var target = [UInt32](repeating: 0, count: count)
                    words.withUnsafeBytes { from in
                        target.withUnsafeMutableBytes { to in
                            try? move.run(
                                from.baseAddress!,
                                to.baseAddress!,
                                threads: 1,
                                scratch: to.baseAddress!,
                                what: "test"
                            )
                        }
                    }
                    return target
                }
                #expect(self.firstDifference(answers.vector, expected) == nil, "\(size) bytes, \(toChannelsLast)")
                #expect(self.firstDifference(answers.scalar, expected) == nil, "\(size) bytes, \(toChannelsLast)")
            }
        }
    }

    /// The dynamic CNN through the engine: the same answers with the vector and scalar image kernels.
    @Test func dynamicConvolutionsAnswerAlikeOnBothPaths() throws {
        let (model, data) = try QuantizedKernelTests.smallCNN()
        let result = try Quantizer.quantize(model, options: QuantizationOptions(mode: .dynamic))
        let engine = try Model(bytes: try result.model.serialized())
        #expect(engine.graph.nodes.filter { $0.opType == "QuantizedConv" }.count == 3)
        let answers = self.onBothPaths { () -> [Float] in
            (try? engine.run([NamedTensor("image", data)], outputNames: ["scores"])[0].tensor.scalars(as: Float.self))
                ?? []
        }
        #expect(!answers.vector.isEmpty)
        #expect(self.firstDifference(answers.vector.map(\.bitPattern), answers.scalar.map(\.bitPattern)) == nil)
    }
}
