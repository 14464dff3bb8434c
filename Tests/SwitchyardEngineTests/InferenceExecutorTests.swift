import Foundation
import SwitchyardEngine
import SwitchyardTensor
import Testing

/// The async facade: dedicated threads, bounded queue, shutdown.
struct InferenceExecutorTests {
    @Test func manyTasksGetTheirOwnResults() async throws {
        let executor = InferenceExecutor(threads: 2)
        defer { executor.shutdown() }
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let x = try NPY.read(Fixtures.digits("x_test.npy"))
        let expected = try NPY.read(Fixtures.digits("ort_label.npy")).scalars(as: Int64.self)
        try await withThrowingTaskGroup(of: (Int, [Int64]).self) { group in
            for start in stride(from: 0, to: 400, by: 10) {
                group.addTask {
                    let outputs = try await executor.infer(
                        model,
                        [NamedTensor("X", try x.rows(start..<(start + 10)))],
                        outputNames: ["label"]
                    )
                    return (start, try outputs[0].tensor.scalars(as: Int64.self))
                }
            }
            for try await (start, labels) in group {
                #expect(labels == Array(expected[start..<(start + 10)]))
            }
        }
    }

    @Test func expiredWorkIsNotRun() async throws {
        let executor = InferenceExecutor(threads: 1)
        defer { executor.shutdown() }
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let input = NamedTensor("X", try NPY.read(Fixtures.digits("x_test.npy")).rows(0..<1))
        let error = await #expect(throws: EngineError.self) {
            _ = try await executor.infer(model, [input], deadline: .now - .milliseconds(1))
        }
        #expect(error?.code == .deadlineExceeded)
        let fine = try await executor.infer(model, [input], deadline: .now + .seconds(30))
        #expect(fine.count == 2)
    }

    @Test func errorsComeBackAsEngineErrors() async throws {
        let executor = InferenceExecutor(threads: 1)
        defer { executor.shutdown() }
        let model = try Model(contentsOf: Fixtures.digitsModel)
        await #expect(throws: EngineError.self) {
            _ = try await executor.infer(
                model,
                [NamedTensor("X", try Tensor([Float](repeating: 0, count: 3), shape: [1, 3]))]
            )
        }
    }

    @Test func fullQueueAndShutdownRefuseWithUnavailable() async throws {
        let model = try Model(contentsOf: Fixtures.digitsModel)
        let input = NamedTensor("X", try NPY.read(Fixtures.digits("x_test.npy")))
        // Every call passes through the queue, so a limit of 0 refuses all of them, at once.
        let closed = InferenceExecutor(threads: 1, queueLimit: 0)
        let refusal = await #expect(throws: EngineError.self) { _ = try await closed.infer(model, [input]) }
        #expect(refusal?.code == .unavailable)
        #expect(refusal?.message.contains("limit 0") == true)
        closed.shutdown()
        let executor = InferenceExecutor(threads: 1, queueLimit: 64)
        let served = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<16 { group.addTask { try await executor.infer(model, [input])[0].tensor.shape[0] } }
            return try await group.reduce(0, +)
        }
        #expect(served == 16 * 450)
        #expect(executor.waiting == 0)
        executor.shutdown()
        let error = await #expect(throws: EngineError.self) { _ = try await executor.infer(model, [input]) }
        #expect(error?.code == .unavailable)
    }
}
