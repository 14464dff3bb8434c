import Foundation
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouter

/// What releases do on the router's request path, in process with fake stages: the `request.id` on every answer,
/// labels for rollouts one by one and in batches, the gates on every output and on accuracy, testers before any
/// public step, the safe default for new versions, evidence across a restart, metric and webhook gates and the
/// notifications, all through a fake HTTP client.
@Suite(.timeLimit(.minutes(1)))
struct ReleaseGateTests {
    /// Inference whose answers depend on the version: `y` (a regression output) and `label`, from `answer`.
    static func versioned(_ answer: @escaping @Sendable (String, Float) -> (y: Float, label: Int64)) -> FakeStage {
        FakeStage { request in
            let x = try column(request, "x")
            let version = request.version.isEmpty ? "1" : request.version
            let answers = x.map { answer(version, $0) }
            return Response(
                parameters: [
                    Parameter(ParameterKey.modelVersion, version), Parameter(ParameterKey.computeMicroseconds, "100"),
                ],
                tensors: [
                    NamedTensor("y", try Tensor(answers.map(\.y), shape: [x.count, 1])),
                    NamedTensor("label", try Tensor(answers.map(\.label), shape: [x.count])),
                ]
            )
        }
    }

    /// An HTTP client that answers from a table and keeps what it was sent.
    final class FakeHTTP: ReleaseHTTP {
        let sent = Mutex<[(method: String, url: String, body: String)]>([])
        let answer: @Sendable (String, String) -> (Int, String)

        init(_ answer: @escaping @Sendable (_ method: String, _ url: String) -> (Int, String)) { self.answer = answer }

        func send(
            _ method: String,
            _ url: String,
            body: [UInt8],
            timeout: Duration
        ) async throws -> (status: Int, body: [UInt8]) {
            self.sent.withLock { $0.append((method, url, String(decoding: body, as: UTF8.self))) }
            let (status, text) = self.answer(method, url)
            guard status > 0 else { throw RouterError(.notFound, "connection refused") }
            return (status, Array(text.utf8))
        }

        func posts(to prefix: String) -> [String] {
            self.sent.withLock { $0.filter { $0.method == "POST" && $0.url.hasPrefix(prefix) }.map(\.body) }
        }
    }

    static func controller(
        _ directory: String? = nil,
        http: (any ReleaseHTTP)? = nil,
        notify: [String] = [],
        prometheus: String? = nil,
        versions: (@Sendable (String) -> [String]?)? = nil
    ) throws -> ReleaseController {
        try ReleaseController(
            models: ["m"],
            stateDirectory: directory,
            identity: "r1",
            tick: .milliseconds(50),
            http: http,
            notify: notify,
            prometheus: prometheus,
            versions: versions,
            logger: InProcessMesh.quiet
        )
    }

    static func start(_ mesh: InProcessMesh, _ parameters: [Parameter]) async throws {
        _ = try await mesh.call(Request(method: Method.releasePin, model: "m", version: "1"), peer: InProcessMesh.admin)
        _ = try await mesh.call(
            Request(method: Method.rolloutStart, model: "m", parameters: parameters),
            peer: InProcessMesh.admin
        )
    }

    /// Requests with routing keys `user-first ..`, each `x` = 1; the answers.
    static func answers(
        _ mesh: InProcessMesh,
        _ count: Int,
        from first: Int = 0,
        parameters: [Parameter] = []
    ) async throws -> [Response] {
        var responses: [Response] = []
        for index in first..<(first + count) {
            var request = inferRequest(1, routingKey: "user-\(index)")
            request.parameters = parameters
            responses.append(try await mesh.call(request))
        }
        return responses
    }

