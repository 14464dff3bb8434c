public import SwitchyardWire

/// When a client sends a failed call again: calls the server never processed (no connection, or above a draining
/// server's GOAWAY), and idempotent calls answered `unavailable`, after a short, growing, jittered pause, within the
/// call's deadline.
public struct CallRetryPolicy: Sendable, Hashable {
    /// Most retries of one call; 0 turns retries off.
    public var maxRetries: Int = 3
    /// The pause before the first retry; each later one doubles it, up to ``maxBackoff``.
    public var initialBackoff: Duration = .milliseconds(25)
    /// The longest pause.
    public var maxBackoff: Duration = .seconds(1)

    /// The defaults: 3 retries, 25 ms doubling up to 1 s.
    public init() {}

    /// No retries.
    public static let none = Self.defaults { $0.maxRetries = 0 }

    /// The defaults, changed by `configure`.
    /// - Parameter configure: edits the defaults.
    public static func defaults(configure: (inout Self) -> Void) -> Self {
        var policy = Self()
        configure(&policy)
        return policy
    }

    /// Whether a call that failed with `error` may be sent again.
    /// - Parameters:
    ///   - error: the failure.
    ///   - request: the call; only idempotent ones are retried after an `unavailable` answer.
    public func allowsRetry(of error: any Error, for request: Request) -> Bool {
        guard let convertible = error as? any StatusConvertible else { return false }
        if convertible.requestWasNotProcessed { return true }
        return request.idempotent && convertible.status.code == .unavailable
    }

    /// The pause before retry number `retry` (1 for the first), with up to 50% random jitter taken off.
    /// - Parameter retry: which retry, from 1.
    public func backoff(before retry: Int) -> Duration {
        let doublings = min(max(retry - 1, 0), 20)
        let full = min(self.initialBackoff * (1 << doublings), self.maxBackoff)
        return full * Double.random(in: 0.5...1.0)
    }
}

extension WireClient {
    /// Sends a request, and sends it again when ``CallRetryPolicy`` allows, within the deadline.
    /// - Parameters:
    ///   - request: the request.
    ///   - deadline: when the caller stops waiting; no retry starts unless its pause ends before it.
    ///   - retry: which failures are retried, how often and after what pause.
    ///   - onRetry: called before each retry with the failure, e.g. to count retries.
    /// - Returns: the response.
    /// - Throws: the last attempt's error, as ``call(_:deadline:)`` throws it.
    public func call(
        _ request: Request, deadline: ContinuousClock.Instant?, retry: CallRetryPolicy,
        onRetry: (@Sendable (any Error) -> Void)? = nil
    ) async throws -> Response {
        var retries = 0
        while true {
            do {
                return try await self.call(request, deadline: deadline)
            } catch {
                retries += 1
                guard retries <= retry.maxRetries, retry.allowsRetry(of: error, for: request), !Task.isCancelled
                else { throw error }
                let pause = retry.backoff(before: retries)
                if let deadline, ContinuousClock.now.advanced(by: pause) >= deadline { throw error }
                onRetry?(error)
                try? await Task.sleep(for: pause)
                if Task.isCancelled { throw error }
            }
        }
    }
}
