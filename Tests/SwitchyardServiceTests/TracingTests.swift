import ArgumentParser
import Foundation
import SwitchyardClient
import SwitchyardRuntime
import SwitchyardTensor
import SwitchyardTesting
import Testing

/// Request spans exported over OTLP/HTTP by the real services to a real receiver (a Python OTLP/HTTP server that
/// decodes the protobuf `ExportTraceServiceRequest`): one trace from the caller's `traceparent` through the router
/// to every stage, with parent links and attributes; and a receiver that hangs or cannot be reached costs no request.
@Suite(.timeLimit(.minutes(4)))
struct TracingTests {
    /// The receiver, its spans file, and its process (ended when the test ends: its standard input closes).
    final class Receiver: Sendable {
        let process: Process
        let input: Pipe
        let port: Int
        let file: URL

        init(hang: Bool = false) async throws {
            let python = try testPython()
            self.file = FileManager.default.temporaryDirectory.appendingPathComponent("spans-\(UUID()).jsonl")
            let script = packageRoot().appendingPathComponent("Tests/Fixtures/tracing/otlp_receiver.py").path
            self.process = Process()
            self.process.executableURL = URL(fileURLWithPath: python)
            self.process.arguments = [script, self.file.path] + (hang ? ["--hang"] : [])
            self.input = Pipe()
            let output = Pipe()
            self.process.standardInput = self.input
            self.process.standardOutput = output
            try self.process.run()
            // the first line says where it listens; bounded by the process ending or 30 s
            let reading = Task.detached { output.fileHandleForReading.availableData }
            let first = try await withThrowingTaskGroup(of: Data?.self) { group in
                group.addTask { await reading.value }
                group.addTask {
                    try await Task.sleep(for: .seconds(30))
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
            let line = String(decoding: first ?? Data(), as: UTF8.self)
            guard
                let port = line.split(separator: ":").last.flatMap({
                    Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
                })
            else {
                self.process.terminate()
                throw CommandRunError("the OTLP receiver did not start: '\(line)'")
            }
            self.port = port
        }

        var endpoint: String { "http://127.0.0.1:\(self.port)" }

        /// The spans received so far.
        func spans() throws -> [ExportedSpan] {
            guard let data = FileManager.default.contents(atPath: self.file.path) else { return [] }
            return try String(decoding: data, as: UTF8.self).split(separator: "\n").map {
                try ExportedSpan(json: Data($0.utf8))
            }
        }

        /// Waits (at most 30 s) until `done` holds for the spans received.
        func waitFor(_ what: String, _ done: ([ExportedSpan]) -> Bool) async throws -> [ExportedSpan] {
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            while ContinuousClock.now < deadline {
                let spans = try self.spans()
                if done(spans) { return spans }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw CommandRunError("no \(what) within 30 s; received: \(try self.spans().map(\.summary))")
        }

        func stop() {
            try? self.input.fileHandleForWriting.close()
            if self.process.isRunning { self.process.terminate() }
            try? FileManager.default.removeItem(at: self.file)
        }
    }

    /// One span as the receiver decoded it.
    struct ExportedSpan {
        var service: String
        var name: String
        var kind: String
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var attributes: [String: String]
        var links: [(traceID: String, spanID: String)]
        var status: String

        init(json: Data) throws {
            let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
            self.service = object["service"] as? String ?? ""
            self.name = object["name"] as? String ?? ""
            self.kind = object["kind"] as? String ?? ""
            self.traceID = object["trace_id"] as? String ?? ""
            self.spanID = object["span_id"] as? String ?? ""
            self.parentSpanID = object["parent_span_id"] as? String ?? ""
            self.attributes = ((object["attributes"] as? [String: Any]) ?? [:]).mapValues { "\($0)" }
            self.links = ((object["links"] as? [[String: String]]) ?? []).map {
                ($0["trace_id"] ?? "", $0["span_id"] ?? "")
            }
            self.status = object["status"] as? String ?? ""
        }

        var summary: String {
            "\(self.service) \(self.name) \(self.traceID)/\(self.spanID)<-\(self.parentSpanID) \(self.attributes)"
        }
    }

    static func traceparent(_ trace: String, _ span: String) -> String { "00-\(trace)-\(span)-01" }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    @Test func oneTraceRunsFromTheCallerThroughTheRouterToEveryStage() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        // the router by its flag, the stages by the standard variable; spans leave every 100 ms
        let mesh = try await MeshTests.Mesh(
            routerArguments: [
                "--otlp-endpoint", receiver.endpoint, "--max-queue-delay-us", "20000", "--http-port", "0",
                "--http-plaintext",
            ],
            environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"],
            routerEnvironment: ["OTEL_BSP_SCHEDULE_DELAY": "100"]
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        let x = InferenceServiceTests.x

        // one request from a caller that traces: its span is the router's parent
        let trace = Self.randomHex(bytes: 16)
        let callerSpan = Self.randomHex(bytes: 8)
        let answer = try await client.infer(
            model: "digits",
            inputs: ["X": try x.rows(0..<1)],
            parameters: ["traceparent": Self.traceparent(trace, callerSpan)]
        )
        #expect(answer.modelVersion == "1")
        let stageServers = [
            ("switchyard-preprocess", "preprocess/preprocess"), ("switchyard-inference", "inference/infer"),
            ("switchyard-postprocess", "postprocess/postprocess"),
        ]
        let spans = try await receiver.waitFor("trace \(trace) from every service") { spans in
            let traced = spans.filter { $0.traceID == trace }
            return traced.contains { $0.service == "switchyard-router" && $0.kind == "server" }
                && stageServers.allSatisfy { service, name in
                    traced.contains { $0.service == service && $0.name == name && $0.kind == "server" }
                }
        }.filter { $0.traceID == trace }

        let router = try #require(spans.first { $0.service == "switchyard-router" && $0.kind == "server" })
        #expect(router.name == "router/infer")
        #expect(router.parentSpanID == callerSpan)
        #expect(router.attributes["rpc.system"] == "switchyard")
        #expect(router.attributes["rpc.method"] == "infer")
        #expect(router.attributes["switchyard.model.name"] == "digits")
        #expect(router.attributes["switchyard.model.version"] == "1")
        #expect(router.attributes["rpc.response.status_code"] == "ok")
        for (service, name) in stageServers {
            let stage = String(name.split(separator: "/")[0])
            let call = try #require(
                spans.first { $0.service == "switchyard-router" && $0.kind == "client" && $0.name == name },
                "the router's call to \(stage)"
            )
            #expect(call.parentSpanID == router.spanID, "\(name)")
            #expect(call.attributes["rpc.service"] == stage)
            #expect(call.attributes["switchyard.model.name"] == "digits")
            let server = try #require(spans.first { $0.service == service && $0.name == name && $0.kind == "server" })
            // the stage's span is the call's child, or a batch span's that is the call's child
            let parent = spans.first { $0.spanID == server.parentSpanID }
            #expect(
                parent?.spanID == call.spanID || parent?.parentSpanID == call.spanID,
                "\(server.summary) parent \(parent?.summary ?? "missing")"
            )
            #expect(server.attributes["rpc.service"] == stage)
            #expect(server.attributes["switchyard.model.name"] == "digits")
        }
        let inferenceCall = try #require(spans.first { $0.kind == "client" && $0.name == "inference/infer" })
        #expect(inferenceCall.attributes["switchyard.model.version"] == "1")

        // 24 callers at once: batches of several requests, each batch span a child of one member's call and linked
        // to the others'
        let traces = (0..<24).map { _ in Self.randomHex(bytes: 16) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (row, trace) in traces.enumerated() {
                group.addTask {
                    let result = try await client.infer(
                        model: "digits",
                        inputs: ["X": try x.rows(row..<(row + 1))],
                        parameters: ["traceparent": Self.traceparent(trace, Self.randomHex(bytes: 8))]
                    )
                    #expect(result.modelVersion == "1")
                }
            }
            try await group.waitForAll()
        }
        // spans are exported in batches as they end: wait for a batch span and the call span it is a child of
        @Sendable func batchWithParent(_ spans: [ExportedSpan]) -> ExportedSpan? {
            spans.first { batch in
                batch.name == "batch infer" && Int(batch.attributes["switchyard.batch.requests"] ?? "") ?? 0 > 1
                    && spans.contains { $0.spanID == batch.parentSpanID }
            }
        }
        let all = try await receiver.waitFor("a batch span of several requests and its parent") {
            batchWithParent($0) != nil
        }
        let batch = try #require(batchWithParent(all))
        let members = Int(batch.attributes["switchyard.batch.requests"] ?? "") ?? 0
        #expect(batch.service == "switchyard-router")
        #expect(traces.contains(batch.traceID))
        #expect(batch.links.count == members - 1)
        #expect(batch.links.allSatisfy { link in traces.contains(link.traceID) && link.traceID != batch.traceID })
        #expect(Int(batch.attributes["switchyard.batch.size"] ?? "") == members)  // one row each
        #expect(batch.attributes["switchyard.stage"] == "inference")
        let batchParent = try #require(all.first { $0.spanID == batch.parentSpanID })
        #expect(batchParent.name == "inference/infer" && batchParent.kind == "client")
        // the inference instance's span of that batch joins it
        let joined = try await receiver.waitFor("the inference span of the batch") { spans in
            spans.contains { $0.service == "switchyard-inference" && $0.parentSpanID == batch.spanID }
        }
        let batchServer = try #require(joined.first { $0.parentSpanID == batch.spanID })
        #expect(Int(batchServer.attributes["switchyard.rows"] ?? "") == members)

        // a refused request: the router's span says so
        let badTrace = Self.randomHex(bytes: 16)
        await #expect(throws: (any Error).self) {
            _ = try await client.infer(
                model: "digits",
                inputs: ["X": Tensor([Float](repeating: 0, count: 3), shape: [1, 3])],
                parameters: ["traceparent": Self.traceparent(badTrace, Self.randomHex(bytes: 8))]
            )
        }
        let failed = try await receiver.waitFor("the failed request's router span") { spans in
            spans.contains { $0.traceID == badTrace && $0.service == "switchyard-router" && $0.kind == "server" }
        }
        // over HTTP (Open Inference Protocol) with a traceparent header: the same trace shape
        let httpPort = try await mesh.router.port(inLineContaining: "http gateway up")
        let httpTrace = Self.randomHex(bytes: 16)
        let httpParent = Self.randomHex(bytes: 8)
        let row = try x.rows(0..<1).scalars(as: Float.self).map { "\($0)" }.joined(separator: ",")
        let body = #"{"inputs":[{"name":"X","shape":[1,64],"datatype":"FP32","data":["# + row + "]}]}"
        let (status, output) = try await runCommand(
            try installedTool("curl"),
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "content-type: application/json", "-H",
                "traceparent: \(Self.traceparent(httpTrace, httpParent))", "--data", body,
                "http://127.0.0.1:\(httpPort)/v2/models/digits/infer",
            ]
        )
        #expect(status == 0 && output == "200", "\(output)")
        let overHTTP = try await receiver.waitFor("the HTTP request's trace") { spans in
            let traced = spans.filter { $0.traceID == httpTrace }
            return traced.contains { $0.service == "switchyard-router" && $0.kind == "server" }
                && traced.contains { $0.service == "switchyard-inference" && $0.kind == "server" }
        }.filter { $0.traceID == httpTrace }
        let httpServer = try #require(overHTTP.first { $0.service == "switchyard-router" && $0.kind == "server" })
        #expect(httpServer.parentSpanID == httpParent)
        let httpCall = try #require(overHTTP.first { $0.kind == "client" && $0.name == "inference/infer" })
        #expect(httpCall.parentSpanID == httpServer.spanID)

