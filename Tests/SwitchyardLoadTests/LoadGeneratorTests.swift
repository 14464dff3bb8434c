import Foundation
import SwitchyardLoad
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

/// Counting, warm-up, failures by status and validation, on a target in memory; the open-loop correction on a
/// real server that stalls on purpose. No assertion depends on how fast the machine is.
@Suite(.timeLimit(.minutes(2)))
struct LoadGeneratorTests {
    func source(rows: Int = 10, perRequest: Int = 1, users: Int = 0) throws -> RequestSource {
        try RequestSource(
            method: "echo",
            model: "",
            inputName: "x",
            rows: try Fixtures.rows(rows),
            rowsPerRequest: perRequest,
            users: users
        )
    }

    @Test(arguments: [LoadStep.closed(concurrency: 1), .closed(concurrency: 7), .open(rate: 2_000)])
    func requestCountBoundsTheStepExactly(_ step: LoadStep) async throws {
        let target = MemoryTarget()
        let generator = try LoadGenerator(target: target, source: try self.source(), settings: .requests(100))
        let result = try await generator.run(step)
        #expect(result.sent == 100)
        #expect(result.ok == 100)
        #expect(result.failed == 0)
        #expect(result.latencyMs.count == 100)
        #expect(result.latencyHistogramUs.reduce(0) { $0 + Int($1[1]) } == 100)
        #expect(target.calls.count == 100)
        #expect(result.versions.map(\.version) == ["1"])
        #expect(result.versions.map(\.count) == [100])
        #expect(result.versions.first?.latencyMs?.count == 100)
        #expect(result.latencyMs.min <= result.latencyMs.p50 && result.latencyMs.p50 <= result.latencyMs.p99)
        #expect(result.latencyMs.p99 <= result.latencyMs.max)
    }

    /// A refusal by the client itself (its in-flight limit) and the server's shedding share a status code but are
    /// counted apart, each kind with its count.
    @Test func theClientsOwnRefusalsAreCountedApartFromTheServersAnswers() async throws {
        let target = RefusingTarget()
        let generator = try LoadGenerator(target: target, source: try self.source(), settings: .requests(90))
        let result = try await generator.run(.closed(concurrency: 1))
        #expect(result.sent == 90)
        #expect(result.ok == 30)
        let byKind = Dictionary(uniqueKeysWithValues: result.errors.map { ("\($0.source) \($0.status)", $0.count) })
        #expect(byKind == ["client resource exhausted": 30, "server resource exhausted": 30], "\(result.errors)")
    }

    /// Requests answered during the warm-up are not counted. (How many the warm-up sends depends on how soon the
    /// machine runs the step's tasks, so only the counted side is checked exactly.)
    @Test func warmUpRequestsAreNotCounted() async throws {
        let target = MemoryTarget()
        let generator = try LoadGenerator(
            target: target,
            source: try self.source(),
            settings: .requests(50, warmup: .milliseconds(500))
        )
        let result = try await generator.run(.closed(concurrency: 2))
        #expect(result.sent == 50)
        #expect(result.ok == 50)
        #expect(result.latencyMs.count == 50)
        #expect(target.calls.count >= 50)
    }

    @Test func failuresAreCountedByStatus() async throws {
        var target = MemoryTarget()
        target.fails = { number in
            switch number % 5 {
            case 1: Status(.deadlineExceeded, "too slow")
            case 3, 4: Status(.resourceExhausted, "shed")
            default: nil
            }
        }
        let generator = try LoadGenerator(target: target, source: try self.source(), settings: .requests(100))
        let result = try await generator.run(.closed(concurrency: 1))
        #expect(result.ok == 40)
        #expect(result.failed == 60)
        #expect(result.errors.map(\.status) == ["resource exhausted", "deadline exceeded"])
        #expect(result.errors.map(\.count) == [40, 20])
        #expect(result.errors.map(\.code) == [8, 4])
        #expect(result.errors.first?.example == "shed")
        #expect(result.latencyMs.count == 40)
    }

    @Test func validationComparesEachRowWithItsExpectedOutput() async throws {
        // Rows are filled with their index; expected ids say row 3 and row 7 should be something else.
        var expected = (0..<10).map { Float($0) }
        expected[3] = 99
        expected[7] = -1
        let values = expected.flatMap { [Float](repeating: $0, count: 4) }
        let check = try OutputCheck(expected: .values(values, width: 4, tolerance: 0), outputName: "x", rowCount: 10)
        let generator = try LoadGenerator(
            target: MemoryTarget(),
            source: try self.source(perRequest: 3),
            settings: .requests(10),
            check: check
        )
        let result = try await generator.run(.closed(concurrency: 1))
        // 10 requests × 3 rows cycle through all 10 rows 3 times.
        #expect(result.validation?.checkedRows == 30)
        #expect(result.validation?.mismatchedRows == 6)
        #expect(result.validation?.firstMismatch?.hasPrefix("row 3:") == true)
    }

