import Foundation
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The release controller inside a router constructed in this process: canary rollouts driven by real traffic
/// through fake stages, judged by calling `evaluate` (no clock to wait for), and the state file across restarts
/// and between routers.
@Suite(.timeLimit(.minutes(2)))
struct ReleaseControllerTests {
    /// A fresh state directory.
    static func directory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-releases-\(UUID())").path
        return path
    }

    static func controller(
        _ directory: String?,
        identity: String = "r1",
        tick: Duration = .seconds(1),
        leader: (any Upstream)? = nil
    ) throws -> ReleaseController {
        try ReleaseController(
            models: ["m"],
            stateDirectory: directory,
            identity: identity,
            tick: tick,
            leader: leader,
            logger: InProcessMesh.quiet
        )
    }

    /// `rollout.start` parameters: steps 50 then 100, judged after 10 candidate requests, no shadow scoring, the
    /// latency gate out of reach of a test's few requests.
    static let plan = [
        Parameter(ParameterKey.candidate, "2"), Parameter(ParameterKey.steps, "50,100"),
        Parameter(ParameterKey.stepSeconds, "0"), Parameter(ParameterKey.minRequests, "10"),
        Parameter(ParameterKey.minSamples, "10"), Parameter(ParameterKey.shadowPercent, "0"),
        Parameter(ParameterKey.minLatencySamples, "100000"),
    ]

    /// Sends `count` requests with distinct routing keys; returns the versions that answered (or `error <status>`).
    static func drive(_ mesh: InProcessMesh, _ count: Int, from first: Int = 0) async -> [String: Int] {
        var answers: [String: Int] = [:]
        for index in first..<(first + count) {
            do {
                let response = try await mesh.call(inferRequest(1, routingKey: "user-\(index)"))
                answers[response[parameter: ParameterKey.modelVersion] ?? "none", default: 0] += 1
            } catch {
                answers["error \(RoutingError.status(for: error).code)", default: 0] += 1
            }
        }
        return answers
    }

    /// The model's release status as `rollout.status` answers it.
    static func status(_ mesh: InProcessMesh) async throws -> ReleaseStatus {
        let response = try await mesh.call(Request(method: Method.rolloutStatus, model: "m"))
        let json = Data((response[parameter: ParameterKey.status] ?? "").utf8)
        return try #require(try JSONDecoder().decode([ReleaseStatus].self, from: json).first)
    }

    /// Pins version 1 of model `m`.
    static let pin = Request(method: Method.releasePin, model: "m", version: "1")

    static func later() -> Double { Date().timeIntervalSince1970 + 1 }

    @Test func aCanaryThatPassesItsGatesStepsUpAndIsPromoted() async throws {
        let releases = try Self.controller(Self.directory())
        try await InProcessMesh.with(releases: releases) { mesh in
            _ = try await mesh.call(Self.pin, peer: InProcessMesh.admin)
            _ = try await mesh.call(
                Request(method: Method.rolloutStart, model: "m", parameters: Self.plan),
                peer: InProcessMesh.admin
            )
            let split = await Self.drive(mesh, 80)
            #expect(split.keys.sorted() == ["1", "2"], "\(split)")
            #expect(split["2", default: 0] >= 10, "\(split)")
            releases.evaluate(now: Self.later())
            var status = try await Self.status(mesh)
            #expect(status.rollout?.phase == .progressing && status.rollout?.step == 1)
            #expect(status.candidatePercent == 100)
            #expect(await Self.drive(mesh, 20, from: 80) == ["2": 20])
            releases.evaluate(now: Self.later())
            status = try await Self.status(mesh)
            #expect(status.rollout?.phase == .promoted)
            #expect(status.stable == "2" && status.candidate == nil)
            #expect(await Self.drive(mesh, 10, from: 100) == ["2": 10])
        }
    }

    @Test func aFailingCandidateIsRolledBackAndItsCallersGetTheFailure() async throws {
        let releases = try Self.controller(nil)
        let inference = FakeStage.inference { request in
            if request.version == "2" { throw Status(.internalError, "version 2 crashed") }
        }
        try await InProcessMesh.with(inference: inference, releases: releases) { mesh in
            _ = try await mesh.call(Self.pin, peer: InProcessMesh.admin)
            _ = try await mesh.call(
                Request(method: Method.rolloutStart, model: "m", parameters: Self.plan),
                peer: InProcessMesh.admin
            )
            let split = await Self.drive(mesh, 80)
            #expect(split.keys.sorted() == ["1", "error internal"], "\(split)")
            releases.evaluate(now: Self.later())
            let status = try await Self.status(mesh)
            #expect(status.rollout?.phase == .rolledBack)
            #expect(status.stable == "1" && status.candidatePercent == 0)
            #expect(status.rollout?.reason?.hasPrefix("error rate 100%") == true, "\(status.rollout?.reason ?? "")")
            #expect(await Self.drive(mesh, 20, from: 80) == ["1": 20])
        }
    }

    /// (Who may call them is the wire server's authorization policy: `AuthorizationTests`, `ReleaseTests`.)
    @Test func releaseCommandsAreRefusedWhileARolloutRuns() async throws {
        let releases = try Self.controller(nil)
        try await InProcessMesh.with(releases: releases) { mesh in
            let start = Request(
                method: Method.rolloutStart,
                model: "m",
                parameters: Self.plan + [Parameter(ParameterKey.stable, "1")]
            )
            _ = try await mesh.call(start, peer: InProcessMesh.admin)
            await #expect(throws: Status.self) { try await mesh.call(start, peer: InProcessMesh.admin) }
            let again = await #expect(throws: RouterError.self) {
                try await mesh.router.handle(start, context: RouterServiceTests.context(peer: InProcessMesh.admin))
            }
            #expect(again?.code == .conflict)
            var bad = start
            bad.parameters = [Parameter(ParameterKey.candidate, "3"), Parameter(ParameterKey.minRequests, "1e300")]
            _ = try await mesh.call(Request(method: Method.rolloutAbort, model: "m"), peer: InProcessMesh.admin)
            let refused = await #expect(throws: RouterError.self) {
                try await mesh.router.handle(bad, context: RouterServiceTests.context(peer: InProcessMesh.admin))
            }
            #expect(refused?.code == .invalidArgument)
        }
    }

    @Test func theReleaseStateIsPersistedAndARestartedRouterResumesAtTheSameStep() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try Self.controller(directory)
        try first.pin(model: "m", version: "1")
        var plan = RolloutPlan()
        plan.steps = [10, 50, 100]
        plan.stepSeconds = 0
        plan.minRequestsPerStep = 5
        plan.shadowPercent = 0  // no shadow scoring: the step waits for no comparisons
        _ = try first.start(model: "m", candidate: "2", stable: nil, plan: plan)
        for _ in 0..<5 {
            first.record(model: "m", arm: .candidate, ok: true, latency: .milliseconds(1))
            first.record(model: "m", arm: .stable, ok: true, latency: .milliseconds(1))
        }
        first.evaluate(now: Self.later())
        #expect(first.status.first?.split.candidatePercent == 50)

        // a restart: the same identity reads the file and carries on from step 2
        let restarted = try Self.controller(directory)
        let resumed = try #require(restarted.status.first)
        #expect(resumed.rollout?.step == 1 && resumed.rollout?.phase == .progressing)
        #expect(resumed.split == TrafficSplit(stable: "1", candidate: "2", candidatePercent: 50))
        for _ in 0..<5 { restarted.record(model: "m", arm: .candidate, ok: true, latency: .milliseconds(1)) }
        restarted.evaluate(now: Self.later())
        #expect(restarted.status.first?.split.candidatePercent == 100)

        // the file is one JSON document people can read
        let text = try String(contentsOfFile: directory + "/releases.json", encoding: .utf8)
        #expect(text.contains("\"writer\" : \"r1\""))
    }

    @Test func anUnreadableStateFileStopsTheStartWithItsName() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: directory + "/releases.json"))
        let error = #expect(throws: RouterError.self) { try Self.controller(directory) }
        #expect(error?.code == .stateUnreadable)
        #expect(error?.message.contains("releases.json") == true)
    }

    @Test func routersSharingTheDirectoryAndFollowersOfALeaderAdoptItsDecisions() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let leader = try Self.controller(directory)
        let neighbour = try Self.controller(directory, identity: "r2", tick: .milliseconds(10))
        try await InProcessMesh.with(releases: leader) { mesh in
            // a router on another VM follows the leader over the wire (here: in this process)
            let follower = try Self.controller(
                nil,
                identity: "r3",
                tick: .milliseconds(10),
                leader: InProcessUpstream(mesh.router)
            )
            #expect(follower.followerReason != nil)
            let tasks = [Task { try await neighbour.run() }, Task { try await follower.run() }]
            defer { for task in tasks { task.cancel() } }
            try leader.pin(model: "m", version: "1")
            _ = try leader.start(model: "m", candidate: "2", stable: nil, plan: RolloutPlan())
            let expected = TrafficSplit(stable: "1", candidate: "2", candidatePercent: 5)
            #expect(await eventually { neighbour.status.first?.split == expected })
            #expect(await eventually { follower.status.first?.split == expected })
            _ = try leader.apply(.promote, model: "m")
            #expect(await eventually { neighbour.status.first?.split == TrafficSplit(stable: "2") })
            #expect(await eventually { follower.status.first?.split == TrafficSplit(stable: "2") })
            #expect(follower.status.first?.rollout?.phase == .promoted)
        }
    }
}
