public import NIOCore
public import SwitchyardTransport
public import SwitchyardWire
import Synchronization

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

    /// Requests sent again so far (after a failure the retry policy allows), for the report.
    var retries: Int { get }
}

extension LoadTarget {
    public var executor: (any TaskExecutor)? { nil }
    public var retries: Int { 0 }
}

/// A ``WireClient`` with a retry policy; on one event loop, its senders run on that loop too: a call and its answer
/// never change threads, so the load client takes less of the machine it measures.
public struct WireTarget: LoadTarget {
    public let client: WireClient
    public let executor: (any TaskExecutor)?
    /// Which failed requests are sent again (those the server never processed; idempotent `unavailable` ones).
    public let retry: CallRetryPolicy
    /// Refuses requests locally while the server refuses most of them (client-side adaptive throttling), or `nil`.
    public let throttle: AdaptiveThrottle?
    private let retried = RetryCounter()

    /// Wraps `client`; with `eventLoop`, the client's connections must all be on that loop.
    /// - Parameters:
    ///   - client: the connections.
    ///   - eventLoop: the loop the senders run on, or `nil` for the global executor.
    ///   - retry: which failed requests are sent again, within their deadline.
    ///   - throttle: client-side adaptive throttling, or `nil` for none.
    public init(
        client: WireClient,
        eventLoop: (any EventLoop)?,
        retry: CallRetryPolicy = .none,
        throttle: AdaptiveThrottle? = nil
    ) {
        self.client = client
        self.executor = eventLoop.map { EventLoopTaskExecutor(eventLoop: $0) }
        self.retry = retry
        self.throttle = throttle
    }

    public var retries: Int { self.retried.value }

    public func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        let counter = self.retried
        return try await self.client.call(request, deadline: deadline, retry: self.retry, throttle: self.throttle) {
            _ in counter.increment()
        }
    }
}

/// Counts retries across the senders.
private final class RetryCounter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { self.count.load(ordering: .relaxed) }
    func increment() { self.count.add(1, ordering: .relaxed) }
}

extension WireClient: LoadTarget {
    /// Sends `request` over the pool's connections, once.
    /// - Throws: `Status` or `TransportError`, as ``WireClient/call(_:deadline:)``.
    public func send(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        try await self.call(request, deadline: deadline)
    }
}
