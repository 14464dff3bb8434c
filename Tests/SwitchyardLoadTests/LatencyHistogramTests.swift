import SwitchyardLoad
import Testing

/// Percentile accounting: what goes into the histogram comes out as the right percentiles, also after a round trip
/// through a report's pairs.
struct LatencyHistogramTests {
    @Test func percentilesOfAKnownDistribution() {
        var histogram = LatencyHistogram()
        for millisecond in 1...1000 { histogram.record(.milliseconds(millisecond)) }
        let summary = histogram.summary
        #expect(summary.count == 1000)
        // HdrHistogram keeps 3 significant digits: each value within 0.1%.
        for (value, expected) in [
            (summary.p50, 500.0), (summary.p90, 900), (summary.p99, 990), (summary.p999, 999), (summary.max, 1000),
            (summary.min, 1),
        ] {
            #expect(abs(value - expected) <= expected * 0.001 + 1e-9, "\(value) vs \(expected)")
        }
        #expect(abs(summary.mean - 500.5) < 0.5)
    }

    @Test func aFewSlowRequestsShowOnlyInTheTail() {
        var histogram = LatencyHistogram()
        for _ in 0..<9_980 { histogram.record(.microseconds(200)) }
        for _ in 0..<20 { histogram.record(.seconds(2)) }
        let summary = histogram.summary
        #expect(abs(summary.p99 - 0.2) < 0.001)
        #expect(summary.p999 >= 1_990)
        #expect(summary.max >= 1_990)
    }

    @Test func emptyHistogramSummarisesToZeros() {
        #expect(LatencyHistogram().summary == .empty)
        #expect(LatencyHistogram().pairsInMicroseconds.isEmpty)
    }

    @Test func pairsRoundTripKeepsThePercentiles() {
        var histogram = LatencyHistogram()
        for value in stride(from: 50, to: 50_000, by: 37) { histogram.record(.microseconds(value)) }
        let copy = LatencyHistogram(pairsInMicroseconds: histogram.pairsInMicroseconds)
        #expect(copy.count == histogram.count)
        let (a, b) = (histogram.summary, copy.summary)
        for (x, y) in [(a.p50, b.p50), (a.p90, b.p90), (a.p99, b.p99), (a.max, b.max)] {
            #expect(abs(x - y) <= x * 0.002 + 0.001, "\(x) vs \(y)")
        }
    }

    @Test func mergingAddsCounts() {
        var a = LatencyHistogram()
        var b = LatencyHistogram()
        for _ in 0..<300 { a.record(.milliseconds(1)) }
        for _ in 0..<700 { b.record(.milliseconds(10)) }
        a.add(b)
        #expect(a.count == 1000)
        #expect(abs(a.summary.p50 - 10) < 0.01)
        #expect(abs(a.summary.min - 1) < 0.01)
    }
}
