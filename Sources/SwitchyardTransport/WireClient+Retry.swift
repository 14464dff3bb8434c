public import SwitchyardWire

import Synchronization

/// When a client sends a failed call again: calls the server never processed (no connection, or above a draining
/// server's GOAWAY), idempotent calls answered `unavailable`, and idempotent calls refused for overload with a
/// `retry after` hint (not before it), after a short, growing, jittered pause, within the call's deadline.
public struct CallRetryPolicy: Sendable, Hashable {
    /// Most retries of one call; 0 turns retries off.
    public var maxRetries: Int = 3
    /// The pause before the first retry; each later one doubles it, up to ``maxBackoff``.
    public var initialBackoff: Duration = .milliseconds(25)
    /// The longest pause.
    public var maxBackoff: Duration = .seconds(1)
    /// Whether an idempotent call answered `resource exhausted` with a `retry after` hint is sent again once the
    /// hint has passed. Such retries share a budget per client (as gRPC's retry throttling: each overload refusal
    /// takes a token, each answer gives a tenth of one back, retries stop below half of the tokens), so that under
    /// lasting overload they add about a tenth to the load, not a multiple of it.
    public var honourRetryAfter = true

    /// The defaults: 3 retries, 25 ms doubling up to 1 s, `retry after` honoured.
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

    /// Whether a call that failed with `error` may be sent again (an overload refusal's retry also needs the
    /// client's retry budget).
    /// - Parameters:
    ///   - error: the failure.
    ///   - request: the call; only idempotent ones are retried after an `unavailable` answer or an overload refusal.
    public func allowsRetry(of error: any Error, for request: Request) -> Bool {
        guard let convertible = error as? any StatusConvertible else { return false }
        if convertible.requestWasNotProcessed { return true }
        guard request.idempotent, !(error is TransportError && convertible.status.code == .resourceExhausted) else {
            return false
        }
        return convertible.status.code == .unavailable || self.retryAfter(of: error) != nil
    }

    /// The server's `retry after` hint in an overload refusal, when this policy honours it.
    /// - Parameter error: the failure.
    public func retryAfter(of error: any Error) -> Duration? {
        guard self.honourRetryAfter, !(error is TransportError) else { return nil }
        return (error as? any StatusConvertible)?.status.retryAfter
    }

    /// The pause before retry number `retry` (1 for the first), with up to 50% random jitter taken off.
    /// - Parameter retry: which retry, from 1.
    public func backoff(before retry: Int) -> Duration {
        let doublings = min(max(retry - 1, 0), 20)
        let full = min(self.initialBackoff * (1 << doublings), self.maxBackoff)
        return full * Double.random(in: 0.5...1.0)
    }
}

/// A client's budget for retrying overload refusals, as gRPC's retry throttling: tokens start full; an overload
/// refusal takes one, an answer gives back ``ratio``; a retry is allowed while more than half are left.
final class RetryTokens: Sendable {
    static let maximum = 10.0
    static let ratio = 0.1
    private let tokens = Mutex(RetryTokens.maximum)

    /// Books an overload refusal; returns whether it may be retried.
    func refused() -> Bool {
        self.tokens.withLock { tokens in
            tokens = max(0, tokens - 1)
            return tokens > Self.maximum / 2
        }
    }

    /// Books an answer.
    func answered() {
        self.tokens.withLock { tokens in tokens = min(Self.maximum, tokens + Self.ratio) }
    }
}

extension WireClient {
    /// Sends a request, and sends it again when ``CallRetryPolicy`` allows, within the deadline; with a throttle,
    /// every attempt asks it first and tells it the outcome.
    /// - Parameters:
    ///   - request: the request.
    ///   - deadline: when the caller stops waiting; no retry starts unless its pause ends before it.
    ///   - retry: which failures are retried, how often and after what pause.
    ///   - throttle: refuses attempts locally while the server refuses most of them (`nil`: none).
    ///   - onRetry: called before each retry with the failure, e.g. to count retries.
    /// - Returns: the response.
    /// - Throws: the last attempt's error, as ``call(_:deadline:)`` throws it; ``TransportError`` `throttled` for an
    ///   attempt the throttle refused.
    public func call(
        _ request: Request,
        deadline: ContinuousClock.Instant?,
        retry: CallRetryPolicy,
        throttle: AdaptiveThrottle? = nil,
        onRetry: (@Sendable (any Error) -> Void)? = nil
    ) async throws -> Response {
        var retries = 0
        while true {
            do {
                if let refusal = throttle?.admit() { throw refusal }
                let response: Response
                do {
                    response = try await self.call(request, deadline: deadline)
                } catch {
                    throttle?.record(error)
                    throw error
                }
                throttle?.record(nil)
                self.overloadRetryTokens.answered()
                return response
            } catch {
                retries += 1
                guard retries <= retry.maxRetries, retry.allowsRetry(of: error, for: request), !Task.isCancelled
                else { throw error }
                var pause = retry.backoff(before: retries)
                if let hint = retry.retryAfter(of: error) {
                    guard self.overloadRetryTokens.refused() else { throw error }
                    pause = max(pause, hint)
                }
                if let deadline, ContinuousClock.now.advanced(by: pause) >= deadline { throw error }
                onRetry?(error)
                try? await Task.sleep(for: pause)
                if Task.isCancelled { throw error }
            }
        }
    }
}
