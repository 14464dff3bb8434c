import Foundation
import Logging
import SwitchyardClient
import SwitchyardEngine
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardRuntime
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

/// Custom analysis against real programs: a real Prometheus scrapes the router, rollouts are judged on PromQL
/// queries of it (Argo's AnalysisTemplate idea), a webhook gate confirms each step, and every decision reaches the
/// notification webhook as Slack-compatible JSON.
@Suite(.timeLimit(.minutes(3)))
struct ReleaseAnalysisTests {
    static let models = packageRoot().appendingPathComponent("Tests/Fixtures/releases").path

    @Test func promQLGatesWebhookGatesAndNotificationsDecideRealRollouts() async throws {
        let prometheus = try installedTool("prometheus")
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        // the webhook gate and the notification receiver
        let received = Mutex<[(path: String, body: Data)]>([])
        func bodies(_ path: String) -> [[String: Any]] {
            received.withLock { $0 }.filter { $0.path == path }.map {
                (try? JSONSerialization.jsonObject(with: $0.body)) as? [String: Any] ?? [:]
            }
        }
        let hookPort = try Fixtures.freePort()
        let receiver = HTTPEndpoint(host: "127.0.0.1", port: hookPort, name: "hooks", logger: quiet) { request in
            received.withLock { $0.append((request.path, Data(request.body))) }
            return .text("ok\n")
        }
        let receiving = Task { try await receiver.run() }
        defer { receiving.cancel() }
        _ = try await receiver.localAddress()

        // the mesh: the router serves its metrics for Prometheus and asks Prometheus for the gates' values
        let prometheusPort = try Fixtures.freePort()
        var stages: [String: ServiceProcess] = [:]
        defer { for stage in stages.values { stage.kill() } }
        for name in ["preprocess", "inference", "postprocess"] {
            stages[name] = try await ServiceProcess(
                "switchyard-\(name)",
                arguments: ["--port", "0", "--models", Self.models] + Fixtures.tls(name)
            )
        }
        let state = try Fixtures.temporaryDirectory("release-analysis")
        defer { try? FileManager.default.removeItem(at: state) }
        let router = try await ServiceProcess(
            "switchyard-router",
            arguments: [
                "--port", "0", "--models", Self.models, "--metrics-port", "0", "--state-dir", state.path, "--name",
                "router-a",
                "--rollout-tick-ms", "200", "--prometheus", "http://127.0.0.1:\(prometheusPort)",
                "--release-webhook", "http://127.0.0.1:\(hookPort)/notify",
                "--preprocess", "127.0.0.1:\(stages["preprocess"]!.port)", "--inference",
                "127.0.0.1:\(stages["inference"]!.port)",
                "--postprocess", "127.0.0.1:\(stages["postprocess"]!.port)",
            ] + Fixtures.tls("router")
        )
        stages["router"] = router
        let metrics = try #require(await Fixtures.waitFor(.seconds(10)) { Fixtures.httpURL(in: router.log) })
        let target = metrics.dropFirst("http://".count).dropLast()
        let config = """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
              - job_name: router
                static_configs: [{targets: ["\(target)"]}]
            """
        try config.write(to: state.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: prometheus)
        server.arguments = [
            "--config.file=\(state.path)/prometheus.yml", "--storage.tsdb.path=\(state.path)/data",
            "--web.listen-address=127.0.0.1:\(prometheusPort)", "--log.level=warn",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            if server.isRunning { kill(server.processIdentifier, SIGKILL) }
            server.waitUntilExit()
        }

        // users, 8 at a time, until the test ends
        let client = try SwitchyardClient(
            host: "127.0.0.1",
            port: router.port,
            tls: TLSSettings(
                caPath: Fixtures.certificates.caPath,
                certificatePath: Fixtures.certificates.certificatePath("app"),
                keyPath: Fixtures.certificates.keyPath("app")
            )
        )
        defer { Task { await client.close() } }
        let x = try NPY.read(packageRoot().appendingPathComponent("Tests/Fixtures/engine/digits/x_test.npy").path)
        let traffic = Task {
            await withTaskGroup(of: Void.self) { group in
                for lane in 0..<8 {
                    group.addTask {
                        var index = lane
                        while !Task.isCancelled {
                            let row = index % x.shape[0]
                            _ = try? await client.infer(
                                model: "digits",
                                inputs: ["X": try x.rows(row..<(row + 1))],
                                deadline: .seconds(5),
                                routingKey: "user-\(index % 400)"
                            )
                            index += 8
                            try? await Task.sleep(for: .milliseconds(20))
                        }
                    }
                }
            }
        }
        defer { traffic.cancel() }

        let admin = try WireClient(
            configuration: WireClientConfiguration(
                host: "127.0.0.1",
                port: router.port,
                tls: TLSSettings(
                    caPath: Fixtures.certificates.caPath,
                    certificatePath: Fixtures.certificates.certificatePath("ops"),
                    keyPath: Fixtures.certificates.keyPath("ops")
                )
            ),
            logger: quiet
        )
        defer { Task { await admin.close() } }
        func status() async throws -> ReleaseStatus? {
            let response = try await admin.call(
                Request(method: Method.rolloutStatus, model: "digits"),
                deadline: .now.advanced(by: .seconds(5))
            )
            return try JSONDecoder().decode(
                [ReleaseStatus].self,
                from: Data((response[parameter: "status"] ?? "[]").utf8)
            ).first
        }
        func rollout(_ metric: String) async throws -> ReleaseStatus? {
            let plan = #"{"gates":{"metrics":[\#(metric)],"webhooks":["http://127.0.0.1:\#(hookPort)/gate"]}}"#
            _ = try await admin.call(
                Request(
                    method: Method.rolloutStart,
                    model: "digits",
                    parameters: [
                        Parameter("candidate", "2"), Parameter("stable", "1"), Parameter("plan", plan),
                        Parameter("steps", "50,100"),
                        Parameter("step_seconds", "2"), Parameter("min_requests", "20"),
                        // the built-in latency gate is not under test: a starved test machine must not trip it
                        Parameter("max_latency_ratio", "20"), Parameter("latency_tolerance_ms", "1000"),
                    ]
                ),
                deadline: .now.advanced(by: .seconds(5))
            )
            return await Fixtures.waitFor(.seconds(60), every: .milliseconds(200)) { () -> ReleaseStatus? in
                guard let current = try? await status(), let phase = current.rollout?.phase, phase != .progressing
                else { return nil }
                return current
            }
        }
        _ = try await admin.call(
            Request(method: Method.releasePin, model: "digits", version: "1"),
            deadline: .now.advanced(by: .seconds(5))
        )

        // 1. a latency objective no model meets (median under 10 µs, from the router's own histogram): rolled back
        //    on the metric's value once Prometheus has the candidate's samples
        let slow =
            #"{"name":"p50","max":0.00001,"query":"histogram_quantile(0.5, sum by (le) (rate("#
            + #"switchyard_request_duration_seconds_bucket{model=\"digits\",version=\"$candidate\"}[$window])))"}"#
        let failed = try #require(try await rollout(slow))
        #expect(failed.rollout?.phase == .rolledBack, "\(failed.rollout?.history.map(\.message) ?? [])")
        #expect(failed.rollout?.reason?.hasPrefix("metric 'p50' = 0.") == true, "\(failed.rollout?.reason ?? "")")

        // 2. the candidate's error ratio (none): each step's evidence goes to the webhook gate, which says yes
        let errors =
            #"{"name":"error_ratio","max":0.01,"query":"(sum(rate(switchyard_requests_total{model=\"digits\","#
            + #"version=\"$candidate\",code!=\"ok\"}[$window])) or vector(0)) / "#
            + #"sum(rate(switchyard_requests_total{model=\"digits\",version=\"$candidate\"}[$window]))"}"#
        let promoted = try #require(try await rollout(errors))
        #expect(promoted.rollout?.phase == .promoted, "\(promoted.rollout?.history.map(\.message) ?? [])")
        #expect(promoted.stable == "2")
        let gated = bodies("/gate")
        #expect(gated.count == 2, "the webhook gate was asked \(gated.count) times")
        #expect(gated.allSatisfy { ($0["metrics"] as? [String: Any])?["error_ratio"] as? Double == 0 }, "\(gated)")
        #expect(gated.allSatisfy { ($0["candidate_window"] as? [String: Any])?["requests"] as? Int ?? 0 >= 20 })

        // every decision reached the notification webhook
        let kinds = await Fixtures.waitFor(.seconds(10)) { () -> [String]? in
            let kinds = bodies("/notify").compactMap { ($0["switchyard"] as? [String: Any])?["kind"] as? String }
            return kinds.contains("rollout.promoted") ? kinds : nil
        }
        #expect(
            kinds?.contains("rollout.rolled_back") == true && kinds?.filter { $0 == "rollout.started" }.count == 2,
            "\(kinds ?? [])"
        )
        #expect(bodies("/notify").allSatisfy { $0["text"] is String && $0["attachments"] is [Any] })
    }
}
