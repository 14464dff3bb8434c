public import NIOCore
public import SwitchyardTransport
public import SwitchyardWire

/// Whatever a load run sends requests to: a service over the network, or a model called in-process as the
/// no-network baseline.
public protocol LoadTarget: Sendable {
    /// Sends one request and waits for its answer.
    /// - Parameters:
    ///   - request: the request.
    ///   - deadline: when the caller stops waiting; a target must answer or throw by then.
    /// - Returns: the response.
    /// - Throws: `Status` (or any `StatusConvertible`) for a failed request; other errors count as `internal`.
    func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response

    /// Where the load's senders run; `nil`: the global executor.
    var executor: (any TaskExecutor)? { get }
}

extension LoadTarget {
    public var executor: (any TaskExecutor)? { nil }
}

/// A ``WireClient`` on one event loop whose senders run on that loop too: a call and its answer never change
/// threads, so the load client takes less of the machine it measures.
public struct SingleLoopWireTarget: LoadTarget {
    public let client: WireClient
    public let executor: (any TaskExecutor)?

    /// Wraps `client`, whose connections must all be on `eventLoop`.
    public init(client: WireClient, eventLoop: any EventLoop) {
        self.client = client
        self.executor = EventLoopTaskExecutor(eventLoop: eventLoop)
    }

    public func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        try await self.client.call(request, deadline: deadline)
    }
}

extension WireClient: LoadTarget {
    /// Sends `request` over the pool's connections.
    /// - Throws: `Status` or `TransportError`, as ``WireClient/call(_:deadline:)``.
    public func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        try await self.call(request, deadline: deadline)
    }
}
