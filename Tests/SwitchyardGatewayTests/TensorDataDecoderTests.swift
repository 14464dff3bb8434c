import Foundation
import SwitchyardTensor
import Testing

@testable import SwitchyardGateway

struct TensorDataDecoderTests {
    private func decode(_ data: String, _ dtype: DType, _ shape: [Int]) throws(GatewayError) -> Tensor {
        let text = "{\"data\": \(data)}"
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer { (buffer) throws(GatewayError) in
            let raw = UnsafeRawBufferPointer(buffer)
            guard case .deferred(let range) = try JSONParser.parse(raw)["data"] else {
                throw GatewayError(.invalidRequest, "not deferred")
            }
            let view = try TensorDataDecoder.decode(raw, range: range, dtype: dtype, shape: Shape(shape), name: "x")
            do throws(TensorError) { return try Tensor(dtype: dtype, shape: Shape(shape), data: view) } catch {
                throw GatewayError(.invalidRequest, error.message)
            }
        }
    }

    @Test func decodesEveryDatatype() throws {
        #expect(try self.decode("[1.5, -2, 3e2]", .float32, [3]).scalars(as: Float.self) == [1.5, -2, 300])
        #expect(try self.decode("[1.5, -2, 1e-300]", .float64, [3]).scalars(as: Double.self) == [1.5, -2, 1e-300])
        let halves = try self.decode("[0.5, -65504]", .float16, [2]).data.withUnsafeBytes { raw in
            (0..<2).map { Float16(bitPattern: raw.load(fromByteOffset: $0 * 2, as: UInt16.self)) }
        }
        #expect(halves == [0.5, -65504])
        // bfloat16: the float's top 16 bits, rounded to nearest even (1.00390625 is a tie, kept even at 1.0)
        let brains = try self.decode("[1, -2.5, 3.140625, 1.00390625, 1.01171875]", .bfloat16, [5]).data
            .withUnsafeBytes { raw in (0..<5).map { raw.load(fromByteOffset: $0 * 2, as: UInt16.self) } }
        #expect(brains == [0x3F80, 0xC020, 0x4049, 0x3F80, 0x3F82])
        #expect(try self.decode("[-128, 127]", .int8, [2]).scalars(as: Int8.self) == [-128, 127])
        #expect(try self.decode("[0, 255]", .uint8, [2]).scalars(as: UInt8.self) == [0, 255])
        #expect(try self.decode("[-2147483648, 2147483647]", .int32, [2]).scalars(as: Int32.self) == [.min, .max])
        #expect(
            try self.decode("[-9223372036854775808, 9223372036854775807]", .int64, [2]).scalars(as: Int64.self) == [
                .min, .max,
            ]
        )
        #expect(try self.decode("[true, false, true]", .bool, [3]).data.bytes == [1, 0, 1])
        #expect(try self.decode(#"["a", "b\"c", "😀", ""]"#, .bytes, [4]).strings() == ["a", "b\"c", "😀", ""])
    }

    @Test func acceptsFlatOrFullyNestedData() throws {
        let nested = try self.decode("[[1, 2, 3], [4, 5, 6]]", .float32, [2, 3])
        let flat = try self.decode("[1, 2, 3, 4, 5, 6]", .float32, [2, 3])
        #expect(nested == flat)
        #expect(try self.decode("7", .int64, []).scalars(as: Int64.self) == [7])
        #expect(try self.decode("[]", .float32, [0]).elementCount == 0)
        #expect(try self.decode("[[], []]", .float32, [2, 0]).elementCount == 0)
    }

    @Test(arguments: [
        ("[1, 2, 3]", DType.float32, [2, 2], "has 3 elements"),
        ("[1, 2, 3, 4, 5]", .float32, [2, 2], "more than the 4"),
        ("[[1, 2], [3]]", .float32, [2, 2], "dimension 1"),
        ("[[1, 2, 3]]", .float32, [2, 2], "dimension"),
        ("[1, [2, 3], 4]", .float32, [2, 2], "mixes"),
        ("[[[1]]]", .float32, [1, 1], "deeper than its shape"),
        ("[1.5]", .int32, [1], "an integer"),
        ("[128]", .int8, [1], "out of the range"),
        ("[-1]", .uint8, [1], "out of the range"),
        ("[9223372036854775808]", .int64, [1], "out of the range"),
        ("[1e39]", .float32, [1], "out of the range"),
        ("[1e309]", .float64, [1], "out of the range"),
        ("[3.4e38]", .bfloat16, [1], "out of the range"),
        ("[\"1\"]", .float32, [1], "a number"),
        ("[1]", .bytes, [1], "a string"),
        ("[1]", .bool, [1], "true or false"),
        ("[1, 2]", .float32, [4_000_000_000], "needs"),
    ])
    func refusesDataThatDoesNotFit(_ data: String, _ dtype: DType, _ shape: [Int], _ expected: String) {
        do {
            _ = try self.decode(data, dtype, shape)
            Issue.record("\(data) as \(dtype)\(shape) was accepted")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    /// Every float written with 9 or 17 significant digits (what numpy and Python's json write) parses to the
    /// same float as the C library's correctly rounded `strtof`; the fast path must never round differently.
    @Test func parsesFloatsExactlyAsStrtof() throws {
        var generator = SplitMix(seed: 0x5EED)
        var texts: [String] = []
        for _ in 0..<20_000 {
            let bits = UInt32(truncatingIfNeeded: generator.next())
            let value = Float(bitPattern: bits)
            guard value.isFinite, value.magnitude < 1e30, value.magnitude > 1e-30 else { continue }
            texts.append(String(format: "%.9g", value))
            texts.append(Double(value).description)  // Python's repr of a float32 value: up to 17 digits
            texts.append(String(format: "%.6f", value.magnitude < 1e6 ? value : 1.5))
        }
        // halfway cases between two floats, where double rounding would go wrong
        let half = Double(Float(1.0).nextUp) / 2 + 0.5
        texts += [
            String(format: "%.17g", half), "1.00000005960464477539062500000001", "3.4028235677973366e38", "1e-40",
            "0.1",
        ]
        let joined = "[" + texts.joined(separator: ",") + "]"
        let decoded = try self.decode(joined, .float32, [texts.count]).scalars(as: Float.self)
        for (index, text) in texts.enumerated() {
            let expected = strtof(text, nil)
            #expect(
                decoded[index].bitPattern == expected.bitPattern,
                "\(text): got \(decoded[index]), strtof \(expected)"
            )
        }
    }

    @Test func parsesDoublesExactlyAsStrtod() throws {
        var generator = SplitMix(seed: 42)
        var texts: [String] = []
        for _ in 0..<5_000 {
            let value = Double(bitPattern: generator.next())
            guard value.isFinite, value.magnitude < 1e300, value.magnitude > 1e-300 else { continue }
            texts.append(value.description)
            texts.append(String(format: "%.15g", value))
        }
        texts += ["123456", "0.5", "9007199254740993", "1e22", "1e23"]
        let decoded = try self.decode("[" + texts.joined(separator: ",") + "]", .float64, [texts.count]).scalars(
            as: Double.self
        )
        for (index, text) in texts.enumerated() {
            #expect(decoded[index] == strtod(text, nil), "\(text)")
        }
    }
}

/// A small seeded generator for reproducible random tests.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