    @Test func everyAnswerCarriesARequestIDAndRolloutLabelsRollBackALessAccurateCandidate() async throws {
        let releases = try Self.controller()
        // version 2 answers the wrong class for every request; the true class is 1
        let inference = Self.versioned { version, x in (x * 10, version == "2" ? 0 : 1) }
        try await InProcessMesh.with(inference: inference, releases: releases) { mesh in
            let plain = try await mesh.call(inferRequest(1))
            #expect(plain[parameter: ParameterKey.requestID] != nil)  // no release running: still labelled later
            try await Self.start(
                mesh,
                [
                    Parameter(ParameterKey.candidate, "2"), Parameter(ParameterKey.steps, "50,100"),
                    Parameter(ParameterKey.stepSeconds, "600"), Parameter(ParameterKey.shadowPercent, "0"),
                    Parameter(ParameterKey.minLabels, "10"),
                ]
            )
            let responses = try await Self.answers(mesh, 120)
            let ids = responses.compactMap { $0[parameter: ParameterKey.requestID] }
            #expect(ids.count == 120 && Set(ids).count == 120)
            // one label by parameters, the rest as one batch of tensors, with two ids the router never gave
            _ = try await mesh.call(
                Request(
                    method: Method.feedback,
                    parameters: [Parameter("request_id", ids[0]), Parameter("label", "1")]
                )
            )
            let batch = Array(ids.dropFirst()) + ["nobody", "nothing"]
            let answer = try await mesh.call(
                Request(
                    method: Method.feedback,
                    tensors: [
                        NamedTensor("request_id", try Tensor(strings: batch)),
                        NamedTensor("label", try Tensor([Int64](repeating: 1, count: batch.count))),
                    ]
                )
            )
            #expect(answer[parameter: ParameterKey.accepted] == "119" && answer[parameter: ParameterKey.unknown] == "2")
            // a label twice is not counted twice
            #expect(
                await mesh.status(
                    of: Request(
                        method: Method.feedback,
                        parameters: [Parameter("request_id", ids[0]), Parameter("label", "1")]
                    )
                ) == .notFound
            )
            let window = try #require(releases.status.first)
            #expect(window.candidate.labelled + window.stable.labelled == 120)
            #expect(window.candidate.accuracy == 0 && window.stable.accuracy == 1)
            releases.evaluate(now: Date().timeIntervalSince1970)
            let status = try #require(releases.status.first?.rollout)
            #expect(status.phase == .rolledBack)
            #expect(status.reason?.hasPrefix("accuracy 0% on") == true, "\(status.reason ?? "")")
        }
    }

    @Test func aBiasedRegressionCandidateIsRolledBackOnItsOutputAndAnEqualOneIsNot() async throws {
        for (factor, rolledBack) in [(Float(1.2), true), (Float(1.01), false)] {
            let releases = try Self.controller()
            let inference = Self.versioned { version, x in (version == "2" ? x * 10 * factor : x * 10, 1) }
            try await InProcessMesh.with(inference: inference, releases: releases) { mesh in
                try await Self.start(
                    mesh,
                    [
                        Parameter(ParameterKey.candidate, "2"), Parameter(ParameterKey.steps, "50,100"),
                        Parameter(ParameterKey.stepSeconds, "600"), Parameter(ParameterKey.shadowPercent, "100"),
                    ]
                )
                _ = try await Self.answers(mesh, 100)
                #expect(await eventually { (releases.status.first?.candidate.compared ?? 0) >= 30 })
                let output = try #require(releases.status.first?.candidate.outputs["y"])
                #expect(output.kind == .values)
                releases.evaluate(now: Date().timeIntervalSince1970)
                let rollout = try #require(releases.status.first?.rollout)
                #expect((rollout.phase == .rolledBack) == rolledBack, "\(factor): \(rollout.reason ?? "")")
                if rolledBack {
                    #expect(rollout.reason?.contains("values of 'y' differ from stable's by 18.18%") == true)
                }
            }
        }
    }

    @Test func testersAndVersionTagsReachTheCandidateBeforeAnyPublicStep() async throws {
        let releases = try Self.controller()
        try await InProcessMesh.with(releases: releases) { mesh in
            try await Self.start(
                mesh,
                [
                    Parameter(ParameterKey.candidate, "2"), Parameter(ParameterKey.steps, "0,pause,50,100"),
                    Parameter(ParameterKey.testers, "alice, bob"), Parameter(ParameterKey.testerMatch, "team=ml"),
                ]
            )
            let everyone = try await Self.answers(mesh, 40)
            #expect(everyone.allSatisfy { $0[parameter: ParameterKey.modelVersion] == "1" })
            for key in ["alice", "bob"] {
                let answer = try await mesh.call(inferRequest(1, routingKey: key))
                #expect(answer[parameter: ParameterKey.modelVersion] == "2")
            }
            let team = try await Self.answers(mesh, 5, from: 100, parameters: [Parameter("team", "ml")])
            #expect(team.allSatisfy { $0[parameter: ParameterKey.modelVersion] == "2" })
            let tagged = try await Self.answers(
                mesh,
                5,
                from: 200,
                parameters: [Parameter(ParameterKey.versionTag, "candidate")]
            )
            #expect(tagged.allSatisfy { $0[parameter: ParameterKey.modelVersion] == "2" })
            let kept = try await mesh.call(inferRequest(1, routingKey: "alice").with(ParameterKey.versionTag, "stable"))
            #expect(kept[parameter: ParameterKey.modelVersion] == "1")
            // the testers' requests are the candidate's evidence
            #expect(releases.status.first?.candidate.requests == 12)
            // approving at the pause needs the step done first; then the public step starts
            await #expect(throws: Status.self) {
                try await mesh.call(Request(method: Method.rolloutApprove, model: "m"), peer: InProcessMesh.admin)
            }
        }
    }

    @Test func aNewVersionGetsNoTrafficUntilARolloutStarts() async throws {
        let served = Mutex(["1"])
        let releases = try Self.controller(versions: { _ in served.withLock { $0 } })
        try await InProcessMesh.with(releases: releases) { mesh in
            // nothing pinned: the newest version served is pinned at the first look
            releases.pinNewestWhereNothingIsPinned()
            #expect(releases.status.first?.split == TrafficSplit(stable: "1"))
            served.withLock { $0 = ["1", "2"] }
            releases.pinNewestWhereNothingIsPinned()
            let answers = try await Self.answers(mesh, 20)
            #expect(answers.allSatisfy { $0[parameter: ParameterKey.modelVersion] == "1" })
            #expect(mesh.inference.requests.allSatisfy { $0.version == "1" })
            let status = try #require(
                try JSONDecoder().decode(
                    [ReleaseStatus].self,
                    from: Data(
                        (try await mesh.call(Request(method: Method.rolloutStatus, model: "m"))[
                            parameter: ParameterKey.status
                        ] ?? "").utf8
                    )
                ).first
            )
            #expect(status.stable == "1" && status.waiting == ["2"] && status.versions == ["1", "2"])
        }
    }

    @Test func theStepsEvidenceSurvivesARestartOfItsOwner() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-evidence-\(UUID())")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try Self.controller(directory)
        try await InProcessMesh.with(inference: Self.versioned { _, x in (x * 10, 1) }, releases: first) { mesh in
            try await Self.start(
                mesh,
                [
                    Parameter(ParameterKey.candidate, "2"), Parameter(ParameterKey.steps, "50,100"),
                    Parameter(ParameterKey.stepSeconds, "600"), Parameter(ParameterKey.shadowPercent, "100"),
                ]
            )
            let responses = try await Self.answers(mesh, 60)
            _ = try await mesh.call(
                Request(
                    method: Method.feedback,
                    tensors: [
                        NamedTensor(
                            "request_id",
                            try Tensor(strings: responses.compactMap { $0[parameter: ParameterKey.requestID] })
                        ),
                        NamedTensor("label", try Tensor([Int64](repeating: 1, count: 60))),
                    ]
                )
            )
            #expect(
                await eventually {
                    (first.status.first?.candidate.compared ?? 0) == first.status.first?.candidate.requests
                }
            )
        }
        first.persistEvidence()
        let before = try #require(first.status.first)
        #expect(before.candidate.requests > 10 && before.candidate.labelled > 10)
        let restarted = try Self.controller(directory)
        let after = try #require(restarted.status.first)
        #expect(after.candidate == before.candidate && after.stable == before.stable)
        #expect(after.rollout?.step == 0 && after.rollout?.phase == .progressing)
    }

    @Test func aComparisonAndItsEvidenceSurviveARestartOfItsOwner() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-ab-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try Self.controller(directory)
        // version 1 answers label 1, version 2 label 0: every label of 1 scores the champion right, the challenger wrong
        try await InProcessMesh.with(inference: Self.versioned { v, x in (x, v == "1" ? 1 : 0) }, releases: first) {
            mesh in
            _ = try await mesh.call(
                Request(method: Method.releasePin, model: "m", version: "1"),
                peer: InProcessMesh.admin
            )
            _ = try await mesh.call(
                Request(
                    method: Method.abStart,
                    model: "m",
                    parameters: [
                        Parameter(ParameterKey.champion, "1"), Parameter(ParameterKey.challenger, "2"),
                        Parameter(ParameterKey.mode, "split"), Parameter(ParameterKey.percent, "50"),
                        Parameter(ParameterKey.guardrail, "off"),
                    ]
                ),
                peer: InProcessMesh.admin
            )
            let responses = try await Self.answers(mesh, 80)
            _ = try await mesh.call(
                Request(
                    method: Method.feedback,
                    tensors: [
                        NamedTensor(
                            "request_id",
                            try Tensor(strings: responses.compactMap { $0[parameter: ParameterKey.requestID] })
                        ),
                        NamedTensor("label", try Tensor([Int64](repeating: 1, count: responses.count))),
                    ]
                )
            )
        }
        first.persistEvidence()
        let before = try first.experimentReport(model: "m")
        #expect(before.champion.labelled > 10 && before.challenger.labelled > 10, "\(before)")
        #expect(before.champion.accuracy == 1 && before.challenger.accuracy == 0)
        let restarted = try Self.controller(directory)
        let after = try restarted.experimentReport(model: "m")
        for (arm, old) in [(after.champion, before.champion), (after.challenger, before.challenger)] {
            #expect(arm.requests == old.requests && arm.labelled == old.labelled && arm.accuracy == old.accuracy)
        }
        #expect(after.compared == before.compared && after.pValue == before.pValue && after.winner == "1")
        #expect(after.running)
        // the restarted router splits users as before and keeps counting
        try await InProcessMesh.with(inference: Self.versioned { v, x in (x, v == "1" ? 1 : 0) }, releases: restarted) {
            mesh in
            let versions = try await Self.answers(mesh, 40, from: 80).compactMap {
                $0[parameter: ParameterKey.modelVersion]
            }
            #expect(Set(versions) == ["1", "2"], "\(versions)")
        }
        let continued = try restarted.experimentReport(model: "m")
        #expect(continued.champion.requests + continued.challenger.requests == 120)
    }

    @Test func metricGatesReadPrometheusAndWebhookGatesAndNotificationsGetTheDecisions() async throws {
        let refuse = Atomic<Bool>(false)
        let http = FakeHTTP { method, url in
            if url.hasPrefix("http://prometheus/api/v1/query") {
                return (
                    200,
                    #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.02"]}]}}"#
                )
            }
            if url.hasPrefix("http://gate") { return refuse.load(ordering: .relaxed) ? (409, "not now") : (200, "") }
            return (204, "")
        }
        let releases = try Self.controller(http: http, notify: ["http://chat/hook"], prometheus: "http://prometheus")
        try await InProcessMesh.with(releases: releases) { mesh in
            try await Self.start(
                mesh,
                [
                    Parameter(ParameterKey.candidate, "2"), Parameter(ParameterKey.steps, "50,100"),
                    Parameter(ParameterKey.stepSeconds, "0"), Parameter(ParameterKey.minRequests, "10"),
                    Parameter(ParameterKey.shadowPercent, "0"), Parameter(ParameterKey.webhooks, "http://gate/check"),
                    Parameter(
                        ParameterKey.plan,
                        #"{"gates":{"metrics":[{"name":"error_ratio","max":0.05,"#
                            + #""query":"sum(rate(errors{version=\"$candidate\"}[$window]))"}]}}"#
                    ),
                ]
            )
            _ = try await Self.answers(mesh, 40)
            let running = Task { try await releases.run() }
            defer { running.cancel() }
            // the metric's value arrives, the step's gates pass, the webhook gate says yes: step 2
            #expect(await eventually { releases.status.first?.rollout?.step == 1 })
            let query = try #require(http.sent.withLock { $0.first { $0.url.hasPrefix("http://prometheus") }?.url })
            #expect(query.contains("query=sum%28rate%28errors%7Bversion%3D%222%22%7D%5B"), "\(query)")
            let evidence = try #require(http.posts(to: "http://gate").first)
            #expect(
                evidence.contains("\"candidate_window\"") && evidence.contains("\"error_ratio\":0.02"),
                "\(evidence)"
            )
            // at the next step the gate refuses: rolled back with its answer
            refuse.store(true, ordering: .relaxed)
            _ = try await Self.answers(mesh, 20, from: 40)
            #expect(await eventually { releases.status.first?.rollout?.phase == .rolledBack })
            #expect(releases.status.first?.rollout?.reason == "webhook gate http://gate/check answered 409: not now")
            // every decision went to the chat webhook, Slack-compatible
            func kinds() -> [String] {
                http.posts(to: "http://chat").compactMap { body -> String? in
                    guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                        object["text"] is String, let event = object["switchyard"] as? [String: Any]
                    else { return nil }
                    return event["kind"] as? String
                }
            }
            #expect(await eventually { kinds().contains("rollout.rolled_back") }, "\(kinds())")
            #expect(Array(kinds().prefix(2)) == ["release.pinned", "rollout.started"], "\(kinds())")
            #expect(kinds().contains("rollout.step") && kinds().contains("rollout.confirming"), "\(kinds())")
        }
    }

    @Test func aMetricOverItsThresholdRollsTheCandidateBack() async throws {
        let http = FakeHTTP { _, _ in
            (200, #"{"status":"success","data":{"resultType":"scalar","result":[1,"0.3"]}}"#)
        }
        let releases = try Self.controller(http: http, prometheus: "http://prometheus/")
        try await InProcessMesh.with(releases: releases) { mesh in
            try await Self.start(
                mesh,
                [
                    Parameter(ParameterKey.candidate, "2"), Parameter(ParameterKey.steps, "50,100"),
                    Parameter(ParameterKey.stepSeconds, "600"),
                    Parameter(ParameterKey.plan, #"{"gates":{"metrics":[{"name":"p99","query":"x","max":0.25}]}}"#),
                ]
            )
            let running = Task { try await releases.run() }
            defer { running.cancel() }
            #expect(await eventually { releases.status.first?.rollout?.phase == .rolledBack })
            #expect(releases.status.first?.rollout?.reason?.hasPrefix("metric 'p99' = 0.3 over the step's") == true)
        }
    }

    @Test func prometheusAnswersAreReadOrRefusedWithAReason() throws {
        func value(_ text: String) throws -> Double? { try ReleaseController.prometheusValue(Array(text.utf8)) }
        #expect(try value(#"{"status":"success","data":{"resultType":"vector","result":[]}}"#) == nil)
        #expect(try value(#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"7"]}}"#) == 7)
        #expect(
            try value(#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"NaN"]}]}}"#) == nil
        )
        #expect(throws: RouterError.self) { try value(#"{"status":"error","error":"parse error"}"#) }
        let many =
            #"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]},{"value":[1,"2"]}]}}"#
        let error = #expect(throws: RouterError.self) { try value(many) }
        #expect(error?.message.contains("2 series") == true)
        #expect(ReleaseController.percentEncoded("a b+c") == "a%20b%2Bc")
    }
}

extension Request {
    /// The request with one more parameter.
    func with(_ key: String, _ value: String) -> Request {
        var copy = self
        copy.parameters.append(Parameter(key, value))
        return copy
    }
}
