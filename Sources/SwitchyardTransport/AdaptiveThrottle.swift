public import SwitchyardWire
import Synchronization

/// Settings of an ``AdaptiveThrottle``: client-side adaptive throttling as the Google SRE book describes it
/// ("Handling Overload").
public struct AdaptiveThrottling: Sendable, Hashable {
    /// How many requests per accepted one the client still sends when the service refuses: 2 sends about twice what
    /// the service accepts (some refusals still reach it, so it sees the load fall and rise); nearer 1 throttles
    /// harder and reacts more slowly when the service recovers.
    public var multiplier: Double = 2
    /// The recent past the counts cover; older requests are forgotten.
    public var window: Duration = .seconds(30)

    /// The defaults: K = 2, a 30 s window.
    public init() {}

    /// The defaults, changed by `configure`.
    /// - Parameter configure: edits the defaults.
    public static func defaults(configure: (inout Self) -> Void) -> Self {
        var settings = Self()
        configure(&settings)
        return settings
    }
}

/// Client-side adaptive throttling: counts the requests this client tried and those the service accepted over a
/// recent window, and refuses a new request locally with probability
/// `max(0, (requests − K·accepts) / (requests + 1))`, so that a service that refuses most of what it is sent is sent
/// only about K times what it accepts, and refusing costs it nothing for the rest.
///
/// An accept is any answer from the service except `resource exhausted` (its overload refusal); requests refused
/// locally count as requests, so the throttle lets more through as soon as the service accepts again. One throttle
/// is shared by all of a client's calls; it is cheap (one lock, no allocation) per request.
public final class AdaptiveThrottle: Sendable {
    /// The settings.
    public let settings: AdaptiveThrottling
    private let state: Mutex<Window>
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant

    /// The window, as buckets of a tenth of it, so that old counts leave in steps without remembering each request.
    private struct Window {
        static let buckets = 10
        var requests = [Int](repeating: 0, count: buckets)
        var accepts = [Int](repeating: 0, count: buckets)
        /// The bucket number (since the throttle started) the current bucket holds.
        var current = 0
        var random = SystemRandomNumberGenerator()

        /// Moves to bucket `number`, clearing the ones that went out of the window.
        mutating func advance(to number: Int) {
            guard number > self.current else { return }
            for step in 1...min(number - self.current, Self.buckets) {
                let index = (self.current + step) % Self.buckets
                self.requests[index] = 0
                self.accepts[index] = 0
            }
            self.current = number
        }

        var totals: (requests: Int, accepts: Int) {
            (self.requests.reduce(0, +), self.accepts.reduce(0, +))
        }
    }

    /// Makes a throttle that has seen nothing (it refuses nothing until the service refuses).
    /// - Parameter settings: K and the window.
    public init(settings: AdaptiveThrottling = AdaptiveThrottling()) {
        var settings = settings
        settings.multiplier = max(1, settings.multiplier.isFinite ? settings.multiplier : 2)
        settings.window = max(.milliseconds(10), settings.window)
        self.settings = settings
        self.state = Mutex(Window())
        self.start = self.clock.now
    }

    /// The probability that a request is refused locally now.
    public var rejectionProbability: Double {
        self.state.withLock { window in
            window.advance(to: self.bucket(at: self.clock.now))
            return self.probability(window.totals)
        }
    }

    /// Counts a request and decides whether it may be sent.
    /// - Returns: `nil` to send it, or the error to fail it with locally (``TransportError/Code-swift.struct/throttled``).
    public func admit() -> TransportError? {
        let refused = self.state.withLock { window -> Bool in
            window.advance(to: self.bucket(at: self.clock.now))
            let probability = self.probability(window.totals)
            window.requests[window.current % Window.buckets] += 1
            return probability > 0 && Double.random(in: 0..<1, using: &window.random) < probability
        }
        guard refused else { return nil }
        return TransportError(
            .throttled,
            "throttled by this client: the service refused most recent requests (adaptive throttling, K = "
                + "\(self.settings.multiplier))"
        )
    }

    /// Counts the outcome of a request ``admit()`` let through.
    /// - Parameter error: `nil` for an answer; the failure otherwise.
    public func record(_ error: (any Error)?) {
        guard Self.accepted(error) else { return }
        self.state.withLock { window in
            window.advance(to: self.bucket(at: self.clock.now))
            window.accepts[window.current % Window.buckets] += 1
        }
    }

    /// Whether a request that ended with `error` was accepted by the service: answered, or failed with any status
    /// but its overload refusal. A failure of this client's own (no connection) is no accept.
    static func accepted(_ error: (any Error)?) -> Bool {
        guard let error else { return true }
        if error is TransportError { return false }
        guard let status = (error as? any StatusConvertible)?.status else { return false }
        return status.code != .resourceExhausted
    }

    private func probability(_ totals: (requests: Int, accepts: Int)) -> Double {
        let requests = Double(totals.requests)
        return max(0, (requests - self.settings.multiplier * Double(totals.accepts)) / (requests + 1))
    }

    private func bucket(at instant: ContinuousClock.Instant) -> Int {
        Int(self.start.duration(to: instant) / (self.settings.window / Window.buckets))
    }
}
