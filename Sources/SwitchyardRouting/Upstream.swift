public import SwitchyardWire

/// Something that answers requests: one service instance, a pool of them, or a batcher in front of them.
///
/// Routing never opens sockets; the runtime conforms a transport type to this protocol. `WireClient.call`
/// already has this signature, so `extension WireClient: Upstream {}` is the whole conformance.
public protocol Upstream: Sendable {
    /// Sends a request and waits for its answer.
    /// - Parameters:
    ///   - request: the request; for a batch, each input tensor holds the rows of every member.
    ///   - deadline: when the caller stops waiting; `nil` for none.
    /// - Returns: the response.
    /// - Throws: a `StatusConvertible` error (a `Status`, a transport error) or `CancellationError`.
    func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response

    /// Whether the instance said it is shutting down (a graceful GOAWAY) and has not been reached since: a pool takes
    /// it out of rotation instead of counting its refusals as failures.
    var isDraining: Bool { get }

    /// Calls it takes in flight now (an ``UpstreamPool``'s adaptive concurrency limits); `nil`: no limit. A
    /// ``Batcher`` sends no more batches at once than this.
    var concurrencyLimit: Int? { get }
}

extension Upstream {
    /// `false`: only a transport knows that its server is draining.
    public var isDraining: Bool { false }

    /// `nil`: only a pool limits its calls.
    public var concurrencyLimit: Int? { nil }
}
