/// What one version did over an analysis window: requests, errors, latencies, and how often its top-1 answer
/// disagreed with the other version's on shadow-scored requests.
public struct ArmWindow: Sendable, Hashable {
    public private(set) var requests = 0
    public private(set) var errors = 0
    /// Requests scored by both versions, and those whose top-1 answers differed.
    public private(set) var compared = 0
    public private(set) var disagreed = 0
    private var latency = LatencyHistogram()

    public init() {}

    /// Counts one answered request.
    /// - Parameters:
    ///   - ok: whether it succeeded (failures the caller caused, like `invalid argument`, should not be counted).
    ///   - latency: its time in the router.
    public mutating func record(ok: Bool, latency: Duration) {
        self.requests += 1
        if !ok { self.errors += 1 }
        if ok { self.latency.record(latency) }
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
    public var latencySamples: Int { self.latency.count }

    /// A latency quantile (0...1), within one histogram bucket (about 9%); `nil` with no samples.
    public func latency(quantile: Double) -> Duration? { self.latency.quantile(quantile) }
}

/// Latencies in log-linear buckets (as HdrHistogram does): eight per doubling of microseconds, so a quantile
/// is within 12.5% of the truth; 64 doublings cover any duration.
struct LatencyHistogram: Sendable, Hashable {
    private var counts = [Int](repeating: 0, count: 64 * 8)
    private(set) var count = 0

    mutating func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let micros = UInt64(max(1, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
        self.counts[Self.index(of: micros)] += 1
        self.count += 1
    }

    /// The bucket of `micros` (≥ 1): its doubling times eight, plus the next three bits below the top one.
    static func index(of micros: UInt64) -> Int {
        let exponent = UInt64.bitWidth - 1 - micros.leadingZeroBitCount
        let sub = exponent >= 3 ? (micros >> (exponent - 3)) & 7 : (micros << (3 - exponent)) & 7
        return exponent * 8 + Int(sub)
    }

    /// The largest value in bucket `index`.
    static func upperEdge(of index: Int) -> UInt64 {
        let exponent = index / 8
        let sub = UInt64(index % 8)
        return exponent >= 3 ? ((8 + sub + 1) << (exponent - 3)) - 1 : (8 + sub) >> (3 - exponent)  // below 8 µs: exact
    }

    func quantile(_ q: Double) -> Duration? {
        guard self.count > 0 else { return nil }
        let rank = max(1, Int((min(max(q, 0), 1) * Double(self.count)).rounded(.up)))
        var seen = 0
        for (index, count) in self.counts.enumerated() where count > 0 {
            seen += count
            if seen >= rank { return .microseconds(Int64(Self.upperEdge(of: index))) }
        }
        return nil
    }
}
