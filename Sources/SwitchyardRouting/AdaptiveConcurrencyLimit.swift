/// Settings of an ``AdaptiveConcurrencyLimit``, named after Envoy's adaptive concurrency filter (gradient
/// controller) where they mean the same.
public struct AdaptiveConcurrencyConfiguration: Sendable, Hashable {
    /// The limit before anything was measured.
    public var initialLimit: Int = 4
    /// The limit never goes below this (Envoy's `min_concurrency` for its min-RTT runs; 1 keeps an instance usable).
    public var minLimit: Int = 1
    /// Nor above this (`max_concurrency_limit`).
    public var maxLimit: Int = 64
    /// Samples are gathered for this long before the limit is recomputed (`concurrency_update_interval`).
    public var sampleInterval: Duration = .milliseconds(100)
    /// The percentile of an interval's samples that stands for it (`sample_aggregate_percentile`, p50).
    public var samplePercentile: Double = 0.5
    /// An interval with fewer samples is not judged; its samples carry over to the next one.
    public var minimumSamples: Int = 4
    /// Latency above the baseline tolerated before the limit shrinks, as a fraction of the baseline
    /// (`min_rtt_buffer`).
    public var buffer: Double = 0.25
    /// The baseline (minimum latency of each batch size) is the lowest seen in the last one to two of these windows,
    /// so that it follows an instance whose speed changed (`min_rtt_calc_params.interval`).
    public var baselineWindow: Duration = .seconds(30)
    /// A dropped attempt (per-try timeout, `resource exhausted` from the instance) multiplies the limit by this at
    /// once (the AIMD backoff of Netflix's concurrency-limits), without waiting for the interval's verdict.
    public var backoffRatio: Double = 0.9

    /// The defaults.
    public init() {}

    /// The defaults, changed by `configure`.
    /// - Parameter configure: edits the defaults.
    public static func defaults(configure: (inout Self) -> Void) -> Self {
        var configuration = Self()
        configure(&configuration)
        return configuration
    }

    /// The same settings, forced into a range the limit can work with.
    var normalized: Self {
        var copy = self
        copy.minLimit = max(1, copy.minLimit)
        copy.maxLimit = max(copy.minLimit, copy.maxLimit)
        copy.initialLimit = min(max(copy.initialLimit, copy.minLimit), copy.maxLimit)
        copy.sampleInterval = max(.milliseconds(1), copy.sampleInterval)
        copy.samplePercentile = min(max(copy.samplePercentile, 0), 1)
        copy.minimumSamples = max(1, copy.minimumSamples)
        copy.buffer = max(0, copy.buffer)
        copy.baselineWindow = max(copy.sampleInterval, copy.baselineWindow)
        copy.backoffRatio = min(max(copy.backoffRatio, 0.1), 1)
        return copy
    }
}

