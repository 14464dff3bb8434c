import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SwitchyardGateway
import SwitchyardTensor
import SwitchyardTesting
import SwitchyardTransport
import SwitchyardWire
import Synchronization

/// A stand-in for the router: answers with a closure and records what it was asked and what was cancelled.
final class FakeBackend: GatewayBackend {
    let answer: @Sendable (Request) async throws -> Response
    let requests = Mutex<[Request]>([])
    let cancelled = Atomic<Int>(0)
    let notReady = Mutex<String?>(nil)
    let models: [String: ModelMetadata]

    init(
        models: [ModelMetadata] = [FakeBackend.digits],
        answer: @escaping @Sendable (Request) async throws -> Response = FakeBackend.echoLabel
    ) {
        self.models = Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0) })
        self.answer = answer
    }

    static let digits = ModelMetadata(
        name: "digits",
        versions: ["1", "2"],
        readyVersions: ["2"],
        inputs: [TensorMetadata(name: "X", dtype: .float32, shape: [-1, 4])],
        outputs: [
            TensorMetadata(name: "label", dtype: .int64, shape: [-1]),
            TensorMetadata(name: "probabilities", dtype: .float32, shape: [-1, 2]),
        ],
        maxBatchSize: 64,
        batching: .init(preferredBatchSizes: [8], maxQueueDelayMicroseconds: 500, maxQueueSize: 1024)
    )

    /// Answers `label` = row count and `probabilities` = the first two inputs of each row, as version 2.
    static let echoLabel: @Sendable (Request) async throws -> Response = { request in
        guard request.model == "digits" else { throw Status(.notFound, "no model '\(request.model)'") }
        guard let input = request.tensors.first, input.name == "X", input.tensor.shape.rank == 2,
            input.tensor.shape[1] == 4
        else {
            throw Status(.invalidArgument, "input X must be f32[?,4]")
        }
        let rows = input.tensor.shape[0]
        let values = try input.tensor.scalars(as: Float.self)
        let probabilities = (0..<rows).flatMap { [values[$0 * 4], values[$0 * 4 + 1]] }
        return Response(
            parameters: [Parameter("model.version", request.version.isEmpty ? "2" : request.version)],
            tensors: [
                NamedTensor("label", try Tensor([Int64](repeating: Int64(rows), count: rows), shape: [rows])),
                NamedTensor("probabilities", try Tensor(probabilities, shape: [rows, 2])),
            ]
        )
    }

    func handle(_ request: Request, context: RequestContext) async throws -> Response {
        self.requests.withLock { $0.append(request) }
        do {
            return try await self.answer(request)
        } catch is CancellationError {
            self.cancelled.add(1, ordering: .relaxed)
            throw CancellationError()
        }
    }

    /// What ``refusal(for:deadline:)`` answers: set it to shed every request at arrival.
    let refusing = Mutex<Status?>(nil)

    func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
        self.refusing.withLock { $0 }
    }

    var notReadyReason: String? { self.notReady.withLock { $0 } }
    var modelNames: [String] { self.models.keys.sorted() }
    func model(named name: String) -> ModelMetadata? { self.models[name] }

    var requestCount: Int { self.requests.withLock { $0.count } }

    /// Waits (bounded) until `count` requests were cancelled.
    func waitForCancellations(_ count: Int, timeout: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if self.cancelled.load(ordering: .relaxed) >= count { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    /// Waits (bounded) until `count` requests arrived.
    func waitForRequests(_ count: Int, timeout: Duration = .seconds(5)) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if self.requestCount >= count { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }
}

/// A gateway on a loopback port in front of a ``FakeBackend``, stopped when the body returns.
struct GatewayHarness {
    static let certificates: CertificateFixture = { try! CertificateFixture(names: ["server", "client"]) }()
    static let token = "test-token-0123456789abcdef"

    let port: Int
    let backend: FakeBackend
    let statistics: InferenceStatistics

    static var logger: Logger {
        var logger = Logger(label: "gateway-test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs `body` against a gateway; `configure` edits the settings (plaintext on 127.0.0.1 by default).
    static func with<T: Sendable>(
        backend: FakeBackend = FakeBackend(),
        security: GatewayConfiguration.Security = .plaintext(tokens: nil),
        configure: @Sendable (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @Sendable (GatewayHarness, ServiceGroup) async throws -> T
    ) async throws -> T {
        var configuration = GatewayConfiguration(host: "127.0.0.1", port: 0, security: security)
        configure(&configuration)
        let statistics = InferenceStatistics()
        let server = GatewayServer(
            configuration: configuration,
            backend: GatewayRecording(backend: backend, statistics: statistics),
            statistics: statistics,
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.localAddress().port!
            do {
                let result = try await body(GatewayHarness(port: port, backend: backend, statistics: statistics), group)
                await group.triggerGracefulShutdown()
                tasks.cancelAll()
                return result
            } catch {
                tasks.cancelAll()
                throw error
            }
        }
    }

    func peer() async throws -> RawPeer { try await RawPeer.connect(port: self.port, tls: nil) }

    /// One request on a new connection.
    func request(
        _ method: String,
        _ path: String,
        headers: [(String, String)] = [],
        body: [UInt8] = []
    ) async throws
        -> RawHTTPResponse
    {
        let peer = try await self.peer()
        defer { Task { await peer.close() } }
        try await peer.sendHTTP(method, path, headers: headers, body: body)
        guard let response = try await peer.nextHTTPResponse() else {
            throw GatewayTestError("no answer to \(method) \(path)")
        }
        return response
    }
}

/// Records statistics around the fake backend, as the router does around its handler.
struct GatewayRecording: GatewayBackend {
    let backend: FakeBackend
    let recording: StatisticsRecordingService

    init(backend: FakeBackend, statistics: InferenceStatistics) {
        self.backend = backend
        self.recording = StatisticsRecordingService(
            ClosureService { try await backend.handle($0, context: $1) },
            statistics: statistics
        )
    }

    func handle(_ request: Request, context: RequestContext) async throws -> Response {
        try await self.recording.handle(request, context: context)
    }

    func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? {
        self.backend.refusal(for: request, deadline: deadline)
    }

    var notReadyReason: String? { self.backend.notReadyReason }
    var modelNames: [String] { self.backend.modelNames }
    func model(named name: String) -> ModelMetadata? { self.backend.model(named: name) }
}

struct GatewayTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