        let refused = try #require(
            failed.first { $0.traceID == badTrace && $0.kind == "server" && $0.service == "switchyard-router" }
        )
        #expect(refused.status == "error")
        #expect(refused.attributes["error.type"] == "invalid_argument", "\(refused.attributes)")
        await client.close()
    }

    @Test func aReceiverThatHangsOrCannotBeReachedCostsNoRequest() async throws {
        let hanging = try await Receiver(hang: true)
        defer { hanging.stop() }
        // the router's receiver reads and never answers; the stages' refuses connections (a port nobody listens on)
        let closed = try await Receiver()
        let unreachable = closed.endpoint
        closed.stop()
        let quick = [
            "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_EXPORTER_OTLP_TIMEOUT": "1000",
        ]
        let mesh = try await MeshTests.Mesh(
            routerArguments: ["--otlp-endpoint", hanging.endpoint],
            environment: quick.merging(["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": unreachable + "/v1/traces"]) { $1 },
            routerEnvironment: quick
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        let x = InferenceServiceTests.x
        let expected = try InferenceServiceTests.labels.scalars(as: Int64.self)
        let rows = 200
        let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
            var next = 0
            var correct = 0
            func add() {
                let row = next % x.shape[0]
                next += 1
                group.addTask {
                    let result = try await client.infer(
                        model: "digits",
                        inputs: ["X": try x.rows(row..<(row + 1))],
                        parameters: [
                            "traceparent": Self.traceparent(Self.randomHex(bytes: 16), Self.randomHex(bytes: 8))
                        ]
                    )
                    return try result["label"]!.scalars(as: Int64.self)[0] == expected[row]
                }
            }
            for _ in 0..<16 { add() }
            while let ok = try await group.next() {
                if ok { correct += 1 }
                if next < rows { add() }
            }
            return correct
        }
        #expect(answered == rows)
        #expect(try hanging.spans().isEmpty)
        // and the router still stops within its drain, its exporter given up on
        mesh.router.terminate()
        let status = await mesh.router.waitForExit(timeout: .seconds(40))
        #expect(status == 0, "\(mesh.router.log)")
        await client.close()
    }

    @Test(arguments: [
        ([String: String](), nil as String?, false),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"], nil, true),
        (["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"], nil, true),
        ([:], "http://collector:4318", true),
        (["OTEL_SDK_DISABLED": "true"], "http://collector:4318", false),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"], nil, false),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": ""], nil, false),
    ])
    func tracingIsOnOnlyWhenAReceiverIsConfigured(environment: [String: String], flag: String?, on: Bool) throws {
        var options = try TracingOptions.parse(flag.map { ["--otlp-endpoint", $0] } ?? [])
        #expect(options.isEnabled(environment: environment) == on)
        options.otlpEndpoint = "collector:4318"
        #expect(throws: (any Error).self) { try options.validate() }
    }
}
