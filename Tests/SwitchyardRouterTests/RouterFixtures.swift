import Foundation
import Logging
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization
import Testing

/// A stage service in this process: records what it receives and answers with its handler. Fakes of the
/// preprocess, inference and postprocess services (their wire behaviour, not the router's logic).
final class FakeStage: WireService, Sendable {
    private let received = Mutex<[Request]>([])
    private let handler: @Sendable (Request) async throws -> Response

    init(_ handler: @escaping @Sendable (Request) async throws -> Response) {
        self.handler = handler
    }

    /// The requests of the stage's own method, in arrival order (health checks are not counted).
    var requests: [Request] { self.received.withLock { $0 } }

    func handle(_ request: Request, context: RequestContext) async throws -> Response {
        self.received.withLock { $0.append(request) }
        return try await self.handler(request)
    }

    /// Preprocess: `x` plus one.
    static func preprocess() -> FakeStage {
        FakeStage { request in
            let x = try column(request, "x").map { $0 + 1 }
            return Response(tensors: [NamedTensor("x", try Tensor(x, shape: [rows(request), 1]))])
        }
    }

    /// Inference: `y` = 10 × `x`, each row's class in `label` (0 for even x, 1 for odd), the version in
    /// `model.version` (the one asked for, or `1`) and the run time in `compute.us`. `behaviour` may fail or hold a
    /// version's calls first.
    static func inference(behaviour: @escaping @Sendable (Request) async throws -> Void = { _ in }) -> FakeStage {
        FakeStage { request in
            try await behaviour(request)
            let x = try column(request, "x")
            if x.contains(where: { $0 < 0 }) {
                throw Status(.invalidArgument, "x must not be negative")
            }
            let version = request.version.isEmpty ? "1" : request.version
            return Response(
                parameters: [
                    Parameter(ParameterKey.modelVersion, version), Parameter(ParameterKey.computeMicroseconds, "100"),
                ],
                tensors: [
                    NamedTensor("y", try Tensor(x.map { $0 * 10 }, shape: [x.count, 1])),
                    NamedTensor("label", try Tensor(x.map { Int64($0) % 2 }, shape: [x.count])),
                ]
            )
        }
    }

    /// Postprocess: `out` = `y` + the answering version's number / 10, so that a test sees the router told it
    /// which version answered.
    static func postprocess() -> FakeStage {
        FakeStage { request in
            let version = Float(request.version) ?? 0
            let y = try column(request, "y")
            return Response(tensors: [NamedTensor("out", try Tensor(y.map { $0 + version / 10 }, shape: [y.count, 1]))])
        }
    }
}

/// The first column of tensor `name` of a request or response.
func column(_ request: Request, _ name: String) throws -> [Float] {
    try column(request.tensors, name)
}

func column(_ tensors: [NamedTensor], _ name: String) throws -> [Float] {
    guard let tensor = tensors.first(where: { $0.name == name })?.tensor else {
        throw Status(.invalidArgument, "no tensor '\(name)'")
    }
    return try tensor.scalars(as: Float.self)
}

func rows(_ request: Request) -> Int { request.tensors.first?.tensor.shape.dims.first ?? 0 }

/// An `infer` request for model `m` with one row, `x`.
func inferRequest(_ x: Float, version: String = "", routingKey: String = "") -> Request {
    Request(
        method: Method.infer,
        model: "m",
        version: version,
        routingKey: routingKey,
        tensors: [NamedTensor("x", try! Tensor([x], shape: [1, 1]))]
    )
}

/// A gate that holds calls until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(waiting: [CheckedContinuation<Void, Never>], open: Bool)>(([], false))

    var waiting: Int { self.state.withLock { $0.waiting.count } }

    func pass() async {
        await withCheckedContinuation { continuation in
            let now = self.state.withLock { state -> Bool in
                if state.open { return true }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func open() {
        let all = self.state.withLock { state in
            state.open = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for continuation in all { continuation.resume() }
    }
}

/// Waits until `condition` holds, checking every millisecond for at most `seconds` (generous: the whole suite runs
/// in parallel on two shared cores, where a test's tasks can wait seconds for a thread).
func eventually(seconds: Double = 30, _ condition: () -> Bool) async -> Bool {
    let end = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
    while ContinuousClock.now < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// A router in this process in front of three fake stages, each behind an ``InProcessUpstream``.
struct InProcessMesh: Sendable {
    let router: RouterService
    let preprocess: FakeStage
    let inference: FakeStage
    let postprocess: FakeStage
    let releases: ReleaseController?

    static let quiet = Logger(label: "switchyard.test") { _ in SwiftLogNoOpLogHandler() }
    static let admin = PeerIdentity(commonName: "operator", organizationalUnits: ["admin"])
    static let anyone = PeerIdentity(commonName: "app")

    /// Runs `body` with a router serving model `m`; the router's batchers run until `body` returns.
    static func with<Result: Sendable>(
        batching: BatcherConfiguration = BatcherConfiguration(),
        inference: FakeStage = .inference(),
        releases: ReleaseController? = nil,
        _ body: (InProcessMesh) async throws -> Result
    ) async throws -> Result {
        let preprocess = FakeStage.preprocess()
        let postprocess = FakeStage.postprocess()
        let router = RouterService(
            models: ["m": batching],
            preprocess: InProcessUpstream(preprocess),
            inference: InProcessUpstream(inference),
            postprocess: InProcessUpstream(postprocess),
            releases: releases,
            logger: Self.quiet
        )
        let running = Task { try await router.run() }
        defer { running.cancel() }
        let mesh = InProcessMesh(
            router: router,
            preprocess: preprocess,
            inference: inference,
            postprocess: postprocess,
            releases: releases
        )
        let result = try await body(mesh)
        running.cancel()
        _ = await running.result
        return result
    }

    /// Sends `request` to the router as `peer` would over the wire.
    func call(
        _ request: Request,
        peer: PeerIdentity = InProcessMesh.anyone,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> Response {
        try await InProcessUpstream(self.router, peer: peer).call(request, deadline: deadline)
    }

    /// The status a request is answered with: `ok`, or the error's.
    func status(of request: Request, deadline: ContinuousClock.Instant? = nil) async -> Status.Code {
        do {
            _ = try await self.call(request, deadline: deadline)
            return .ok
        } catch {
            return RoutingError.status(for: error).code
        }
    }
}
