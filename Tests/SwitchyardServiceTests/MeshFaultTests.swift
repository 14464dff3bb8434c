import Foundation
import Logging
import SwitchyardClient
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// Faults in the mesh, with real processes: every request gets exactly one answer, quickly, and the mesh recovers.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct MeshFaultTests {
    /// Sends `count` one-row requests, `concurrency` at a time; returns each request's status code ("ok" or the error).
    static func load(_ client: SwitchyardClient, count: Int, concurrency: Int, deadline: Duration) async -> [String] {
        let x = InferenceServiceTests.x
        return await withTaskGroup(of: (Int, String).self) { group in
            var outcomes = [String](repeating: "none", count: count)
            var next = 0
            func add() {
                let index = next
                next += 1
                group.addTask {
                    let row = index % x.shape[0]
                    do {
                        let result = try await client.infer(
                            model: "digits",
                            inputs: ["X": try x.rows(row..<(row + 1))],
                            deadline: deadline
                        )
                        return (index, result["label"] == nil ? "no label" : "ok")
                    } catch let error as InferenceError {
                        return (index, "\(error.code)")
                    } catch {
                        return (index, "\(error)")
                    }
                }
            }
            for _ in 0..<min(concurrency, count) { add() }
            while let (index, outcome) = await group.next() {
                #expect(outcomes[index] == "none", "request \(index) answered twice")
                outcomes[index] = outcome
                if next < count { add() }
            }
            return outcomes
        }
    }

    @Test func overloadBeyondTheQueueIsShedQuicklyAndEveryRequestIsAnswered() async throws {
        let mesh = try await MeshTests.Mesh(
            routerArguments: ["--max-queue-size", "4", "--max-batch-size", "4"],
            inferenceArguments: ["--threads", "1"]
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        let started = ContinuousClock.now
        let outcomes = await Self.load(client, count: 600, concurrency: 300, deadline: .seconds(20))
        let counts = Dictionary(grouping: outcomes, by: { $0 }).mapValues(\.count)
        #expect(!outcomes.contains("none"))
        #expect((counts["ok"] ?? 0) > 0)
        #expect((counts["resource exhausted"] ?? 0) > 0, "\(counts)")
        #expect(Set(counts.keys).isSubset(of: ["ok", "resource exhausted"]), "\(counts)")
        #expect(started.duration(to: .now) < .seconds(60))
        // after the burst the mesh serves normally
        #expect(Set(await Self.load(client, count: 20, concurrency: 4, deadline: .seconds(10))) == ["ok"])
        await client.close()
    }

    @Test func aClientThatVanishesWithRequestsInFlightLeavesTheRouterHealthy() async throws {
        let mesh = try await MeshTests.Mesh()
        defer { mesh.stop() }
        let certificates = InferenceServiceTests.certificates
        let tls = TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath("app"),
            keyPath: certificates.keyPath("app")
        )
        for _ in 0..<3 {
            let peer = try await RawPeer.connect(port: mesh.router.port, tls: try tls.makeClientContext())
            #expect(try await peer.handshake() != nil)
            var burst: [UInt8] = []
            for id in UInt32(1)...50 {
                burst += Frame.request(
                    id: id,
                    Request(model: "digits", tensors: [NamedTensor("X", try InferenceServiceTests.x.rows(0..<1))])
                ).encoded()
            }
            try await peer.send(burst)
            await peer.close()  // gone, with up to 50 requests in flight
        }
        let client = try mesh.client()
        #expect(Set(await Self.load(client, count: 50, concurrency: 8, deadline: .seconds(10))) == ["ok"])
        await client.close()
    }

    @Test func aKilledInstanceUnderLoadIsRetriedAroundAndTrafficContinuesOnTheOther() async throws {
        let mesh = try await MeshTests.Mesh(inferenceCount: 2)
        defer { mesh.stop() }
        let client = try mesh.client()
        #expect(Set(await Self.load(client, count: 40, concurrency: 8, deadline: .seconds(10))) == ["ok"])
        async let outcomes = Self.load(client, count: 600, concurrency: 32, deadline: .seconds(10))
        try await Task.sleep(for: .milliseconds(150))
        mesh.inferenceInstances[1].kill()  // SIGKILL one of two instances under load
        let results = await outcomes
        let counts = Dictionary(grouping: results, by: { $0 }).mapValues(\.count)
        #expect(!results.contains("none"))
        #expect(Set(counts.keys).isSubset(of: ["ok", "unavailable"]), "\(counts)")  // retried, or answered unavailable
        #expect((counts["ok"] ?? 0) >= 590, "\(counts)")  // idempotent requests are retried on the survivor
        // and afterwards everything goes to the survivor
        #expect(Set(await Self.load(client, count: 100, concurrency: 16, deadline: .seconds(10))) == ["ok"])
        await client.close()
    }

    /// Asks the router's `health` until `condition` holds for the answer ("serving" or the error), within 20 s.
    static func waitForRouterHealth(_ mesh: MeshTests.Mesh, _ condition: (String) -> Bool) async throws -> String {
        let certificates = InferenceServiceTests.certificates
        let tls = TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath("app"),
            keyPath: certificates.keyPath("app")
        )
        let client = try WireClient(
            configuration: WireClientConfiguration(host: "127.0.0.1", port: mesh.router.port, tls: tls),
            logger: Logger(label: "test")
        )
        defer { Task { await client.close() } }
        var answer = ""
        let deadline = ContinuousClock.now.advanced(by: .seconds(20))
        while ContinuousClock.now < deadline {
            do {
                answer =
                    try await client.call(Request(method: "health"), deadline: .now.advanced(by: .seconds(2)))[
                        parameter: "status"
                    ] ?? "?"
            } catch {
                answer = "\(error)"
            }
            if condition(answer) { return answer }
            try await Task.sleep(for: .milliseconds(50))
        }
        return answer
    }

    @Test func aFrozenInstanceIsFoundByHealthChecksAndTheRouterIsNotReadyWithoutInference() async throws {
        let mesh = try await MeshTests.Mesh(
            routerArguments: ["--health-check-interval-ms", "100", "--health-check-timeout-ms", "300"],
            inferenceCount: 2
        )
        defer {
            for instance in mesh.inferenceInstances { instance.thaw() }
            mesh.stop()
        }
        #expect(try await Self.waitForRouterHealth(mesh) { $0 == "serving" } == "serving")
        let client = try mesh.client()
        // a hung instance answers nothing, so outlier detection never sees a failure; the health checks do
        mesh.inferenceInstances[1].freeze()
        try await Task.sleep(for: .seconds(2))  // many check intervals
        #expect(Set(await Self.load(client, count: 100, concurrency: 8, deadline: .seconds(3))) == ["ok"])
        mesh.inferenceInstances[0].freeze()
        let notReady = try await Self.waitForRouterHealth(mesh) {
            $0.contains("no inference instance passes its health check")
        }
        #expect(
            notReady.contains("unavailable") && notReady.contains("no inference instance passes its health check"),
            "\(notReady)"
        )
        for instance in mesh.inferenceInstances { instance.thaw() }
        #expect(try await Self.waitForRouterHealth(mesh) { $0 == "serving" } == "serving")
        #expect(Set(await Self.load(client, count: 40, concurrency: 4, deadline: .seconds(10))) == ["ok"])
        await client.close()
    }

    @Test func aKilledInferenceInstanceFailsRequestsFastAndTheMeshRecoversWhenItIsBack() async throws {
        let mesh = try await MeshTests.Mesh()
        defer { mesh.stop() }
        let client = try mesh.client()
        #expect(Set(await Self.load(client, count: 20, concurrency: 4, deadline: .seconds(10))) == ["ok"])
        let inference = mesh.stages[1]
        let port = inference.port
        async let outcomes = Self.load(client, count: 400, concurrency: 32, deadline: .seconds(5))
        try await Task.sleep(for: .milliseconds(150))
        inference.kill()  // SIGKILL under load
        let results = await outcomes
        let counts = Dictionary(grouping: results, by: { $0 }).mapValues(\.count)
        #expect(!results.contains("none"))
        #expect(Set(counts.keys).isSubset(of: ["ok", "unavailable"]), "\(counts)")  // no hang, no deadline waits
        #expect((counts["unavailable"] ?? 0) > 0, "\(counts)")
        // bring it back on the same port: the router reconnects on demand
        let certificates = InferenceServiceTests.certificates
        let revived = try await ServiceProcess(
            "switchyard-inference",
            arguments: [
                "--port", "\(port)", "--models", packageRoot().appendingPathComponent("models").path, "--ca",
                certificates.caPath,
                "--cert", certificates.certificatePath("inference"), "--key", certificates.keyPath("inference"),
            ]
        )
        defer { revived.kill() }
        #expect(Set(await Self.load(client, count: 40, concurrency: 4, deadline: .seconds(10))) == ["ok"])
        await client.close()
    }
}

