internal import Histogram

/// What one version did over an analysis window: requests, errors, latencies, and how often its top-1 answer
/// disagreed with the other version's on shadow-scored requests.
public struct ArmWindow: Sendable {
    public private(set) var requests = 0
    public private(set) var errors = 0
    /// Requests scored by both versions, and those whose top-1 answers differed.
    public private(set) var compared = 0
    public private(set) var disagreed = 0
    /// Microseconds, two significant digits (1% resolution), up to an hour.
    private var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)

    public init() {}

    /// Counts one answered request.
    /// - Parameters:
    ///   - ok: whether it succeeded (failures the caller caused, like `invalid argument`, should not be counted).
    ///   - latency: its time in the router.
    public mutating func record(ok: Bool, latency: Duration) {
        self.requests += 1
        if !ok { self.errors += 1 }
        if ok {
            let (seconds, attoseconds) = latency.components
            let micros = UInt64(max(1, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
            _ = self.latency.record(min(micros, self.latency.highestTrackableValue))
        }
    }

    /// Counts one shadow comparison.
    public mutating func recordComparison(agreed: Bool) {
        self.compared += 1
        if !agreed { self.disagreed += 1 }
    }

    /// Errors per request; 0 with no requests.
    public var errorRate: Double { self.requests == 0 ? 0 : Double(self.errors) / Double(self.requests) }
    /// Disagreements per comparison; 0 with none.
    public var disagreement: Double { self.compared == 0 ? 0 : Double(self.disagreed) / Double(self.compared) }
    /// Successful requests timed.
    public var latencySamples: Int { Int(self.latency.totalCount) }

    /// A latency quantile (0...1), within 1%; `nil` with no samples.
    public func latency(quantile: Double) -> Duration? {
        guard self.latency.totalCount > 0 else { return nil }
        return .microseconds(Int64(self.latency.valueAtPercentile(quantile * 100)))
    }
}
