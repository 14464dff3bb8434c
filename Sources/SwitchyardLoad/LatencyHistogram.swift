public import Histogram

/// Latencies in nanoseconds in an HdrHistogram (3 significant digits, up to 10 minutes), summarised in
/// milliseconds.
public struct LatencyHistogram: Sendable {
    /// The underlying histogram, in nanoseconds.
    public private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1,
        highestTrackableValue: 600_000_000_000,
        numberOfSignificantValueDigits: .three
    )

    /// Makes an empty histogram.
    public init() {}

    /// Records one latency; values past the range are recorded as the largest trackable value.
    public mutating func record(_ latency: Duration) {
        let (seconds, attoseconds) = latency.components
        let nanoseconds =
            seconds < 0 ? 0 : UInt64(seconds) &* 1_000_000_000 &+ UInt64(Swift.max(0, attoseconds) / 1_000_000_000)
        _ = self.histogram.record(Swift.min(Swift.max(nanoseconds, 1), self.histogram.highestTrackableValue))
    }

    /// Adds another histogram's counts.
    public mutating func add(_ other: LatencyHistogram) { self.histogram.add(other.histogram) }

    /// Recorded latencies.
    public var count: Int { Int(self.histogram.totalCount) }

    /// How many recorded latencies are at least `latency` (within the histogram's precision).
    public func count(atLeast latency: Duration) -> Int {
        var probe = LatencyHistogram()
        probe.record(latency)
        let low = probe.histogram.lowestEquivalentForValue(probe.histogram.max)
        return Int(self.histogram.count(within: low...self.histogram.highestTrackableValue))
    }

    /// Percentiles, mean and extremes in milliseconds.
    public var summary: LatencySummary {
        guard self.histogram.totalCount > 0 else { return .empty }
        func ms(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1e6 }
        let h = self.histogram
        return LatencySummary(
            count: self.count,
            min: ms(h.min),
            mean: h.mean / 1e6,
            p50: ms(h.valueAtPercentile(50)),
            p90: ms(h.valueAtPercentile(90)),
            p99: ms(h.valueAtPercentile(99)),
            p999: ms(h.valueAtPercentile(99.9)),
            max: ms(h.max)
        )
    }

    /// The recorded values as `[value_us, count]` pairs, for reports; values below 1 µs are given as 1.
    public var pairsInMicroseconds: [[UInt64]] {
        var pairs: [[UInt64]] = []
        for value in self.histogram.recordedValues() {
            let microseconds = Swift.max(1, (self.histogram.medianEquivalentForValue(value.value) + 500) / 1_000)
            if let last = pairs.last, last[0] == microseconds {
                pairs[pairs.count - 1][1] += UInt64(value.count)
            } else {
                pairs.append([microseconds, UInt64(value.count)])
            }
        }
        return pairs
    }

    /// A histogram rebuilt from `[value_us, count]` pairs of a report.
    /// - Parameter pairs: what ``pairsInMicroseconds`` gave.
    public init(pairsInMicroseconds pairs: [[UInt64]]) {
        for pair in pairs where pair.count == 2 && pair[1] > 0 {
            _ = self.histogram.record(Swift.min(pair[0] &* 1_000, self.histogram.highestTrackableValue), count: pair[1])
        }
    }
}
