import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// Many tasks inferring at once on one model, at different batch sizes, get exactly the serial results.
struct ConcurrencyTests {
    @Test func concurrentInferencesMatchSerialOnes() async throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let x = try NPY.read(Fixtures.digits("x_test.npy"))
        let batches = [1, 3, 8, 17, 64]
        var expected: [Int: [NamedTensor]] = [:]
        for batch in batches { expected[batch] = try model.run([NamedTensor("X", try x.rows(0..<batch))]) }
        let reference = expected
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for round in 0..<30 {
                        let batch = batches[(worker + round) % batches.count]
                        let outputs = try model.run([NamedTensor("X", try x.rows(0..<batch))])
                        // Labels exactly; probabilities to rounding (another test may change the BLAS
                        // thread count meanwhile, which may reorder sums).
                        #expect(outputs[0] == reference[batch]![0])
                        #expect(try maxDifference(outputs[1].tensor, reference[batch]![1].tensor) <= 1e-6)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test func threadCountIsConfigurable() throws {
        let previous = BLAS.threadCount
        defer { BLAS.setThreadCount(previous) }
        BLAS.setThreadCount(1)
        #expect(BLAS.threadCount == 1)
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let x = try NPY.read(Fixtures.digits("x_test.npy"))
        let single = try model.run([NamedTensor("X", x)])
        BLAS.setThreadCount(2)
        #expect(BLAS.threadCount == 2)
        let multi = try model.run([NamedTensor("X", x)])
        #expect(try maxDifference(single[1].tensor, multi[1].tensor) <= 1e-6)
        #expect(!BLAS.configuration.isEmpty)
    }

    @Test func plansAreCachedPerShapeAndBounded() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel, options: .defaults { $0.planCacheCapacity = 3 })
        let x = try NPY.read(Fixtures.digits("x_test.npy"))
        for batch in [1, 2, 3, 4, 5, 5, 5] { _ = try model.run([NamedTensor("X", try x.rows(0..<batch))]) }
        #expect(model.cachedPlanCount == 3)
    }

    @Test func misalignedInputBytesAreStaged() throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let x = try NPY.read(Fixtures.digits("x_test.npy")).rows(0..<2)
        // The same floats at an odd byte offset inside a larger storage.
        let storage = ByteStorage(count: x.data.count + 1) { target in
            x.data.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: target[1...]).copyMemory(from: $0) }
        }
        let shifted = try Tensor(
            dtype: .float32,
            shape: x.shape,
            data: ByteView(storage: storage, offset: 1, count: x.data.count)
        )
        #expect(try model.run([NamedTensor("X", shifted)]) == model.run([NamedTensor("X", x)]))
    }
}
