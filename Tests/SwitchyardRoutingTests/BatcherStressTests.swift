import SwitchyardTensor
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouting

final class Tally: Sendable {
    let outcomes = Mutex<[String: Int]>([:])
    let wrongRows = Mutex(0)
}

struct BatcherStressTests {
    /// Runs `body`, failing the test if it takes longer than `limit` (the body is cancelled then).
    static func withTimeLimit(_ limit: Duration, _ body: @escaping @Sendable () async -> Void) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                await body()
                return true
            }
            group.addTask {
                try await ContinuousClock().sleep(for: limit)
                return false
            }
            let finished = try await group.next()!
            group.cancelAll()
            #expect(finished, "the run did not finish within \(limit)")
        }
    }

    @Test func everyAcceptedRequestGetsExactlyOneAnswerUnderConcurrency() async throws {
        let upstream = FakeUpstream { request in
            for _ in 0..<Int.random(in: 0..<30) { await Task.yield() }
            if Int.random(in: 0..<25) == 0 { throw Status(.unavailable, "flaky instance") }
            return try await FakeUpstream.echo(request)
        }
        let batcher = Batcher(
            upstream: upstream,
            configuration: .defaults {
                $0.maxBatchSize = 8
                $0.maxBatchesInFlight = 2
                $0.idleBatchesInFlight = 1
                $0.maxQueueSize = 256
                $0.maxQueueDelay = .microseconds(200)
                $0.initialExecutionEstimate = .microseconds(300)
            }
        )
        let requests = 2000
        let tally = Tally()
        try await Self.withTimeLimit(.seconds(120)) {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await batcher.run() }
                await withTaskGroup(of: Void.self) { clients in
                    for index in 0..<requests {
                        clients.addTask {
                            let rows = Int.random(in: 1...3)
                            let base = Float(index * 10)
                            let deadline: ContinuousClock.Instant? =
                                switch Int.random(in: 0..<6) {
                                case 0: nil
                                case 1: .now.advanced(by: .microseconds(-1))
                                default: .now.advanced(by: .microseconds(Int64.random(in: 0...50_000)))
                                }
                            let task = Task {
                                try await batcher.submit(makeRequest(rows: rows, base: base), deadline: deadline)
                            }
                            if Int.random(in: 0..<5) == 0 {
                                for _ in 0..<Int.random(in: 0..<20) { await Task.yield() }
                                task.cancel()
                            }
                            let key: String
                            switch await task.result {
                            case .success(let response):
                                key = "ok"
                                let expected = (0..<rows).map { base + Float($0) }
                                if (try? firstColumn(response.tensors)) != expected {
                                    tally.wrongRows.withLock { $0 += 1 }
                                }
                            case .failure(let error):
                                key = "\(RoutingError.status(for: error).code)"
                            }
                            tally.outcomes.withLock { $0[key, default: 0] += 1 }
                        }
                    }
                }
                group.cancelAll()
            }
        }
        let counts = tally.outcomes.withLock { $0 }
        #expect(counts.values.reduce(0, +) == requests, "\(counts)")
        #expect(
            Set(counts.keys).isSubset(of: ["ok", "cancelled", "deadline exceeded", "resource exhausted", "unavailable"])
        )
        for kind in ["ok", "cancelled", "deadline exceeded"] { #expect(counts[kind, default: 0] > 0, "\(counts)") }
        #expect(tally.wrongRows.withLock { $0 } == 0)
        #expect(batcher.statistics.queuedRequests == 0)
        #expect(batcher.statistics.batchesInFlight == 0)
        // requests were joined into batches, never past the limit
        let sizes = upstream.received.map { $0.tensors[0].tensor.shape[0] }
        #expect(sizes.contains { $0 > 3 })
        #expect(sizes.allSatisfy { $0 <= 8 })
    }
}
