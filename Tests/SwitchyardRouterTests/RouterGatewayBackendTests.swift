import Foundation
import SwitchyardGateway
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

@testable import SwitchyardRouter

/// What the router's HTTP port says of its models: its repository's configs merged with what the healthy inference
/// instances serve, including models the router learns from the fleet.
@Suite(.timeLimit(.minutes(2)))
struct RouterGatewayBackendTests {
    /// An inference instance: its health answer names the versions it serves, its `model.list` answer the limits.
    final class Instance: WireService, Sendable {
        let served = Mutex<[String]?>([])
        let limits: [String]
        let requests = Atomic<Int>(0)

        init(served: [String], limits: [String] = []) {
            self.served.withLock { $0 = served }
            self.limits = limits
        }

        func handle(_ request: Request, context: RequestContext) async throws -> Response {
            guard let served = self.served.withLock({ $0 }) else { throw Status(.unavailable, "draining") }
            if request.method == Method.modelList {
                return Response(parameters: self.limits.map { Parameter(ParameterKey.modelLimits, $0) })
            }
            if request.method == Method.health {
                return Response(
                    parameters: [Parameter(ParameterKey.status, "serving")]
                        + served.map { Parameter(ParameterKey.model, $0) }
                )
            }
            self.requests.add(1, ordering: .relaxed)
            return Response()
        }
    }

    static let digits = ModelMetadata(
        name: "digits",
        versions: ["1", "2"],
        inputs: [TensorMetadata(name: "X", dtype: .float32, shape: [-1, 64])],
        maxBatchSize: 32
    )

    static func checker(_ instance: Instance) -> HealthChecker {
        let pool = UpstreamPool(
            members: [.init(id: "a", upstream: InProcessUpstream(instance))],
            clock: ContinuousClock(),
            logger: InProcessMesh.quiet
        )
        return HealthChecker(targets: [.init(stage: "inference", pool: pool)], logger: InProcessMesh.quiet)
    }

    @Test func versionsTheInstancesServeJoinTheConfigsVersions() async throws {
        let instance = Instance(served: ["digits/2", "digits/10"])
        let checker = Self.checker(instance)
        let backend = RouterGatewayBackend(service: instance, health: checker, models: ["digits": Self.digits])
        // nothing checked yet: the configs alone, readiness of versions unknown
        #expect(backend.model(named: "digits") == Self.digits)
        #expect(backend.notReadyReason == checker.notReadyReason)
        #expect(backend.notReadyReason != nil)
        await checker.checkAll()
        let model = try #require(backend.model(named: "digits"))
        #expect(model.versions == ["1", "2", "10"])  // numeric order, not text order
        #expect(model.readyVersions == ["2", "10"])
        #expect(model.inputs == Self.digits.inputs)
        #expect(backend.notReadyReason == nil)
        #expect(backend.model(named: "nope") == nil)
        // requests go to the router's handler unchanged
        _ = try await backend.handle(Request(method: Method.infer), context: RouterServiceTests.context())
        #expect(instance.requests.load(ordering: .relaxed) == 1)
    }

    @Test func aRequestWithoutATraceIDGetsOneAndItsContextCarriesTheSame() async throws {
        final class Seen: WireService, Sendable {
            let seen = Mutex<[(TraceID, TraceID)]>([])
            func handle(_ request: Request, context: RequestContext) async throws -> Response {
                self.seen.withLock { $0.append((request.traceID, context.traceID)) }
                return Response()
            }
        }
        let service = Seen()
        let backend = RouterGatewayBackend(
            service: service,
            health: Self.checker(Instance(served: [])),
            models: ["digits": Self.digits]
        )
        _ = try await backend.handle(Request(method: Method.infer), context: RouterServiceTests.context())
        let known = TraceID(high: 1, low: 2)
        _ = try await backend.handle(
            Request(method: Method.infer, traceID: known),
            context: RouterServiceTests.context()
        )
        let seen = service.seen.withLock { $0 }
        try #require(seen.count == 2)
        #expect(seen[0].0 != .none)
        #expect(seen[0].1 == seen[0].0)  // the log lines' trace id is the request's
        #expect(seen[1].0 == known)
        #expect(seen[1].1 == known)
    }

    @Test func modelsLearnedFromTheFleetAreDescribedByWhatTheInstancesReport() async throws {
        let instance = Instance(
            served: ["digits/1", "tabular/3", "tabular/4"],
            limits: [#"{"name": "tabular", "max_batch_size": 8, "max_queue_delay_microseconds": 250}"#]
        )
        let checker = Self.checker(instance)
        var learning = BatcherConfiguration()
        learning.maxBatchSize = 64
        let backend = RouterGatewayBackend(
            service: instance,
            health: checker,
            models: ["digits": Self.digits],
            learning: learning
        )
        #expect(backend.modelNames == ["digits"])
        #expect(backend.model(named: "tabular") == nil)
        await checker.checkAll()
        #expect(backend.modelNames == ["digits", "tabular"])
        let model = try #require(backend.model(named: "tabular"))
        #expect(model.versions == ["3", "4"])
        #expect(model.readyVersions == ["3", "4"])
        #expect(model.maxBatchSize == 8)
        #expect(model.batching.maxQueueDelayMicroseconds == 250)
        #expect(model.inputs.isEmpty && model.outputs.isEmpty)  // only a config tells the tensors
        // a router that serves its own models only does not describe the fleet's
        let own = RouterGatewayBackend(service: instance, health: checker, models: ["digits": Self.digits])
        #expect(own.modelNames == ["digits"])
        #expect(own.model(named: "tabular") == nil)
        // once no healthy instance serves it, the model is gone again
        instance.served.withLock { $0 = nil }
        await checker.checkAll()
        await checker.checkAll()
        #expect(backend.model(named: "tabular") == nil)
        #expect(backend.modelNames == ["digits"])
    }
}
