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
}

extension WireClient: LoadTarget {
    /// Sends `request` over the pool's connections.
    /// - Throws: `Status` or `TransportError`, as ``WireClient/call(_:deadline:)``.
    public func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        try await self.call(request, deadline: deadline)
    }
}
