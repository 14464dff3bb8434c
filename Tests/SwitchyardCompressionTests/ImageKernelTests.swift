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
        let (scale, zero) = x.withUnsafeBufferPointer { dynamicQuantization($0.baseAddress!, count) }
        var planar = [UInt8](repeating: 0, count: count)
        x.withUnsafeBufferPointer { quantizeUInt8($0.baseAddress!, count, scale: scale, zero: zero, &planar) }
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
