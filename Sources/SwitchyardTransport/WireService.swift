public import Logging
public import SwitchyardWire

/// What a server does with each request. Throw a `StatusConvertible` error for a status the caller
/// should see; any other error is logged and answered as `internal`.
public protocol WireService: Sendable {
    /// Answers one request. The task is cancelled when the client cancels or the deadline passes.
    /// - Parameters:
    ///   - request: the decoded request; its tensors are views of the received frame.
    ///   - context: the deadline, the peer's identity and a logger.
    func handle(_ request: Request, context: RequestContext) async throws -> Response

    /// Refuses a request at once, on the connection's event loop, before a task, a deadline timer or any work is
    /// spent on it: a cheap decision from what the frame says (method, model, deadline, priority, the tensors'
    /// shapes), for shedding under overload. Must not block.
    /// - Parameters:
    ///   - request: the decoded request (its tensors are views of the frame, not yet read).
    ///   - deadline: its deadline; `nil` for none.
    /// - Returns: the status to answer with, or `nil` to handle the request.
    func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status?
}

extension WireService {
    /// `nil`: every request is handled.
    public func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? { nil }
}

/// Everything a handler knows about a request besides its body.
public struct RequestContext: Sendable {
    /// The request id on its connection.
    public var requestID: UInt32
    /// When the answer is due, on this process's clock; `nil` when the request has no deadline.
    public var deadline: ContinuousClock.Instant?
    /// The caller.
    public var peer: PeerIdentity
    /// The request's trace id (``TraceID/none`` when it came without one).
    public var traceID: TraceID
    private let connectionLogger: Logger

    /// A logger with `request.id`, `trace.id` (when the request has one), `peer` and `peer.address` metadata (made
    /// on use: most requests never log).
    public var logger: Logger {
        var logger = self.connectionLogger
        logger[metadataKey: "request.id"] = "\(self.requestID)"
        if self.traceID != .none { logger[metadataKey: "trace.id"] = "\(self.traceID)" }
        return logger
    }

    /// Makes a context.
    /// - Parameters:
    ///   - requestID: the request id on its connection.
    ///   - deadline: when the answer is due.
    ///   - peer: the caller.
    ///   - traceID: the request's trace id.
    ///   - logger: the connection's logger; `request.id` and `trace.id` are added.
    public init(
        requestID: UInt32,
        deadline: ContinuousClock.Instant?,
        peer: PeerIdentity,
        traceID: TraceID = .none,
        logger: Logger
    ) {
        self.requestID = requestID
        self.deadline = deadline
        self.peer = peer
        self.traceID = traceID
        self.connectionLogger = logger
    }
}

/// A service built from a closure, for small servers and tests.
public struct ClosureService: WireService {
    let body: @Sendable (Request, RequestContext) async throws -> Response

    /// Wraps a closure.
    public init(_ body: @escaping @Sendable (Request, RequestContext) async throws -> Response) { self.body = body }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        try await self.body(request, context)
    }
}

/// Answers `echo` with the request's tensors and parameters, and `health` with an empty response.
/// The service behind `switchyard-echo`, the transport benchmark and connectivity checks.
///
/// An `echo.delay_ms` parameter (at most 60,000) delays the answer, to try deadlines, cancellation and drain.
public struct EchoService: WireService {
    public init() {}

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case Method.echo:
            if let delay = request.parameters.first(where: { $0.key == ParameterKey.echoDelayMilliseconds })?.value {
                guard let milliseconds = Int(delay), (0...60_000).contains(milliseconds) else {
                    throw Status(.invalidArgument, "echo.delay_ms must be 0...60000, got '\(delay)'")
                }
                try await Task.sleep(for: .milliseconds(milliseconds))
            }
            return Response(parameters: request.parameters, tensors: request.tensors)
        case Method.health: return Response(parameters: [Parameter(ParameterKey.status, "serving")])
        default: throw Status(.notFound, "unknown method '\(request.method)'; this service answers echo and health")
        }
    }
}
