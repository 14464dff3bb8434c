import Foundation
import Logging
import SwitchyardClient
import SwitchyardRouting
import SwitchyardRouter
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// Canary rollouts through a real router and stages, on the release fixtures (digits versions 1–4).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReleaseTests {
    static let models = packageRoot().appendingPathComponent("Tests/Fixtures/releases").path

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "switchyard-releases-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func routerArguments(state: String, name: String = "router-a") -> [String] {
        ["--state-dir", state, "--name", name, "--rollout-tick-ms", "100"]
    }

    static func wire(_ port: Int, as name: String) throws -> WireClient {
        let certificates = InferenceServiceTests.certificates
        let tls = TLSSettings(
            caPath: certificates.caPath,
            certificatePath: certificates.certificatePath(name),
            keyPath: certificates.keyPath(name)
        )
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try WireClient(
            configuration: WireClientConfiguration(host: "127.0.0.1", port: port, tls: tls),
            logger: logger
        )
    }

    /// Calls a release method as the admin; returns the model's status.
    static func admin(
        _ port: Int,
        _ method: String,
        parameters: [Parameter] = [],
        version: String = ""
    ) async throws -> ReleaseStatus {
        let client = try Self.wire(port, as: "ops")
        defer { Task { await client.close() } }
        let response = try await client.call(
            Request(method: method, model: "digits", version: version, parameters: parameters),
            deadline: .now.advanced(by: .seconds(10))
        )
        let statuses = try JSONDecoder().decode(
            [ReleaseStatus].self,
            from: Data((response[parameter: "status"] ?? "").utf8)
        )
        return try #require(statuses.first { $0.model == "digits" })
    }

    static func start(
        _ port: Int,
        candidate: String,
        steps: String = "20,50,100",
        stepSeconds: Double = 0.3,
        extra: [Parameter] = []
    )
        async throws -> ReleaseStatus
    {
        try await Self.admin(
            port,
            "rollout.start",
            parameters: extra + [  // the first of a name counts: extra wins
                Parameter("candidate", candidate), Parameter("stable", "1"), Parameter("steps", steps),
                Parameter("step_seconds", "\(stepSeconds)"), Parameter("min_requests", "30"),
                Parameter("shadow_percent", "50"),
                Parameter("min_samples", "20"), Parameter("max_latency_ratio", "10"),
            ]
        )
    }

    /// One round of `count` requests, 8 at a time, request i sending test row (offset + i) as user (offset + i) mod
    /// `users`; the versions that answered.
    static func round(_ client: SwitchyardClient, count: Int, users: Int, offset: Int = 0) async -> [String: Int] {
        let x = InferenceServiceTests.x
        return await withTaskGroup(of: String.self) { group in
            var answers: [String: Int] = [:]
            var next = 0
            func add() {
                let index = next
                next += 1
                group.addTask {
                    let row = (offset + index) % x.shape[0]
                    do {
                        let result = try await client.infer(
                            model: "digits",
                            inputs: ["X": try x.rows(row..<(row + 1))],
                            deadline: .seconds(10),
                            routingKey: "user-\((offset + index) % users)"
                        )
                        return result.modelVersion ?? "?"
                    } catch {
                        return "error: \(error)"
                    }
                }
            }
            for _ in 0..<8 { add() }
            while let answer = await group.next() {
                answers[answer, default: 0] += 1
                if next < count { add() }
            }
            return answers
        }
    }

    /// Sends rounds until the rollout leaves `progressing` (bounded: 60 rounds); returns the final status and every answer.
    static func driveUntilDecided(
        _ mesh: MeshTests.Mesh,
        _ client: SwitchyardClient
    ) async throws -> (ReleaseStatus, [String: Int]) {
        var all: [String: Int] = [:]
        for round in 0..<60 {
            for (key, value) in await Self.round(client, count: 40, users: 400, offset: round * 40) {
                all[key, default: 0] += value
            }
            let status = try await Self.admin(mesh.router.port, "rollout.status")
            if status.rollout?.phase != .progressing { return (status, all) }
        }
        return (try await Self.admin(mesh.router.port, "rollout.status"), all)
    }

    @Test func aGoodCandidateIsPromotedThroughEveryStep() async throws {
        let mesh = try await MeshTests.Mesh(
            models: Self.models,
            routerArguments: Self.routerArguments(state: try Self.temporaryDirectory())
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        let started = try await Self.start(mesh.router.port, candidate: "2")
        #expect(started.candidatePercent == 20 && started.rollout?.phase == .progressing)
        let (status, answers) = try await Self.driveUntilDecided(mesh, client)
        #expect(status.rollout?.phase == .promoted, "\(status.rollout?.history.map(\.message) ?? [])")
        #expect(status.stable == "2" && status.candidate == nil)
        let steps = status.rollout?.history.filter { $0.message.contains("gates passed") }.count
        #expect(steps == 3, "\(status.rollout?.history.map(\.message) ?? [])")  // 20% → 50% → 100% → promoted
        #expect(!answers.keys.contains { $0.hasPrefix("error") }, "\(answers)")
        // afterwards version 2 answers everyone
        #expect(await Self.round(client, count: 40, users: 400) == ["2": 40])
        await client.close()
    }

    @Test(arguments: [
        ("3", "top-1 disagreement"),  // wrong: trained on shuffled labels; runs fine, answers junk
        // right labels, wrong probabilities on 90% of rows: only the comparison of every output sees it
        ("7", "top-1 disagreement with stable: top-1 of 'probabilities' differs"),
        ("9", "error rate"),  // fails every request (no such version)
    ])
    func aBadCandidateIsRolledBackWithinItsFirstStep(_ candidate: String, _ reason: String) async throws {
        let mesh = try await MeshTests.Mesh(
            models: Self.models,
            routerArguments: Self.routerArguments(state: try Self.temporaryDirectory())
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        // a long first step: the gates must catch it within it, not at its end
        _ = try await Self.start(mesh.router.port, candidate: candidate, steps: "20,100", stepSeconds: 600)
        let (status, answers) = try await Self.driveUntilDecided(mesh, client)
        #expect(status.rollout?.phase == .rolledBack, "\(status.rollout?.history.map(\.message) ?? [])")
        #expect(status.rollout?.reason?.contains(reason) == true, "\(status.rollout?.reason ?? "")")
        #expect(status.stable == "1" && status.candidate == nil)
        // the traffic that reached it was about its step's share (20% of users), not more
        let total = answers.values.reduce(0, +)
        let candidateShare =
            Double(answers.filter { $0.key == candidate || $0.key.hasPrefix("error") }.values.reduce(0, +))
            / Double(max(total, 1))
        #expect(candidateShare < 0.35, "\(answers)")
        #expect(await Self.round(client, count: 40, users: 400) == ["1": 40])
        await client.close()
    }

    @Test func aSlowCandidateIsRolledBackOnLatency() async throws {
        let mesh = try await MeshTests.Mesh(
            models: Self.models,
            routerArguments: Self.routerArguments(state: try Self.temporaryDirectory())
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        // version 6 answers exactly as 1 does, with a branch of dead compute: only the latency gate can catch it
        _ = try await Self.start(
            mesh.router.port,
            candidate: "6",
            steps: "20,100",
            stepSeconds: 600,
            extra: [Parameter("max_latency_ratio", "3"), Parameter("min_latency_samples", "30")]
        )
        let (status, answers) = try await Self.driveUntilDecided(mesh, client)
        #expect(status.rollout?.phase == .rolledBack, "\(status.rollout?.history.map(\.message) ?? [])")
        #expect(
            status.rollout?.reason?.contains("p99 latency") == true,
            "\(status.rollout?.reason ?? "") \(status.stableWindow) \(status.candidateWindow)"
        )
        #expect(!answers.keys.contains { $0.hasPrefix("error") }, "\(answers)")
        await client.close()
    }

    @Test func aRouterRestartedMidRolloutResumesAtTheSameStepAndAnotherRouterFollows() async throws {
        let state = try Self.temporaryDirectory()
        let mesh = try await MeshTests.Mesh(models: Self.models, routerArguments: Self.routerArguments(state: state))
        defer { mesh.stop() }
        let client = try mesh.client()
        _ = try await Self.start(mesh.router.port, candidate: "2", steps: "10,60,100", stepSeconds: 1)
        var status = try await Self.admin(mesh.router.port, "rollout.status")
        for round in 0..<40 where status.rollout?.step == 0 {
            _ = await Self.round(client, count: 40, users: 400, offset: round * 40)
            status = try await Self.admin(mesh.router.port, "rollout.status")
        }
        #expect(
            status.rollout?.step == 1 && status.candidatePercent == 60,
            "\(status.rollout?.history.map(\.message) ?? [])"
        )
        await client.close()
        // kill it; a new process on the same state directory and name picks up where it was
        mesh.router.kill()
        _ = await mesh.router.waitForExit()
        let stages =
            [
                "--preprocess", "127.0.0.1:\(mesh.stages[0].port)", "--inference", "127.0.0.1:\(mesh.stages[1].port)",
                "--postprocess", "127.0.0.1:\(mesh.stages[2].port)", "--models", Self.models,
            ] + InferenceServiceTests.tls("router")
        let restarted = try await ServiceProcess(
            "switchyard-router",
            arguments: ["--port", "0"] + stages + Self.routerArguments(state: state)
        )
        defer { restarted.kill() }
        let resumed = try await Self.admin(restarted.port, "rollout.status")
        #expect(
            resumed.rollout?.phase == .progressing && resumed.rollout?.step == 1 && resumed.candidatePercent == 60,
            "\(resumed.rollout?.history.map(\.message) ?? [])"
        )
        // a second router on the same state follows the first one's decisions within a tick
        let follower = try await ServiceProcess(
            "switchyard-router",
            arguments: ["--port", "0"] + stages + Self.routerArguments(state: state, name: "router-b")
        )
        defer { follower.kill() }
        #expect(try await Self.admin(follower.port, "rollout.status").candidatePercent == 60)
        _ = try await Self.admin(restarted.port, "rollout.abort")
        var followed = try await Self.admin(follower.port, "rollout.status")
        for _ in 0..<50 where followed.rollout?.phase != .aborted {
            try await Task.sleep(for: .milliseconds(100))
            followed = try await Self.admin(follower.port, "rollout.status")
        }
        #expect(followed.rollout?.phase == .aborted && followed.stable == "1" && followed.candidatePercent == 0)
    }

    @Test func aRouterOnAnotherMachineFollowsItsLeaderOverTheWire() async throws {
        let mesh = try await MeshTests.Mesh(
            models: Self.models,
            routerArguments: Self.routerArguments(state: try Self.temporaryDirectory())
        )
        defer { mesh.stop() }
        let certificates = InferenceServiceTests.certificates
        // no shared directory: the follower reads the leader's state over the wire, finding the leader through a
        // watched file, as the stage pools find their instances; it names nobody at first, then the leader moves in
        let leaderFile = try Self.temporaryDirectory() + "/leader.list"
        try "127.0.0.1:9\n".write(toFile: leaderFile, atomically: true, encoding: .utf8)
        let follower = try await ServiceProcess(
            "switchyard-router",
            arguments: [
                "--port", "0", "--models", Self.models, "--preprocess", "127.0.0.1:\(mesh.stages[0].port)",
                "--inference", "127.0.0.1:\(mesh.stages[1].port)", "--postprocess", "127.0.0.1:\(mesh.stages[2].port)",
            ] + InferenceServiceTests.tls("router") + [
                "--name", "router-b", "--rollout-tick-ms", "100", "--release-leader", "file:\(leaderFile)",
                "--discovery-interval-ms", "200",
            ]
        )
        defer { follower.kill() }
        _ = try await Self.start(mesh.router.port, candidate: "2", steps: "10,60,100", stepSeconds: 600)
        try "127.0.0.1:\(mesh.router.port)\n".write(toFile: leaderFile, atomically: true, encoding: .utf8)
        func followed(_ condition: (ReleaseStatus) -> Bool) async throws -> ReleaseStatus {
            var status = try await Self.admin(follower.port, "rollout.status")
            for _ in 0..<200 where !condition(status) {
                try await Task.sleep(for: .milliseconds(100))
                status = try await Self.admin(follower.port, "rollout.status")
            }
            return status
        }
        let started = try await followed { $0.candidatePercent == 10 }
        #expect(started.candidatePercent == 10 && started.rollout?.phase == .progressing)
        // it takes no release commands itself
        await #expect { try await Self.admin(follower.port, "rollout.abort") } throws: {
            ($0 as? Status)?.code == .failedPrecondition
                && ($0 as? Status)?.message.contains("--release-leader") == true
        }
        _ = try await Self.admin(mesh.router.port, "rollout.abort")
        let aborted = try await followed { $0.rollout?.phase == .aborted }
        #expect(aborted.rollout?.phase == .aborted && aborted.candidatePercent == 0 && aborted.stable == "1")
        // and its traffic follows: everyone on the stable version
        let client = try SwitchyardClient(
            host: "127.0.0.1",
            port: follower.port,
            tls: TLSSettings(
                caPath: certificates.caPath,
                certificatePath: certificates.certificatePath("app"),
                keyPath: certificates.keyPath("app")
            )
        )
        #expect(await Self.round(client, count: 40, users: 400) == ["1": 40])
        await client.close()
    }

    @Test func changesNeedAnAdminCertificateAndBadPlansAreRefused() async throws {
        let mesh = try await MeshTests.Mesh(
            models: Self.models,
            routerArguments: Self.routerArguments(state: try Self.temporaryDirectory())
        )
        defer { mesh.stop() }
        let app = try Self.wire(mesh.router.port, as: "app")
        defer { Task { await app.close() } }
        await #expect {
            try await app.call(
                Request(method: "rollout.start", model: "digits", parameters: [Parameter("candidate", "2")])
            )
        } throws: {
            ($0 as? Status)?.code == .permissionDenied
        }
        // reading needs the read-only role, which an app does not have
        await #expect { try await app.call(Request(method: "rollout.status", model: "digits")) } throws: {
            ($0 as? Status)?.code == .permissionDenied
        }
        let readonly = try Self.wire(mesh.router.port, as: "readonly")
        _ = try await readonly.call(Request(method: "rollout.status", model: "digits"))
        await #expect {
            try await readonly.call(
                Request(method: "rollout.start", model: "digits", parameters: [Parameter("candidate", "2")])
            )
        } throws: {
            ($0 as? Status)?.code == .permissionDenied
        }
        await readonly.close()
        await #expect { try await Self.start(mesh.router.port, candidate: "2", steps: "50,10") } throws: {
            ($0 as? Status)?.code == .invalidArgument && ($0 as? Status)?.message.contains("must not decrease") == true
        }
        await #expect { try await Self.admin(mesh.router.port, "rollout.promote") } throws: {
            ($0 as? Status)?.code == .notFound
        }
        // no rollout: pinned at once
        #expect(try await Self.admin(mesh.router.port, "release.pin", version: "2").stable == "2")
        _ = try await Self.start(mesh.router.port, candidate: "2")
        await #expect { try await Self.start(mesh.router.port, candidate: "3") } throws: {
            ($0 as? Status)?.code == .failedPrecondition
        }
        await #expect { try await Self.admin(mesh.router.port, "release.pin", version: "3") } throws: {
            ($0 as? Status)?.code == .failedPrecondition
        }
        let paused = try await Self.admin(mesh.router.port, "rollout.pause")
        #expect(paused.rollout?.phase == .paused)
        let promoted = try await Self.admin(mesh.router.port, "rollout.promote")
        #expect(promoted.rollout?.phase == .promoted && promoted.stable == "2")
    }
}
