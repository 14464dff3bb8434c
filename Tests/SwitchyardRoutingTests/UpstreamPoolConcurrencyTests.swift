import SwitchyardTensor
import SwitchyardWire
import Testing

@testable import SwitchyardRouting

/// The pool's adaptive concurrency limits as a batcher in front of it sees them (on a manual clock: no timing).
struct UpstreamPoolConcurrencyTests {
    static func pool(
        _ members: [String],
        _ configure: (inout AdaptiveConcurrencyConfiguration) -> Void = { _ in }
    ) -> (UpstreamPool<ManualClock>, ManualClock) {
        let clock = ManualClock()
        let pool = UpstreamPool(
            members: members.map { .init(id: $0, upstream: FakeUpstream()) },
            configuration: .defaults { $0.adaptiveConcurrency = .defaults(configure: configure) },
            clock: clock
        )
        return (pool, clock)
    }

    @Test func thePoolsLimitIsTheSumOfItsInstancesInRotation() {
        let (pool, _) = Self.pool(["a", "b", "c"]) { $0.initialLimit = 3 }
        #expect(pool.concurrencyLimit == 9)
        #expect(pool.statistics.map(\.concurrencyLimit) == [3, 3, 3])
        pool.reportHealth(instance: "a", healthy: false)
        #expect(pool.concurrencyLimit == 6)  // an instance out of rotation takes nothing new
        pool.reportHealth(instance: "a", healthy: true)
        pool.drain("b")
        #expect(pool.concurrencyLimit == 6)  // nor does a draining one
        pool.reportHealth(instance: "a", healthy: false)
        pool.reportHealth(instance: "c", healthy: false)
        #expect(pool.concurrencyLimit == 6)  // none healthy: the pool routes to all that are not draining
        pool.remove("c")
        #expect(pool.concurrencyLimit == 3)
        pool.updateConfiguration(.defaults { $0.adaptiveConcurrency = nil })
        #expect(pool.concurrencyLimit == nil)
        #expect(pool.statistics.allSatisfy { $0.concurrencyLimit == nil })
    }

    @Test func anEmptyPoolLimitsNothing() {
        let (pool, _) = Self.pool([])
        #expect(pool.concurrencyLimit == nil)
    }

    @Test func answersAtTheBaselineRaiseAnInstancesLimit() async throws {
        let (pool, clock) = Self.pool(["a"]) {
            $0.initialLimit = 2
            $0.minimumSamples = 2
            $0.sampleInterval = .milliseconds(100)
        }
        // instant answers on the manual clock: every latency is the baseline (zero), no slowdown
        for _ in 0..<3 {
            for _ in 0..<4 { _ = try await pool.call(makeRequest(rows: 1), deadline: nil) }
            clock.advance(by: .milliseconds(100))
        }
        _ = try await pool.call(makeRequest(rows: 1), deadline: nil)
        #expect(try #require(pool.concurrencyLimit) > 2)
    }

    @Test func overloadRefusalsFromAnInstanceBackItsLimitOff() async throws {
        let clock = ManualClock()
        let pool = UpstreamPool(
            members: [.init(id: "busy", upstream: FakeUpstream { _ in throw Status(.resourceExhausted, "full") })],
            configuration: .defaults {
                $0.adaptiveConcurrency = .defaults { $0.initialLimit = 10 }
                $0.maxRetries = 0
            },
            clock: clock
        )
        for _ in 0..<5 {
            await #expect(throws: Status.self) { try await pool.call(makeRequest(rows: 1), deadline: nil) }
        }
        #expect(pool.concurrencyLimit == 5)  // 10 × 0.9⁵ = 5.9
    }

    @Test func aBatcherInFrontKeepsItsBatchesWithinThePoolsLimit() async throws {
        let gate = Gate()
        let clock = ManualClock()
        let pool = UpstreamPool(
            members: [
                .init(
                    id: "slow",
                    upstream: FakeUpstream { request in
                        await gate.pass()
                        return try await FakeUpstream.echo(request)
                    }
                )
            ],
            configuration: .defaults { $0.adaptiveConcurrency = .defaults { $0.initialLimit = 1 } },
            clock: clock
        )
        let batcher = Batcher(
            upstream: pool,
            configuration: .defaults {
                $0.maxBatchSize = 1
                $0.maxBatchesInFlight = 8
                $0.idleBatchesInFlight = 8
            },
            clock: clock
        )
        let runner = Task { await batcher.run() }
        defer { runner.cancel() }
        let calls = (0..<3).map { index in
            Task { try await batcher.submit(makeRequest(rows: 1, base: Float(index)), deadline: nil) }
        }
        // one batch reaches the instance; the others wait in the batcher's queue, not at the instance
        let queued = await eventually { gate.waiting == 1 && batcher.statistics.queuedRequests == 2 }
        #expect(queued)
        #expect(gate.waiting == 1)
        #expect(batcher.statistics.batchesInFlight == 1)
        #expect(batcher.statistics.queuedRequests == 2)
        for _ in 0..<3 {
            let reached = await eventually { gate.waiting == 1 }
            #expect(reached)
            #expect(batcher.statistics.batchesInFlight == 1)
            gate.releaseOne()
        }
        for call in calls { _ = try await call.value }
        #expect(batcher.statistics.queuedRequests == 0)
    }
}
