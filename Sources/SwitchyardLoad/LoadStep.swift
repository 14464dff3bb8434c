/// One step of a run: a closed loop with a fixed number of requests in flight, or an open loop at a fixed
/// arrival rate.
public enum LoadStep: Sendable, Hashable, CustomStringConvertible {
    /// `concurrency` requests always in flight; each sends the next when its answer arrives.
    case closed(concurrency: Int)
    /// Requests start at `rate` per second on a fixed schedule, whatever the answers do; latency counts from
    /// the scheduled start, so a stalled server shows in the percentiles (no coordinated omission).
    case open(rate: Double)

    public var description: String {
        switch self {
        case .closed(let concurrency): "closed \(concurrency)"
        case .open(let rate): "open \(LoadFormat.number(rate))/s"
        }
    }

    /// Checks the step's number.
    /// - Throws: ``LoadError`` for a concurrency outside 1...65536 or a rate outside (0, 10M].
    public func validate() throws(LoadError) {
        switch self {
        case .closed(let concurrency):
            guard (1...65_536).contains(concurrency) else {
                throw LoadError(.invalidSettings, "concurrency must be 1...65536, got \(concurrency)")
            }
        case .open(let rate):
            guard rate.isFinite, rate > 0, rate <= 10_000_000 else {
                throw LoadError(
                    .invalidSettings,
                    "rate must be a number of requests per second in (0, 10000000], got \(rate)"
                )
            }
        }
    }
}

/// How long each step runs and how each request is bounded.
public struct LoadSettings: Sendable, Hashable {
    /// Measured time per step; `nil` when ``requests`` bounds the step.
    public var duration: Duration?
    /// Measured requests per step; `nil` when ``duration`` bounds the step.
    public var requests: Int?
    /// Time before each step's measurement whose requests are sent but not counted.
    public var warmup: Duration = .seconds(1)
    /// The deadline of each request, from its actual send.
    public var timeout: Duration = .seconds(5)
    /// Open loop: the most requests in flight; past it, sends wait and fall behind schedule (which the latency
    /// from the scheduled start shows).
    public var maxInFlight: Int = 4096
    /// Open loop: how far sends may fall behind schedule before the step stops early; bounds a step against a
    /// dead target, whose requests each wait for their deadline.
    public var maxLag: Duration = .seconds(30)

    /// Makes settings with no bound yet; set ``duration`` or ``requests``.
    public init() {}

    /// Makes settings bounded by time.
    public static func duration(_ duration: Duration, warmup: Duration = .seconds(1)) -> Self {
        var settings = Self()
        settings.duration = duration
        settings.warmup = warmup
        return settings
    }

    /// Makes settings bounded by a request count.
    public static func requests(_ count: Int, warmup: Duration = .zero) -> Self {
        var settings = Self()
        settings.requests = count
        settings.warmup = warmup
        return settings
    }

    /// Checks the settings.
    /// - Throws: ``LoadError`` naming the setting that is out of range.
    public func validate() throws(LoadError) {
        guard (self.duration == nil) != (self.requests == nil) else {
            throw LoadError(.invalidSettings, "give either a duration or a request count")
        }
        if let duration {
            guard duration > .zero, duration <= .seconds(86_400) else {
                throw LoadError(.invalidSettings, "duration must be more than 0 and at most a day")
            }
        }
        if let requests {
            guard (1...1_000_000_000).contains(requests) else {
                throw LoadError(.invalidSettings, "requests must be 1...1000000000, got \(requests)")
            }
        }
        guard self.warmup >= .zero, self.warmup <= .seconds(3_600) else {
            throw LoadError(.invalidSettings, "warm-up must be 0 to an hour")
        }
        guard self.timeout > .zero, self.timeout <= .seconds(3_600) else {
            throw LoadError(.invalidSettings, "the request timeout must be more than 0 and at most an hour")
        }
        guard (1...1_000_000).contains(self.maxInFlight) else {
            throw LoadError(.invalidSettings, "max in flight must be 1...1000000, got \(self.maxInFlight)")
        }
    }
}
