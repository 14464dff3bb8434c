import Foundation
import Logging
import SwitchyardClient
import SwitchyardEngine
import SwitchyardRouting
import SwitchyardRouter
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Testing

/// A/B comparisons through a real router and stages, on the release fixtures (1 = 5 demo, 2 retrained, 4 weak).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ComparisonTests {
    static let truth = try! NPY.read(
        packageRoot().appendingPathComponent("Tests/Fixtures/engine/digits/y_test.npy").path
    )
    .converted(to: .int64).scalars(as: Int64.self)

    static func report(_ port: Int, _ method: String, parameters: [Parameter] = []) async throws -> ExperimentReport {
        let client = try ReleaseTests.wire(port, as: "ops")
        defer { Task { await client.close() } }
        let response = try await client.call(
            Request(method: method, model: "digits", parameters: parameters),
            deadline: .now.advanced(by: .seconds(10))
        )
        return try JSONDecoder().decode(ExperimentReport.self, from: Data((response[parameter: "report"] ?? "").utf8))
    }

    /// Sends every test row once (8 at a time, each its own user), reports each true label back as feedback;
    /// returns the client-visible outcomes and the versions that answered.
    static func labelledRound(_ client: SwitchyardClient) async -> (outcomes: [String: Int], versions: [String: Int]) {
        let x = InferenceServiceTests.x
        let rows = x.shape[0]
        return await withTaskGroup(of: (String, String).self) { group in
            var outcomes: [String: Int] = [:]
            var versions: [String: Int] = [:]
            var next = 0
            func add() {
                let row = next
                next += 1
                group.addTask {
                    do {
                        let result = try await client.infer(
                            model: "digits",
                            inputs: ["X": try x.rows(row..<(row + 1))],
                            deadline: .seconds(10),
                            routingKey: "user-\(row)"
                        )
                        guard let id = result.response[parameter: "request.id"] else {
                            return ("no request.id", result.modelVersion ?? "?")
                        }
                        _ = try await client.call(
                            Request(
                                method: "feedback",
                                parameters: [Parameter("request_id", id), Parameter("label", "\(Self.truth[row])")]
                            )
                        )
                        return ("ok", result.modelVersion ?? "?")
                    } catch {
                        return ("\(error)", "-")
                    }
                }
            }
            for _ in 0..<8 { add() }
            while let (outcome, version) = await group.next() {
                outcomes[outcome, default: 0] += 1
                versions[version, default: 0] += 1
                if next < rows { add() }
            }
            return (outcomes, versions)
        }
    }

    /// Polls the report until the challenger's mirrored answers are in (bounded).
    static func settledReport(_ port: Int, labelled: Int) async throws -> ExperimentReport {
        var report = try await Self.report(port, "ab.report")
        for _ in 0..<100 where report.challenger.requests < labelled {
            try await Task.sleep(for: .milliseconds(100))
            report = try await Self.report(port, "ab.report")
        }
        return report
    }

    @Test func shadowModeWithFeedbackNamesTheMoreAccurateModel() async throws {
        let mesh = try await MeshTests.Mesh(
            models: ReleaseTests.models,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        _ = try await Self.report(
            mesh.router.port,
            "ab.start",
            parameters: [
                Parameter("champion", "1"), Parameter("challenger", "4"), Parameter("mode", "shadow"),
                Parameter("percent", "100"),
            ]
        )
        let (outcomes, versions) = await Self.labelledRound(client)
        #expect(outcomes == ["ok": 450], "\(outcomes)")
        #expect(versions == ["1": 450])  // only the champion answers clients
        let report = try await Self.settledReport(mesh.router.port, labelled: 450)
        #expect(
            report.champion.labelled == 450 && report.challenger.labelled == 450,
            "\(report.champion.labelled) \(report.challenger.labelled)"
        )
        #expect(abs((report.champion.accuracy ?? 0) - 0.9889) < 0.001)
        #expect(abs((report.challenger.accuracy ?? 0) - 0.7756) < 0.001)
        #expect(report.winner == "1" && (report.pValue ?? 1) < 0.05, "\(report.verdict)")
        #expect(report.verdict.contains("450 and 450 labelled requests"))
        #expect((report.agreement ?? 1) < 0.9 && report.compared == 450)
        await client.close()
    }

    @Test func twoEqualModelsGetNoWinner() async throws {
        let mesh = try await MeshTests.Mesh(
            models: ReleaseTests.models,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        _ = try await Self.report(
            mesh.router.port,
            "ab.start",
            parameters: [
                Parameter("champion", "1"), Parameter("challenger", "5"), Parameter("mode", "shadow"),
            ]
        )
        let (outcomes, _) = await Self.labelledRound(client)
        #expect(outcomes == ["ok": 450], "\(outcomes)")
        let report = try await Self.settledReport(mesh.router.port, labelled: 450)
        #expect(report.winner == nil && report.verdict.hasPrefix("no significant difference"), "\(report.verdict)")
        // batch sizes differ: rounding only
        #expect(report.agreement == 1 && (report.meanAbsoluteScoreDifference ?? 1) < 1e-5)
        await client.close()
    }

    @Test func aShadowChallengerThatFailsEverythingCausesNoClientError() async throws {
        let mesh = try await MeshTests.Mesh(
            models: ReleaseTests.models,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        _ = try await Self.report(
            mesh.router.port,
            "ab.start",
            parameters: [
                Parameter("champion", "1"), Parameter("challenger", "9"), Parameter("mode", "shadow"),
            ]
        )
        let (outcomes, _) = await Self.labelledRound(client)
        #expect(outcomes == ["ok": 450], "\(outcomes)")
        let report = try await Self.settledReport(mesh.router.port, labelled: 450)
        #expect(report.challenger.errorRate == 1 && report.champion.errorRate == 0)
        #expect(report.challenger.labelled == 0 && report.winner == nil)
        await client.close()
    }

    @Test func splitModeIsStickyPerUserAndEachArmIsJudgedOnItsOwnTraffic() async throws {
        let mesh = try await MeshTests.Mesh(
            models: ReleaseTests.models,
            routerArguments: ReleaseTests.routerArguments(state: try ReleaseTests.temporaryDirectory())
        )
        defer { mesh.stop() }
        let client = try mesh.client()
        _ = try await Self.report(
            mesh.router.port,
            "ab.start",
            parameters: [
                Parameter("champion", "1"), Parameter("challenger", "2"), Parameter("mode", "split"),
                Parameter("percent", "50"),
            ]
        )
        let first = await Self.labelledRound(client)
        #expect(first.outcomes == ["ok": 450], "\(first.outcomes)")
        #expect((first.versions["1"] ?? 0) > 150 && (first.versions["2"] ?? 0) > 150, "\(first.versions)")
        // the same users again: each keeps its version
        let second = await Self.labelledRound(client)
        #expect(second.versions == first.versions)
        let report = try await Self.report(mesh.router.port, "ab.stop")
        #expect(report.champion.labelled + report.challenger.labelled == 900)
        #expect(
            report.champion.requests == first.versions["1"]! * 2
                && report.challenger.requests == first.versions["2"]! * 2
        )
        // stopped: everyone back on the champion
        #expect(await ReleaseTests.round(client, count: 40, users: 400) == ["1": 40])
        await client.close()
    }
}
