import Foundation
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

/// Stage pools that follow a watched file and the operator's `pool.*` calls, with in-process instances checked by
/// the router's health checker: an instance joins after its first passing check, one that leaves drains first.
@Suite(.timeLimit(.minutes(2)))
struct StagePoolsTests {
    /// A pool file, pools made from it, instances in this process (one per address), and a health checker.
    final class Made: Sendable {
        let ids = Mutex<[String]>([])
    }

    struct Fixture {
        let file: String
        let pool: UpstreamPool<ContinuousClock>
        let pools: StagePools
        let checker: HealthChecker
        let made = Made()

        init() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pools-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            self.file = directory.appendingPathComponent("inference.list").path
            let pool = UpstreamPool<ContinuousClock>(
                members: [],
                configuration: .defaults { $0.slowStartWindow = .seconds(600) },
                logger: InProcessMesh.quiet
            )
            var configuration = HealthChecker.Configuration()
            configuration.interval = .milliseconds(20)
            let checker = HealthChecker(
                targets: [HealthChecker.Target(stage: "inference", pool: pool)],
                configuration: configuration,
                logger: InProcessMesh.quiet
            )
            let made = self.made
            self.pools = StagePools(
                stages: [(StagePools.Stage(name: "inference", pool: pool), [.file(path: self.file)])],
                interval: .seconds(3600),
                health: checker,
                logger: InProcessMesh.quiet,
                makeUpstream: { endpoint in
                    made.ids.withLock { $0.append(endpoint.id) }
                    return InProcessUpstream(EchoService())  // answers health
                }
            )
            self.pool = pool
            self.checker = checker
        }

        func write(_ text: String) throws { try text.write(toFile: self.file, atomically: true, encoding: .utf8) }

        func states() throws -> [String: String] {
            let data = Data(self.pools.listJSON().utf8)
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let stages = try #require(object["stages"] as? [[String: Any]])
            let instances = try #require(stages.first?["instances"] as? [[String: Any]])
            return Dictionary(uniqueKeysWithValues: instances.map { ($0["id"] as! String, $0["state"] as! String) })
        }
    }

    static func admin() -> RequestContext {
        RequestContext(
            requestID: 1,
            deadline: nil,
            peer: PeerIdentity(commonName: "ops", organizationalUnits: ["admin"]),
            logger: InProcessMesh.quiet
        )
    }

    @Test func instancesFollowTheFileAndJoinAfterTheirFirstCheck() async throws {
        let fixture = try Fixture()
        try fixture.write("10.0.0.2:7402\n10.0.0.3:7402 # second\n")
        await fixture.pools.refresh()
        #expect(try fixture.states() == ["10.0.0.2:7402": "checking", "10.0.0.3:7402": "checking"])
        #expect(fixture.pool.statistics.allSatisfy { $0.awaitingHealthCheck })
        let running = Task { try await fixture.checker.run() }
        defer { running.cancel() }
        #expect(await eventually { (try? fixture.states().values.allSatisfy { $0 == "serving" }) == true })
        #expect(fixture.pool.statistics.allSatisfy { $0.weight < 1 })  // in their slow start
        // one leaves the file: drained and gone (nothing in flight)
        try fixture.write("10.0.0.2:7402\n")
        await fixture.pools.refresh()
        #expect(fixture.pool.members.map(\.id) == ["10.0.0.2:7402"])
        // the file cannot be read: what it said last stays
        try FileManager.default.removeItem(atPath: fixture.file)
        await fixture.pools.refresh()
        #expect(fixture.pool.members.map(\.id) == ["10.0.0.2:7402"])
        #expect(fixture.pools.listJSON().contains("resolution_error"))
        #expect(fixture.made.ids.withLock { $0 } == ["10.0.0.2:7402", "10.0.0.3:7402"])
    }

    @Test func theOperatorAddsDrainsAndRemovesAndDiscoveryRespectsIt() async throws {
        let fixture = try Fixture()
        try fixture.write("10.0.0.2:7402\n")
        await fixture.pools.refresh()
        try await fixture.pools.add(stage: "inference", address: "10.0.0.9:7402")
        #expect(Set(try fixture.states().keys) == ["10.0.0.2:7402", "10.0.0.9:7402"])
        try fixture.pools.drain(stage: "inference", instance: "10.0.0.2:7402")
        #expect(try fixture.states()["10.0.0.2:7402"] == "draining")
        await fixture.pools.refresh()  // discovery does not undo the operator's drain
        #expect(try fixture.states()["10.0.0.2:7402"] == "draining")
        try await fixture.pools.remove(stage: "inference", instance: "10.0.0.2:7402")
        await fixture.pools.refresh()  // still in the file, but removed by the operator: stays out
        #expect(Set(try fixture.states().keys) == ["10.0.0.9:7402"])
        try await fixture.pools.add(stage: "inference", address: "10.0.0.2:7402")
        #expect(Set(try fixture.states().keys) == ["10.0.0.2:7402", "10.0.0.9:7402"])
        // the errors a caller sees
        await #expect(throws: RouterError.self) { try await fixture.pools.add(stage: "ranking", address: "h:1") }
        await #expect(throws: RouterError.self) { try await fixture.pools.add(stage: "inference", address: "dns:x:1") }
        await #expect(throws: RouterError.self) { try await fixture.pools.remove(stage: "inference", instance: "h:9") }
        #expect(throws: RouterError.self) { try fixture.pools.drain(stage: "inference", instance: "h:9") }
    }

    @Test func thePoolMethodsNeedAnAdminForChangesAndAnswerTheList() async throws {
        let fixture = try Fixture()
        try fixture.write("10.0.0.2:7402\n")
        await fixture.pools.refresh()
        let stage = FakeStage.inference()
        let router = RouterService(
            models: ["m": BatcherConfiguration()],
            preprocess: InProcessUpstream(stage),
            inference: fixture.pool,
            postprocess: InProcessUpstream(stage),
            health: fixture.checker,
            logger: InProcessMesh.quiet,
            pools: fixture.pools
        )
        let list = try await router.handle(Request(method: Method.poolList), context: RouterServiceTests.context())
        #expect(list[parameter: ParameterKey.pools]?.contains("10.0.0.2:7402") == true)
        let add = Request(
            method: Method.poolAdd,
            parameters: [Parameter(ParameterKey.stage, "inference"), Parameter(ParameterKey.instance, "10.0.0.5:7402")]
        )
        let added = try await router.handle(add, context: Self.admin())
        #expect(added[parameter: ParameterKey.pools]?.contains("10.0.0.5:7402") == true)
        let missing = await #expect(throws: RouterError.self) {
            try await router.handle(Request(method: Method.poolDrain), context: Self.admin())
        }
        #expect(missing?.status.code == .invalidArgument)
    }
}