    @Test func classIDsComeFromIntegersOrTheArgmaxOfScores() throws {
        let check = try OutputCheck(expected: .classIDs([2, 0]), outputName: nil, rowCount: 2)
        let scores = Response(tensors: [
            NamedTensor("p", try Tensor([Float(0.1), 0.2, 0.7, 0.9, 0.05, 0.05], shape: [2, 3]))
        ])
        #expect(check.compare(scores, firstRow: 0, count: 2).mismatched == 0)
        let ids = Response(tensors: [NamedTensor("label", try Tensor([Int64(2), 1], shape: [2]))])
        #expect(check.compare(ids, firstRow: 0, count: 2).mismatched == 1)
        #expect(check.compare(Response(), firstRow: 0, count: 2).mismatched == 2)
        #expect(throws: LoadError.self) {
            try OutputCheck(expected: .classIDs([1, 2, 3]), outputName: nil, rowCount: 2)
        }
    }

    @Test func requestsCycleRowsAndSpreadUsers() throws {
        let source = try self.source(rows: 5, perRequest: 2, users: 3)
        #expect((0..<5).map { source.firstRow(of: $0) } == [0, 2, 4, 1, 3])
        let wrapped = try source.request(2).tensors[0].tensor.scalars(as: Float.self)
        #expect(wrapped == [4, 4, 4, 4, 0, 0, 0, 0])  // row 4 then row 0
        let keys = Set((0..<200).map { source.request($0).routingKey })
        #expect(keys == ["user-0", "user-1", "user-2"])
        #expect(source.request(17).routingKey == source.request(17).routingKey)
    }

    @Test func invalidSettingsAndStepsAreRefused() throws {
        for settings in [LoadSettings(), .requests(0), .duration(.zero), .requests(10, warmup: .seconds(-1))] {
            #expect(throws: LoadError.self) {
                try LoadGenerator(target: MemoryTarget(), source: try self.source(), settings: settings)
            }
        }
        for step in [LoadStep.closed(concurrency: 0), .open(rate: 0), .open(rate: .nan), .open(rate: -3)] {
            #expect(throws: LoadError.self) { try step.validate() }
        }
        #expect(throws: LoadError.self) {
            try RequestSource(method: "echo", model: "", inputName: "x", rows: try Tensor([Float](), shape: [0, 4]))
        }
    }

    /// The server stalls one request for 400 ms. With one request in flight at most, the open loop's later sends
    /// wait behind it; counted from their scheduled time, every request scheduled in the first half of the stall
    /// took at least 200 ms, which a latency counted from the actual send would hide.
    @Test func openLoopCountsLatencyFromTheScheduledSend() async throws {
        let stall = Duration.milliseconds(400)
        let received = Counter()
        let service = ClosureService { request, _ in
            if received.next() == 10 { try await Task.sleep(for: stall) }
            return Response(tensors: request.tensors)
        }
        let result = try await Fixtures.withServer(service) { port in
            let client = try Fixtures.client(port: port)
            try await client.connect()
            var settings = LoadSettings.requests(60, warmup: .zero)
            settings.maxInFlight = 1
            let generator = try LoadGenerator(target: client, source: try self.source(), settings: settings)
            let result = try await generator.run(.open(rate: 100))
            await client.close()
            return result
        }
        #expect(result.ok == 60)
        let corrected = LatencyHistogram(pairsInMicroseconds: result.latencyHistogramUs)
        // Scheduled 10 ms apart: 19 requests after the stalled one fall in the first 200 ms of its stall.
        let slow = corrected.count(atLeast: .milliseconds(200))
        #expect(slow >= 19, "only \(slow) requests took 200 ms or more from their scheduled send")
        let serviceTime = try #require(result.serviceTimeMs)
        #expect(serviceTime.max >= 400)
        #expect(result.latencyMs.p90 >= serviceTime.p90)
        #expect((result.maxSendLagMs ?? 0) >= 200)
    }

    @Test func closedLoopAgainstAServerThatStopsFinishesAndCountsFailures() async throws {
        let certificates = Fixtures.certificates
        let service = try await ServiceProcess(
            "switchyard-echo",
            arguments: [
                "--port", "0", "--ca", certificates.caPath, "--cert", certificates.certificatePath("server"),
                "--key", certificates.keyPath("server"),
            ]
        )
        defer { service.kill() }
        let client = try Fixtures.client(port: service.port, connections: 2)
        try await client.connect()
        // progress comes about once a second: the run lasts long enough for one to come on a busy machine
        var settings = LoadSettings.duration(.seconds(10), warmup: .zero)
        settings.timeout = .seconds(5)
        let generator = try LoadGenerator(target: client, source: try self.source(), settings: settings)
        let killed = Mutex(false)
        let result = try await generator.run(.closed(concurrency: 4)) { progress in
            if progress.answered > 0, !killed.withLock({ $0 }) {
                killed.withLock { $0 = true }
                service.kill()
            }
        }
        await client.close()
        #expect(killed.withLock { $0 })
        #expect(result.ok > 0)
        #expect(result.failed > 0)
        #expect(result.errors.allSatisfy { $0.status == "unavailable" }, "\(result.errors)")
        #expect(result.sent == result.ok + result.failed)
    }
}
