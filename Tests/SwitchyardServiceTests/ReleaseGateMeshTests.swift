import Foundation
import Logging
import SwitchyardClient
import SwitchyardEngine
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The release gates against real processes on the release fixtures (`tools/make_release_models.py`): wrong
/// scores with right labels, a biased regression model, worse labelled accuracy with labels from `yard load
/// --feedback`, a new version in the repository, the split guardrail, and a restart mid-step. Steps are short
/// and windows small, set in each test's plan, so that the suite stays within a couple of minutes.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReleaseGateMeshTests {
    static let digitsLabels = packageRoot().appendingPathComponent("Tests/Fixtures/engine/digits/y_test.npy").path
    static let digitsInputs = packageRoot().appendingPathComponent("Tests/Fixtures/engine/digits/x_test.npy").path
    static let diabetes = try! NPY.read(
        packageRoot().appendingPathComponent("Tests/Fixtures/releases/diabetes/x_test.npy").path
    )

    static func mesh() async throws -> MeshTests.Mesh {
        try await MeshTests.Mesh(
            models: ReleaseTests.models,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
        )
    }

    /// `rollout.start` as the admin for `model`; `stable` pinned first.
    static func start(
        _ port: Int,
        model: String = "digits",
        stable: String,
        candidate: String,
        _ parameters: [Parameter]
    )
        async throws
    {
        let client = try ReleaseTests.wire(port, as: "ops")
        defer { Task { await client.close() } }
        _ = try await client.call(
            Request(method: Method.releasePin, model: model, version: stable),
            deadline: .now.advanced(by: .seconds(10))
        )
        _ = try await client.call(
            Request(
                method: Method.rolloutStart,
                model: model,
                parameters: [Parameter("candidate", candidate)] + parameters
            ),
            deadline: .now.advanced(by: .seconds(10))
        )
    }

    static func status(_ port: Int, model: String = "digits") async throws -> ReleaseStatus {
        let client = try ReleaseTests.wire(port, as: "readonly")
        defer { Task { await client.close() } }
        let response = try await client.call(
            Request(method: Method.rolloutStatus, model: model),
            deadline: .now.advanced(by: .seconds(10))
        )
        let statuses = try JSONDecoder().decode(
            [ReleaseStatus].self,
            from: Data((response[parameter: "status"] ?? "").utf8)
        )
        return try #require(statuses.first)
    }

    /// Sends `rounds` × 40 diabetes rows (8 at a time, 400 users) until the rollout is decided; the final status.
    static func driveRegression(_ mesh: MeshTests.Mesh, rounds: Int = 60) async throws -> ReleaseStatus {
        let client = try mesh.client()
        defer { Task { await client.close() } }
        for round in 0..<rounds {
            await withTaskGroup(of: Void.self) { group in
                for lane in 0..<8 {
                    group.addTask {
                        for index in stride(from: lane, to: 40, by: 8) {
                            let row = (round * 40 + index) % Self.diabetes.shape[0]
                            _ = try? await client.infer(
                                model: "diabetes",
                                inputs: ["X": try Self.diabetes.rows(row..<(row + 1))],
                                deadline: .seconds(10),
                                routingKey: "user-\((round * 40 + index) % 400)"
                            )
                        }
                    }
                }
            }
            let status = try await Self.status(mesh.router.port, model: "diabetes")
            if status.rollout?.phase != .progressing { return status }
        }
        return try await Self.status(mesh.router.port, model: "diabetes")
    }

    @Test(arguments: [("2", true), ("3", false)])
    func aRegressionCandidateWithA20PercentBiasIsRolledBackAndAnEqualOneIsPromoted(
        _ candidate: String,
        _ biased: Bool
    )
        async throws
    {
        let mesh = try await Self.mesh()
        defer { mesh.stop() }
        try await Self.start(
            mesh.router.port,
            model: "diabetes",
            stable: "1",
            candidate: candidate,
            [
                Parameter("steps", "20,50,100"), Parameter("step_seconds", "0.3"), Parameter("min_requests", "30"),
                Parameter("shadow_percent", "50"), Parameter("max_latency_ratio", "10"),
            ]
        )
        let status = try await Self.driveRegression(mesh)
        let history = status.rollout?.history.map(\.message) ?? []
        if biased {
            #expect(status.rollout?.phase == .rolledBack, "\(history)")
            #expect(
                status.rollout?.reason?.contains("values of 'variable' differ from stable's by 18.18%") == true,
                "\(history)"
            )
            #expect(status.rollout?.step == 0, "rolled back after its first step: \(history)")
        } else {
            #expect(status.rollout?.phase == .promoted, "\(history)")
            #expect(status.stable == "3")
        }
    }

    @Test func aCandidateWithWorseLabelledAccuracyIsRolledBackOnLabelsFromYardLoad() async throws {
        let mesh = try await Self.mesh()
        defer { mesh.stop() }
        // version 8 (0.64 accurate) against version 2 (0.98): no shadow scoring and no drift judgement, so that only
        // the labels that yard load sends back can roll it back
        try await Self.start(
            mesh.router.port,
            stable: "2",
            candidate: "8",
            [
                Parameter("steps", "20,100"), Parameter("step_seconds", "600"), Parameter("shadow_percent", "0"),
                Parameter("min_predictions", "1000000"), Parameter("min_labels", "30"),
            ]
        )
        let certificates = InferenceServiceTests.certificates
        let yard = ServiceProcess.productsDirectory.appendingPathComponent("yard").path
        let load = Task {
            try await runCommand(
                yard,
                [
                    "load", "--target", "127.0.0.1:\(mesh.router.port)", "--model", "digits", "--input",
                    Self.digitsInputs,
                    "--feedback", Self.digitsLabels, "--users", "1000", "--rate", "200", "--duration", "10s",
                    "--warmup", "0",
                    "--ca", certificates.caPath, "--cert", certificates.certificatePath("app"), "--key",
                    certificates.keyPath("app"),
                ],
                timeout: .seconds(60)
            )
        }
        var status = try await Self.status(mesh.router.port)
        for _ in 0..<150 where status.rollout?.phase == .progressing {
            try await Task.sleep(for: .milliseconds(100))
            status = try await Self.status(mesh.router.port)
        }
        let (exit, output) = try await load.value
        #expect(status.rollout?.phase == .rolledBack, "\(status.rollout?.history.map(\.message) ?? [])")
        #expect(status.rollout?.reason?.hasPrefix("accuracy") == true, "\(status.rollout?.reason ?? "")")
        #expect(exit == 0, "\(output)")
        #expect(output.contains("feedback:") && output.contains("scored"), "\(output)")
    }

    @Test func aNewVersionDroppedIntoTheRepositoryGetsNoTrafficUntilARolloutStarts() async throws {
        // a repository of its own with version 1 only
        let repository = try ReleaseTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: repository) }
        let source = URL(fileURLWithPath: ReleaseTests.models).appendingPathComponent("digits")
        let digits = URL(fileURLWithPath: repository).appendingPathComponent("digits")
        try FileManager.default.createDirectory(at: digits, withIntermediateDirectories: true)
        for item in ["config.json", "1"] {
            try FileManager.default.copyItem(
                at: source.appendingPathComponent(item),
                to: digits.appendingPathComponent(item)
            )
        }
        let mesh = try await MeshTests.Mesh(
            models: repository,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
                + ["--health-check-interval-ms", "100"]
        )
        defer { mesh.stop() }
        var status = try await Self.status(mesh.router.port)
        for _ in 0..<50 where status.stable.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            status = try await Self.status(mesh.router.port)
        }
        #expect(status.stable == "1", "the newest version served is pinned once the router learns the versions")
        // version 2 arrives and the inference service loads it
        try FileManager.default.copyItem(at: source.appendingPathComponent("2"), to: digits.appendingPathComponent("2"))
        let admin = try ReleaseTests.wire(mesh.stages[1].port, as: "ops")
        defer { Task { await admin.close() } }
        _ = try await admin.call(
            Request(method: Method.modelLoad, model: "digits", version: "2"),
            deadline: .now.advanced(by: .seconds(20))
        )
        for _ in 0..<50 where status.waiting != ["2"] {
            try await Task.sleep(for: .milliseconds(100))
            status = try await Self.status(mesh.router.port)
        }
        #expect(status.waiting == ["2"] && status.versions == ["1", "2"], "\(status.versions ?? [])")
        let client = try mesh.client()
        defer { Task { await client.close() } }
        #expect(await ReleaseTests.round(client, count: 80, users: 400) == ["1": 80])
        // a rollout gives it its step's share
        try await Self.start(
            mesh.router.port,
            stable: "1",
            candidate: "2",
            [Parameter("steps", "50,100"), Parameter("step_seconds", "600")]
        )
        let answers = await ReleaseTests.round(client, count: 80, users: 400, offset: 80)
        #expect((answers["2"] ?? 0) > 10 && (answers["1"] ?? 0) > 10, "\(answers)")
    }

    @Test func theSplitGuardrailStopsAnArmThatFailsItsUsers() async throws {
        let mesh = try await Self.mesh()
        defer { mesh.stop() }
        _ = try await ComparisonTests.report(
            mesh.router.port,
            "ab.start",
            parameters: [
                Parameter("champion", "1"), Parameter("challenger", "9"), Parameter("mode", "split"),
                Parameter("percent", "50"),
            ]
        )
        let client = try mesh.client()
        defer { Task { await client.close() } }
        var report = try await ComparisonTests.report(mesh.router.port, "ab.report")
        var round = 0
        while report.running, round < 30 {
            _ = await ReleaseTests.round(client, count: 40, users: 400, offset: round * 40)
            try await Task.sleep(for: .milliseconds(150))  // a tick of the router's judgement
            report = try await ComparisonTests.report(mesh.router.port, "ab.report")
            round += 1
        }
        #expect(!report.running && report.stoppedArm == "9", "\(report.verdict)")
        #expect(report.stopReason?.hasPrefix("guardrail: 9's error rate 100%") == true, "\(report.stopReason ?? "")")
        // few users met the failing arm: the guardrail needs its minimum of requests, then a tick
        #expect(report.challenger.requests < 200, "\(report.challenger.requests)")
        #expect(await ReleaseTests.round(client, count: 40, users: 400) == ["1": 40])
    }

    @Test func aRouterKilledMidStepKeepsTheStepsEvidence() async throws {
        let state = try ReleaseTests.temporaryDirectory()
        let mesh = try await MeshTests.Mesh(
            models: ReleaseTests.models,
            routerArguments: ReleaseTests.routerArguments(state: state)
        )
        defer { mesh.stop() }
        try await Self.start(
            mesh.router.port,
            stable: "1",
            candidate: "2",
            [
                Parameter("steps", "50,100"), Parameter("step_seconds", "600"), Parameter("shadow_percent", "100"),
            ]
        )
        let labelled = try mesh.client()
        _ = await ComparisonTests.labelledRound(labelled)
        await labelled.close()
        // the evidence is written every tick (100 ms here): wait for the shadow answers and two ticks
        var before = try await Self.status(mesh.router.port)
        for _ in 0..<50 where before.candidateWindow.compared < before.candidateWindow.requests {
            try await Task.sleep(for: .milliseconds(100))
            before = try await Self.status(mesh.router.port)
        }
        try await Task.sleep(for: .milliseconds(300))
        before = try await Self.status(mesh.router.port)
        #expect(
            before.candidateWindow.requests > 100 && before.candidateWindow.labelled > 100,
            "\(before.candidateWindow)"
        )
        mesh.router.kill()
        _ = await mesh.router.waitForExit()
        let restarted = try await ServiceProcess(
            "switchyard-router",
            arguments: [
                "--port", "0", "--models", ReleaseTests.models, "--preprocess", "127.0.0.1:\(mesh.stages[0].port)",
                "--inference", "127.0.0.1:\(mesh.stages[1].port)", "--postprocess", "127.0.0.1:\(mesh.stages[2].port)",
            ] + InferenceServiceTests.tls("router") + ReleaseTests.routerArguments(state: state)
        )
        defer { restarted.kill() }
        let after = try await Self.status(restarted.port)
        #expect(after.rollout?.phase == .progressing && after.rollout?.step == 0)
        for (name, kept, was) in [
            ("requests", after.candidateWindow.requests, before.candidateWindow.requests),
            ("compared", after.candidateWindow.compared, before.candidateWindow.compared),
            ("labelled", after.candidateWindow.labelled, before.candidateWindow.labelled),
            ("stable requests", after.stableWindow.requests, before.stableWindow.requests),
            ("stable labelled", after.stableWindow.labelled, before.stableWindow.labelled),
        ] {
            #expect(kept == was, "\(name): \(kept) after the restart, \(was) before")
        }
        #expect(
            after.candidateWindow.outputs["probabilities"]?.rows
                == before.candidateWindow.outputs["probabilities"]?.rows
        )
    }
}
