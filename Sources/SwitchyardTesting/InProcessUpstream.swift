public import Logging
public import SwitchyardRouting
public import SwitchyardTransport
public import SwitchyardWire

/// A service reached in this process: an ``Upstream`` that hands each request to a `WireService`'s `handle`, as a
/// `WireServer` would, without sockets, TLS or frames. For constructing the router and its releases in a test
/// with real or fake stage services behind them.
///
/// It keeps what the transport guarantees a caller: the handler runs in a task of its own that is cancelled when
/// the deadline passes (answered `deadline exceeded`) or the caller is cancelled, and a failure reaches the
/// caller as the `Status` a peer would receive (`internal` for an error that is not `StatusConvertible`).
public struct InProcessUpstream: Upstream {
    private let service: any WireService
    private let peer: PeerIdentity
    private let logger: Logger

    /// Makes an upstream in front of `service`.
    /// - Parameters:
    ///   - service: answers the requests.
    ///   - peer: who the service sees calling (e.g. a certificate with `OU=admin`).
    ///   - logger: the context's logger.
    public init(
        _ service: any WireService,
        peer: PeerIdentity = PeerIdentity(commonName: "router", announced: "router"),
        logger: Logger = Logger(label: "switchyard.in-process")
    ) {
        self.service = service
        self.peer = peer
        self.logger = logger
    }

    /// Sends a request and waits for its answer, at most until `deadline`.
    /// - Throws: the `Status` the service's error converts to; `deadline exceeded` when the deadline passes first.
    public func call(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        let context = RequestContext(requestID: 1, deadline: deadline, peer: self.peer, logger: self.logger)
        do {
            return try await withThrowingTaskGroup(of: Response?.self) { group in
                group.addTask { try await self.service.handle(request, context: context) }
                if let deadline {
                    group.addTask {
                        try await Task.sleep(until: deadline, clock: .continuous)
                        return nil
                    }
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let response = first else {
                    throw Status(.deadlineExceeded, "the deadline passed before \(request.method) was answered")
                }
                return response
            }
        } catch let status as Status {
            throw status
        } catch {
            throw RoutingError.status(for: error)
        }
    }
}