/// How many attempts one upstream instance may have in flight, adapted to the latency it shows: a gradient
/// controller as Envoy's adaptive concurrency filter, `limit × gradient + √limit`, with
/// `gradient = (1 + buffer) / slowdown` clamped to `0.5...2`, recomputed every sample interval.
///
/// Batches differ in size and models in cost, so latency is compared with the baseline of its own kind of work: each
/// answered attempt's slowdown is its latency over the lowest latency seen for that kind (method, model) and that
/// many rows (the min-RTT of that size), and an interval's slowdown is a percentile of its samples. An instance that queues work it was given answers slower than
/// its baseline and its limit shrinks; one that keeps up gets headroom. A dropped attempt backs off at once.
///
/// A value type that reads no clock (`now` is passed in): the pool holds one per instance, and tests drive it.
public struct AdaptiveConcurrencyLimit<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The settings (normalized).
    public let configuration: AdaptiveConcurrencyConfiguration
    /// The limit as a real number; ``limit`` rounds it down.
    public private(set) var exactLimit: Double
    /// Slowdowns (latency over baseline) of the current interval, at most ``maxSamples``.
    private var samples: [Double] = []
    private var intervalStart: Instant
    /// Lowest latency per kind of work and batch-size class: in the current window, and in the one before it.
    private var baselines: (current: [BaselineKey: Duration], previous: [BaselineKey: Duration]) = ([:], [:])
    private var windowStart: Instant

    /// Most samples kept per interval; later ones in the same interval are not kept (the percentile of the first
    /// ones stands for it).
    static var maxSamples: Int { 256 }
    /// Most baselines kept per window; past it the window starts over early.
    static var maxBaselines: Int { 1024 }

    private struct BaselineKey: Hashable, Sendable {
        var kind: Int
        var size: Int
    }

    /// A limit at its initial value.
    /// - Parameters:
    ///   - configuration: the settings.
    ///   - now: when the first interval and baseline window start.
    public init(configuration: AdaptiveConcurrencyConfiguration = AdaptiveConcurrencyConfiguration(), now: Instant) {
        self.configuration = configuration.normalized
        self.exactLimit = Double(self.configuration.initialLimit)
        self.intervalStart = now
        self.windowStart = now
    }

    /// Attempts allowed in flight now.
    public var limit: Int { Int(self.exactLimit.rounded(.down)) }

    /// The baseline latency of a batch of `rows` rows of a kind of work, if one was seen in the last one to two
    /// windows.
    public func baseline(kind: Int = 0, rows: Int) -> Duration? {
        let key = BaselineKey(kind: kind, size: Self.sizeClass(rows))
        switch (self.baselines.current[key], self.baselines.previous[key]) {
        case (let current?, let previous?): return min(current, previous)
        case (let current?, nil): return current
        case (nil, let previous): return previous
        }
    }

    /// An attempt was answered.
    /// - Parameters:
    ///   - kind: the kind of work (e.g. a hash of method and model): latency is compared within a kind.
    ///   - rows: its batch size.
    ///   - latency: from send to answer.
    ///   - now: when it was answered.
    /// - Returns: whether the limit changed.
    @discardableResult
    public mutating func answered(kind: Int = 0, rows: Int, latency: Duration, now: Instant) -> Bool {
        self.rotateWindow(now: now)
        let key = BaselineKey(kind: kind, size: Self.sizeClass(rows))
        let baseline = self.baseline(kind: kind, rows: rows)
        if self.baselines.current.count >= Self.maxBaselines { self.baselines = ([:], self.baselines.current) }
        if self.baselines.current[key].map({ latency < $0 }) ?? true { self.baselines.current[key] = latency }
        if self.samples.count < Self.maxSamples {
            // the first of its size sets the baseline: no slowdown
            self.samples.append(baseline.map { $0 > .zero ? max(1, latency / $0) : 1 } ?? 1)
        }
        return self.judge(now: now)
    }

    /// An attempt was dropped for overload (a per-try timeout, `resource exhausted` from the instance): the limit
    /// backs off at once.
    /// - Returns: whether the limit changed.
    @discardableResult
    public mutating func dropped(now: Instant) -> Bool {
        self.rotateWindow(now: now)
        let before = self.limit
        self.exactLimit = max(Double(self.configuration.minLimit), self.exactLimit * self.configuration.backoffRatio)
        return self.limit != before
    }

    /// Recomputes the limit when the interval is over and has enough samples.
    private mutating func judge(now: Instant) -> Bool {
        guard self.intervalStart.duration(to: now) >= self.configuration.sampleInterval,
            self.samples.count >= self.configuration.minimumSamples
        else { return false }
        self.samples.sort()
        let position = Int((Double(self.samples.count - 1) * self.configuration.samplePercentile).rounded())
        let slowdown = self.samples[position]
        self.samples.removeAll(keepingCapacity: true)
        self.intervalStart = now
        let gradient = min(max((1 + self.configuration.buffer) / slowdown, 0.5), 2)
        let scaled = self.exactLimit * gradient
        let next = min(
            max(scaled + scaled.squareRoot(), Double(self.configuration.minLimit)),
            Double(self.configuration.maxLimit)
        )
        let before = self.limit
        self.exactLimit = next
        return self.limit != before
    }

    private mutating func rotateWindow(now: Instant) {
        guard self.windowStart.duration(to: now) >= self.configuration.baselineWindow else { return }
        self.baselines = ([:], self.baselines.current)
        self.windowStart = now
    }

    /// Batch sizes up to 64 rows are their own class; above, one class per power of two.
    static func sizeClass(_ rows: Int) -> Int {
        let rows = max(1, rows)
        return rows <= 64 ? rows : 64 + (Int.bitWidth - rows.leadingZeroBitCount)
    }
}
