import Foundation
import SwitchyardClient
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardWire
import Synchronization
import Testing

/// Restarts and hangs under load, with real processes: the pool takes a draining instance out of rotation, retries
/// what it refused elsewhere, and hedges attempts on a hung instance, so that no request fails.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ResilienceTests {
    /// Counts the outcome of every request of a steady load until told to stop.
    final class Tally: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        private let stopped = Atomic<Bool>(false)
        /// Requests left to send: every load is bounded in count as well as time.
        private let budget = Atomic<Int>(200_000)

        var outcomes: [String: Int] { self.counts.withLock { $0 } }
        var total: Int { self.outcomes.values.reduce(0, +) }
        func stop() { self.stopped.store(true, ordering: .relaxed) }
        var isStopped: Bool { self.stopped.load(ordering: .relaxed) }
        func record(_ outcome: String) { self.counts.withLock { $0[outcome, default: 0] += 1 } }
        func takeOne() -> Bool { self.budget.subtract(1, ordering: .relaxed).newValue >= 0 }
    }

    /// `concurrency` senders of one-row requests until the tally is stopped, at most 200,000 requests or 240 s.
    static func steadyLoad(_ client: SwitchyardClient, _ tally: Tally, concurrency: Int, deadline: Duration) async {
        let x = InferenceServiceTests.x
        let end = ContinuousClock.now.advanced(by: .seconds(240))
        await withDiscardingTaskGroup { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var row = worker
                    while !tally.isStopped, ContinuousClock.now < end, tally.takeOne() {
                        row = (row + concurrency) % x.shape[0]
                        do {
                            let input = try x.rows(row..<(row + 1))
                            let result = try await client.infer(model: "digits", inputs: ["X": input], deadline: deadline)
                            tally.record(result["label"] == nil ? "no label" : "ok")
                        } catch let error as InferenceError {
                            tally.record("\(error.code): \(error.status.message)")
                        } catch {
                            tally.record("\(error)")
                        }
                    }
                }
            }
        }
    }

    /// Waits until the tally has grown by `count` answers, for at most `timeout`.
    static func waitForAnswers(_ tally: Tally, _ count: Int, timeout: Duration = .seconds(60)) async throws {
        let target = tally.total + count
        let end = ContinuousClock.now.advanced(by: timeout)
        while tally.total < target, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
    }

    @Test func aRollingRestartOfEveryStageUnderLoadFailsNoRequest() async throws {
        let mesh = try await MeshTests.Mesh(
            routerArguments: ["--health-check-interval-ms", "200"], inferenceCount: 2, pipelineCount: 2
        )
        var revived: [ServiceProcess] = []
        defer {
            mesh.stop()
            for process in revived { process.kill() }
        }
        let client = try mesh.client()
        let tally = Tally()
        let load = Task { await Self.steadyLoad(client, tally, concurrency: 16, deadline: .seconds(10)) }
        try await Self.waitForAnswers(tally, 200)
        let plan: [(String, ServiceProcess)] =
            mesh.preprocessInstances.map { ("switchyard-preprocess", $0) }
            + mesh.inferenceInstances.map { ("switchyard-inference", $0) }
            + mesh.postprocessInstances.map { ("switchyard-postprocess", $0) }
        for (product, process) in plan {
            let port = process.port
            process.terminate()  // SIGTERM: GOAWAY on every connection, finish what is in flight, exit
            #expect(await process.waitForExit(timeout: .seconds(60)) != nil, "\(product) did not drain and exit")
            revived.append(try await ServiceProcess(product, arguments: ["--port", "\(port)"] + mesh.stageArguments))
            try await Self.waitForAnswers(tally, 200)  // traffic flows with the new instance up
        }
        tally.stop()
        await load.value
        await client.close()
        let outcomes = tally.outcomes
        #expect(outcomes.keys.sorted() == ["ok"], "\(outcomes)")
        #expect((outcomes["ok"] ?? 0) >= 200 * (plan.count + 1), "\(outcomes)")
    }

    @Test func aHungInstanceUnderLoadCostsNoRequestItsAttemptsAreHedged() async throws {
        let mesh = try await MeshTests.Mesh(inferenceCount: 2)
        defer {
            for instance in mesh.inferenceInstances { instance.thaw() }
            mesh.stop()
        }
        let client = try mesh.client()
        let tally = Tally()
        // deadlines shorter than the hang: an attempt left waiting on the hung instance would fail with them
        let load = Task { await Self.steadyLoad(client, tally, concurrency: 16, deadline: .seconds(5)) }
        try await Self.waitForAnswers(tally, 500)
        mesh.inferenceInstances[1].freeze()  // SIGSTOP: connections open, nothing answered
        try await Task.sleep(for: .seconds(7))
        mesh.inferenceInstances[1].thaw()
        try await Self.waitForAnswers(tally, 200)
        tally.stop()
        await load.value
        await client.close()
        let outcomes = tally.outcomes
        #expect(outcomes.keys.sorted() == ["ok"], "\(outcomes)")
    }
}