@Suite(.timeLimit(.minutes(1)))
struct MeshBatchingTests {
    @Test func aBadRequestInABatchDoesNotFailItsBatchMates() async throws {
        // digits behind a preprocess one-hot step: 63 columns, column 0 a category in {0, 1}, become the model's 64
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-onehot-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("digits/1"),
            withIntermediateDirectories: true
        )
        try FileManager.default.createSymbolicLink(
            at: root.appendingPathComponent("digits/1/model.onnx"),
            withDestinationURL: packageRoot().appendingPathComponent("models/digits/1/model.onnx")
        )
        try """
        {"max_batch_size": 64, "inputs": [{"name": "X", "dtype": "f32", "shape": [-1, 64]}],
         "pipeline": {"preprocess": [{"op": "onehot", "input": "X", "column": 0, "categories": [0, 1]}]}}
        """.write(to: root.appendingPathComponent("digits/config.json"), atomically: true, encoding: .utf8)
        let mesh = try await MeshTests.Mesh(
            models: root.path,
            routerArguments: ["--max-queue-delay-us", "5000"],
            inferenceArguments: ["--threads", "1"]
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        let outcomes = await withTaskGroup(of: (Int, String).self) { group in
            for index in 0..<128 {
                group.addTask {
                    var row = [Float](repeating: 4, count: 63)
                    row[0] = index % 4 == 3 ? 5 : Float(index % 2)  // every fourth row has an unknown category
                    do {
                        let result = try await client.infer(
                            model: "digits",
                            inputs: ["X": try Tensor(row, shape: [1, 63])],
                            deadline: .seconds(10)
                        )
                        return (index, result["label"] == nil ? "no label" : "ok")
                    } catch let error as InferenceError {
                        return (
                            index,
                            error.code == .invalidArgument && error.status.message.contains("category 5")
                                ? "refused" : "\(error)"
                        )
                    } catch {
                        return (index, "\(error)")
                    }
                }
            }
            var outcomes: [Int: String] = [:]
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
        #expect(outcomes.count == 128)
        for (index, outcome) in outcomes {
            #expect(outcome == (index % 4 == 3 ? "refused" : "ok"), "request \(index): \(outcome)")
        }
        await client.close()
    }
}
