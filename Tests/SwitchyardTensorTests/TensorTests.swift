import SwitchyardTensor
import Testing

struct TensorTests {
    @Test func scalarsRoundTrip() throws {
        let tensor = try Tensor([1.5 as Float, -2, 3, 4], shape: [2, 2])
        #expect(tensor.dtype == .float32)
        #expect(tensor.data.count == 16)
        #expect(try tensor.scalars(as: Float.self) == [1.5, -2, 3, 4])
        #expect(throws: TensorError.self) { try tensor.scalars(as: Int64.self) }
    }

    @Test func dataIsAligned() throws {
        let tensor = try Tensor([UInt8](repeating: 7, count: 100))
        tensor.data.withUnsafeBytes { #expect(Int(bitPattern: $0.baseAddress) % ByteStorage.alignment == 0) }
    }

    /// A storage whose initializer throws frees its memory once (it used to be freed twice: a crash).
    @Test func storageWhoseInitializerThrowsIsFreedOnce() {
        struct Refused: Error {}
        for _ in 0..<1000 {
            #expect(throws: Refused.self) { _ = try ByteStorage(uninitializedCount: 64) { _ in throw Refused() } }
            #expect(throws: Refused.self) { _ = try ByteStorage(count: 32) { _ in throw Refused() } }
        }
    }

    @Test func sizeMismatchIsRefused() {
        #expect {
            try Tensor(dtype: .float32, shape: [2, 3], data: ByteView([UInt8](repeating: 0, count: 20)))
        } throws: { ($0 as? TensorError)?.code == .sizeMismatch }
    }

    @Test func overflowingShapeIsRefused() {
        #expect {
            try Tensor(dtype: .float32, shape: [Int.max / 2, 4], data: .empty)
        } throws: { ($0 as? TensorError)?.code == .tooLarge }
    }

    @Test func rowsAreViewsAndConcatenationJoinsThem() throws {
        let tensor = try Tensor((0..<12).map(Float.init), shape: [4, 3])
        let middle = try tensor.rows(1..<3)
        #expect(middle.shape == [2, 3])
        #expect(middle.data.storage === tensor.data.storage)
        #expect(try middle.scalars(as: Float.self) == [3, 4, 5, 6, 7, 8])
        let joined = try Tensor.concatenatingRows([try tensor.rows(0..<1), middle, try tensor.rows(3..<4)])
        #expect(joined == tensor)
        #expect(throws: TensorError.self) { try tensor.rows(3..<5) }
    }

    @Test func concatenationChecksRowShapes() throws {
        let a = try Tensor([Float](repeating: 0, count: 6), shape: [2, 3])
        let b = try Tensor([Float](repeating: 0, count: 4), shape: [2, 2])
        #expect { try Tensor.concatenatingRows([a, b]) } throws: { ($0 as? TensorError)?.code == .shapeMismatch }
        let c = try Tensor([Int64](repeating: 0, count: 3), shape: [1, 3])
        #expect { try Tensor.concatenatingRows([a, c]) } throws: { ($0 as? TensorError)?.code == .typeMismatch }
    }

    @Test func bytesTensorsRoundTripAndValidate() throws {
        let tensor = try Tensor(strings: ["seven", "", "ünï"], shape: [3])
        #expect(try tensor.strings() == ["seven", "", "ünï"])
        // a length prefix that runs past the end
        #expect {
            try Tensor(dtype: .bytes, shape: [1], data: ByteView([9, 0, 0, 0, 65]))
        } throws: { ($0 as? TensorError)?.code == .malformedBytes }
        // two elements where the shape wants one
        #expect {
            try Tensor(dtype: .bytes, shape: [1], data: ByteView([0, 0, 0, 0, 0, 0, 0, 0]))
        } throws: { ($0 as? TensorError)?.code == .sizeMismatch }
    }

    @Test func bytesTensorsSliceAndJoinByRows() throws {
        let labels = try Tensor(strings: ["a", "bb", "", "dddd", "e", "ff"], shape: [3, 2])
        let middle = try labels.rows(1..<2)
        #expect(middle.shape == [1, 2])
        #expect(try middle.strings() == ["", "dddd"])
        #expect(middle.data.storage === labels.data.storage)
        #expect(try labels.rows(2..<2).elementCount == 0)
        let joined = try Tensor.concatenatingRows([try labels.rows(0..<1), middle, try labels.rows(2..<3)])
        #expect(joined == labels)
    }

    @Test(arguments: DType.allCases) func dtypeNamesRoundTrip(_ dtype: DType) {
        #expect(DType(name: dtype.name) == dtype)
    }
}
