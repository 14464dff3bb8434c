import Foundation
import SwitchyardPipeline
import SwitchyardTensor
import Testing

struct PreprocessTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/pipeline")
    static func png(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: fixtures.appendingPathComponent(name))) }

    static func pipeline(_ steps: String, inputs: [Preprocess.Input] = []) throws -> Preprocess {
        try Preprocess(pipelineJSON: #"{"preprocess": "# + steps + "}", inputs: inputs)
    }

    @Test func digitsStylePixelsAreScaledClippedAndCheckedAgainstTheModelInput() throws {
        let steps = try Self.pipeline(
            #"[{"op": "cast", "input": "X"}, {"op": "scale", "input": "X", "by": 0.0625}, {"op": "clip", "input": "X", "min": 0, "max": 16}]"#,
            inputs: [Preprocess.Input(name: "X", dtype: .float32, shape: [nil, 64])]
        )
        let pixels = try Tensor((0..<128).map { UInt8($0 * 2) }, shape: [2, 64])
        let out = try steps.apply(to: [NamedTensor("X", pixels)])
        #expect(out.count == 1)
        #expect(out[0].tensor.dtype == .float32)
        #expect(out[0].tensor.shape == [2, 64])
        let values = try out[0].tensor.scalars(as: Float.self)
        #expect(values[1] == 0.125)
        #expect(values.max() == 15.875)
        // f64 and i64 inputs are accepted too
        _ = try steps.apply(to: [NamedTensor("X", try Tensor([Double](repeating: 3, count: 64), shape: [1, 64]))])
        _ = try steps.apply(to: [NamedTensor("X", try Tensor([Int64](repeating: 3, count: 64), shape: [1, 64]))])
    }

    @Test func wrongShapesAndNamesSayWhatWasExpected() throws {
        let steps = try Self.pipeline("[]", inputs: [Preprocess.Input(name: "X", dtype: .float32, shape: [nil, 64])])
        func message(_ tensors: [NamedTensor]) -> String {
            do {
                _ = try steps.apply(to: tensors)
                return "no error"
            } catch {
                return error.message
            }
        }
        #expect(message([NamedTensor("X", try Tensor([Float](repeating: 0, count: 63), shape: [1, 63]))]).contains("expected X: f32[*,64]"))
        #expect(message([NamedTensor("pixels", try Tensor([Float](repeating: 0, count: 64), shape: [1, 64]))]).contains("unexpected input 'pixels'"))
        #expect(message([]).contains("missing input 'X'"))
        #expect(message([NamedTensor("X", try Tensor(strings: [String](repeating: "a", count: 64), shape: [1, 64]))]).contains("accepted"))
    }

    @Test func pngImagesAreDecodedAndResized() throws {
        let steps = try Self.pipeline(
            #"[{"op": "image", "input": "image", "output": "X", "channels": 1, "height": 2, "width": 2, "layout": "flat"}]"#,
            inputs: [Preprocess.Input(name: "X", dtype: .float32, shape: [nil, 4])]
        )
        var data: [UInt8] = []
        for image in [try Self.png("gray-4x4.png"), try Self.png("gray-4x4.png")] {
            let length = UInt32(image.count)
            data += withUnsafeBytes(of: length.littleEndian, Array.init) + image
        }
        let images = try Tensor(dtype: .bytes, shape: [2], data: ByteView(data))
        let out = try steps.apply(to: [NamedTensor("image", images)])
        #expect(out[0].tensor.shape == [2, 4])
        // 4x4 gradient 0..240 halved with half-pixel centres: each output pixel averages a 2x2 block
        #expect(try out[0].tensor.scalars(as: Float.self).prefix(4) == [40, 72, 168, 200])
        let rgb = try Self.pipeline(#"[{"op": "image", "input": "image", "channels": 3, "height": 2, "width": 2, "layout": "nchw"}]"#)
        let one = try Self.png("rgb-2x2.png")
        let oneData = withUnsafeBytes(of: UInt32(one.count).littleEndian, Array.init) + one
        let planes = try rgb.apply(to: [NamedTensor("image", try Tensor(dtype: .bytes, shape: [1], data: ByteView(oneData)))])
        #expect(planes[0].tensor.shape == [1, 3, 2, 2])
        #expect(try planes[0].tensor.scalars(as: Float.self) == [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255])
        // garbage instead of a PNG
        let junk = [UInt8](repeating: 7, count: 40)
        let junkData = withUnsafeBytes(of: UInt32(junk.count).littleEndian, Array.init) + junk
        #expect {
            try steps.apply(to: [NamedTensor("image", try Tensor(dtype: .bytes, shape: [1], data: ByteView(junkData)))])
        } throws: { ($0 as? PipelineError)?.message.contains("not a PNG") == true }
    }

    /// A PNG's signature, a header claiming `width` × `height` gray pixels, a tiny image data chunk (an empty zlib
    /// stream) and its end: about 70 bytes, whatever it claims.
    static func claimingPNG(width: UInt32, height: UInt32) -> [UInt8] {
        func crc32(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return ~crc
        }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return withUnsafeBytes(of: UInt32(data.count).bigEndian, Array.init) + body
                + withUnsafeBytes(of: crc32(body).bigEndian, Array.init)
        }
        let header =
            withUnsafeBytes(of: width.bigEndian, Array.init) + withUnsafeBytes(of: height.bigEndian, Array.init)
            + [8, 0, 0, 0, 0]  // 8-bit gray, no interlace
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
            + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
    }

    static func bytesTensor(_ elements: [[UInt8]]) throws -> Tensor {
        var data: [UInt8] = []
        for element in elements { data += withUnsafeBytes(of: UInt32(element.count).littleEndian, Array.init) + element }
        return try Tensor(dtype: .bytes, shape: [elements.count], data: ByteView(data))
    }

    @Test func imagesOverThePixelLimitsAreRefusedBeforeTheyAreDecoded() throws {
        var steps = try Self.pipeline(
            #"[{"op": "image", "input": "image", "output": "X", "channels": 1, "height": 2, "width": 2, "layout": "flat"}]"#
        )
        #expect(steps.hasImageStep)
        // a 50-byte PNG that claims 16384 × 16384 pixels (a quarter of a gigapixel)
        let bomb = try Self.bytesTensor([Self.claimingPNG(width: 16384, height: 16384)])
        #expect {
            try steps.apply(to: [NamedTensor("image", bomb)])
        } throws: { ($0 as? PipelineError)?.message.contains("over the limit of 16777216 pixels an image") == true }
        // per request: two 4 × 4 images are 32 pixels
        let two = try Self.bytesTensor([try Self.png("gray-4x4.png"), try Self.png("gray-4x4.png")])
        steps.pixelLimits = PixelBudget(perImage: 16, perRequest: 31)
        #expect {
            try steps.apply(to: [NamedTensor("image", two)])
        } throws: { ($0 as? PipelineError)?.message.contains("more than the limit of 31 pixels a request") == true }
        steps.pixelLimits = PixelBudget(perImage: 16, perRequest: 32)
        #expect(try steps.apply(to: [NamedTensor("image", two)])[0].tensor.shape == [2, 4])
        // raw pixels count the same way
        steps.pixelLimits = PixelBudget(perImage: 15, perRequest: 100)
        let raw = try Tensor([UInt8](repeating: 9, count: 3 * 16), shape: [3, 4, 4])
        #expect {
            try steps.apply(to: [NamedTensor("image", raw)])
        } throws: { ($0 as? PipelineError)?.message.contains("over the limit of 15 pixels an image") == true }
        steps.pixelLimits = PixelBudget(perImage: 16, perRequest: 47)
        #expect(throws: PipelineError.self) { try steps.apply(to: [NamedTensor("image", raw)]) }
        steps.pixelLimits = .defaults
        #expect(try steps.apply(to: [NamedTensor("image", raw)])[0].tensor.shape == [3, 4])
    }

    @Test func rawPixelsAreResizedBilinearly() throws {
        let steps = try Self.pipeline(#"[{"op": "image", "input": "image", "height": 4, "width": 4, "layout": "nhwc"}]"#)
        let pixels = try Tensor([UInt8(0), 100, 100, 200], shape: [1, 2, 2])
        let out = try steps.apply(to: [NamedTensor("image", pixels)])
        #expect(out[0].tensor.shape == [1, 4, 4, 1])
        let values = try out[0].tensor.scalars(as: Float.self)
        #expect(values[0] == 0)
        #expect(values[15] == 200)
        #expect(values[5] == 50)  // (1,1) samples (0.25, 0.25): 0.5625·0 + 0.375·100 + 0.0625·200
    }

    @Test func standardizeAndOneHotForTabularFeatures() throws {
        let steps = try Self.pipeline(#"""
            [{"op": "standardize", "input": "features", "mean": [10, 0, 5], "std": [2, 1, 5]},
             {"op": "onehot", "input": "features", "column": 1, "categories": [0, 1, 2]},
             {"op": "rename", "input": "features", "output": "X"}]
            """#, inputs: [Preprocess.Input(name: "X", dtype: .float32, shape: [nil, 5])])
        let rows = try Tensor([Float(12), 2, 10, 8, 0, 0], shape: [2, 3])
        let out = try steps.apply(to: [NamedTensor("features", rows)])
        #expect(try out[0].tensor.scalars(as: Float.self) == [1, 0, 0, 1, 1, -1, 1, 0, 0, -1])
        let unknown = try Tensor([Float(12), 7, 10], shape: [1, 3])
        #expect { try steps.apply(to: [NamedTensor("features", unknown)]) } throws: { ($0 as? PipelineError)?.message.contains("category 7") == true }
        let wrongStats = try Self.pipeline(#"[{"op": "normalize", "input": "f", "mean": [1, 2], "std": [1, 1]}]"#)
        #expect { try wrongStats.apply(to: [NamedTensor("f", rows)]) } throws: { ($0 as? PipelineError)?.message.contains("2 statistics") == true }
    }

    @Test func reshapeWithMinusOneAndZero() throws {
        let steps = try Self.pipeline(#"[{"op": "reshape", "input": "x", "shape": [0, -1]}]"#)
        let out = try steps.apply(to: [NamedTensor("x", try Tensor([Float](repeating: 1, count: 24), shape: [2, 3, 4]))])
        #expect(out[0].tensor.shape == [2, 12])
        let bad = try Self.pipeline(#"[{"op": "reshape", "input": "x", "shape": [5, -1]}]"#)
        #expect(throws: PipelineError.self) { try bad.apply(to: [NamedTensor("x", try Tensor([Float](repeating: 1, count: 24), shape: [2, 3, 4]))]) }
    }

    @Test(arguments: [
        (#"[{"op": "blur", "input": "x"}]"#, "unknown op"),
        (#"[{"op": "scale", "input": "x", "factor": 2}]"#, "factor"),
        (#"[{"op": "image", "input": "x", "height": 8}]"#, "width"),
        (#"[{"op": "image", "input": "x", "height": 8, "width": 8, "channels": 2}]"#, "channels"),
        (#"[{"op": "normalize", "input": "x", "mean": [0], "std": [0]}]"#, "std"),
        (#"[{"op": "reshape", "input": "x", "shape": [-1, -1]}]"#, "-1"),
        (#"[{"op": "clip", "input": "x", "min": 2, "max": 1}]"#, "min"),
    ])
    func brokenStepsAreRefusedWithTheirKey(_ steps: String, _ mentioned: String) {
        #expect {
            try Self.pipeline(steps)
        } throws: { error in
            guard let error = error as? PipelineError else { return false }
            return error.code == .invalidConfig && error.message.contains(mentioned)
        }
    }
}
