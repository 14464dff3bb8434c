import Testing

@testable import SwitchyardRouting

/// The limit's state machine, driven with instants a test makes: no clock, no timing.
struct AdaptiveConcurrencyLimitTests {
    typealias Limit = AdaptiveConcurrencyLimit<ManualClock.Instant>

    static func instant(_ milliseconds: Int) -> ManualClock.Instant { .init(offset: .milliseconds(milliseconds)) }

    static func make(_ configure: (inout AdaptiveConcurrencyConfiguration) -> Void = { _ in }) -> Limit {
        Limit(
            configuration: .defaults {
                $0.initialLimit = 4
                $0.minLimit = 1
                $0.maxLimit = 32
                $0.sampleInterval = .milliseconds(100)
                $0.minimumSamples = 4
                $0.buffer = 0.25
                configure(&$0)
            },
            now: instant(0)
        )
    }

    /// Feeds `count` answers of `rows` rows taking `latency` each, spread over one sample interval from `start`.
    static func feed(
        _ limit: inout Limit,
        count: Int,
        rows: Int = 1,
        latency: Duration,
        from start: Int,
        kind: Int = 0
    ) {
        for index in 0..<count {
            limit.answered(kind: kind, rows: rows, latency: latency, now: instant(start + index * 100 / count))
        }
    }

    @Test func anInstanceThatKeepsUpGetsHeadroom() {
        var limit = Self.make()
        #expect(limit.limit == 4)
        // the baseline latency, interval after interval: limit × 1.25 + √(limit × 1.25) each time, capped
        Self.feed(&limit, count: 8, latency: .milliseconds(2), from: 0)
        Self.feed(&limit, count: 8, latency: .milliseconds(2), from: 100)
        #expect(limit.limit == 7)  // 4 × 1.25 = 5, + √5 = 7.24
        Self.feed(&limit, count: 8, latency: .milliseconds(2), from: 200)
        #expect(limit.limit == 12)  // 7.24 × 1.25 = 9.05, + √9.05 = 12.06
        for interval in 3..<20 { Self.feed(&limit, count: 8, latency: .milliseconds(2), from: interval * 100) }
        #expect(limit.limit == 32)  // maxLimit
    }

    @Test func anInstanceThatQueuesIsThrottledDownToTheMinimum() {
        var limit = Self.make { $0.initialLimit = 16 }
        Self.feed(&limit, count: 8, latency: .milliseconds(2), from: 0)  // sets the baseline
        // four times slower than its baseline: gradient 1.25 / 4, clamped to 0.5 (an interval is judged at the first
        // answer after it)
        Self.feed(&limit, count: 8, latency: .milliseconds(8), from: 100)
        Self.feed(&limit, count: 8, latency: .milliseconds(8), from: 200)
        let first = limit.limit
        #expect(first < 16)
        var previous = first
        for interval in 3..<16 {
            Self.feed(&limit, count: 8, latency: .milliseconds(8), from: interval * 100)
            #expect(limit.limit <= previous)
            previous = limit.limit
        }
        // limit × 0.5 + √(limit × 0.5) settles at 2 (2 × 0.5 = 1, + 1 = 2)
        #expect(limit.limit == 2)
    }

    @Test func latencyIsComparedWithTheBaselineOfItsOwnBatchSizeAndKind() {
        var limit = Self.make()
        // small batches are fast, large ones slow, another model slower still: none of it is queueing
        for interval in 0..<6 {
            for index in 0..<8 {
                let now = Self.instant(interval * 100 + index * 12)
                limit.answered(kind: 0, rows: 1, latency: .milliseconds(1), now: now)
                limit.answered(kind: 0, rows: 32, latency: .milliseconds(20), now: now)
                limit.answered(kind: 7, rows: 1, latency: .milliseconds(50), now: now)
            }
        }
        #expect(limit.baseline(kind: 0, rows: 1) == .milliseconds(1))
        #expect(limit.baseline(kind: 0, rows: 32) == .milliseconds(20))
        #expect(limit.baseline(kind: 7, rows: 1) == .milliseconds(50))
        #expect(limit.limit == 32)  // grew all along: every sample is at its baseline
    }

    @Test func anIntervalIsJudgedOnlyWhenOverAndWithEnoughSamples() {
        var limit = Self.make()
        // many samples, but within one interval: no verdict yet
        for index in 0..<50 { limit.answered(rows: 1, latency: .milliseconds(2), now: Self.instant(index)) }
        #expect(limit.limit == 4)
        // the interval is over, but too few samples in the next: the verdict waits for them
        limit.answered(rows: 1, latency: .milliseconds(2), now: Self.instant(100))
        #expect(limit.limit == 7)
        limit.answered(rows: 1, latency: .milliseconds(2), now: Self.instant(250))
        limit.answered(rows: 1, latency: .milliseconds(2), now: Self.instant(260))
        #expect(limit.limit == 7)
        limit.answered(rows: 1, latency: .milliseconds(2), now: Self.instant(270))
        limit.answered(rows: 1, latency: .milliseconds(2), now: Self.instant(280))
        #expect(limit.limit == 12)
    }

    @Test func theIntervalsMedianDecidesNotItsOutliers() {
        var limit = Self.make()
        Self.feed(&limit, count: 8, latency: .milliseconds(2), from: 0)
        // 3 of 8 samples ten times slower: the median is still the baseline
        for index in 0..<8 {
            let latency: Duration = index % 3 == 0 ? .milliseconds(20) : .milliseconds(2)
            limit.answered(rows: 1, latency: latency, now: Self.instant(100 + index * 12))
        }
        Self.feed(&limit, count: 8, latency: .milliseconds(2), from: 200)
        #expect(limit.limit == 12)  // grew twice: 4 → 7 → 12
    }

    @Test func dropsBackOffAtOnceAndNeverBelowTheMinimum() {
        var limit = Self.make { $0.initialLimit = 10 }
        let changed = limit.dropped(now: Self.instant(1))
        #expect(changed)
        #expect(limit.limit == 9)
        for index in 0..<100 { limit.dropped(now: Self.instant(2 + index)) }
        #expect(limit.limit == 1)
        #expect(limit.exactLimit >= 1)
    }

    @Test func theBaselineFollowsAnInstanceThatBecameSlower() {
        var limit = Self.make { $0.baselineWindow = .seconds(1) }
        Self.feed(&limit, count: 8, latency: .milliseconds(2), from: 0)
        #expect(limit.baseline(rows: 1) == .milliseconds(2))
        // the instance is slower from now on (a smaller machine, a bigger model version): for a window or two it
        // looks like queueing, and is throttled
        for interval in 1..<20 { Self.feed(&limit, count: 8, latency: .milliseconds(6), from: interval * 100) }
        #expect(limit.baseline(rows: 1) == .milliseconds(2))
        #expect(limit.limit <= 3)
        // then the old baseline is forgotten, and the limit grows again on the new one
        for interval in 20..<40 { Self.feed(&limit, count: 8, latency: .milliseconds(6), from: interval * 100) }
        #expect(limit.baseline(rows: 1) == .milliseconds(6))
        #expect(limit.limit > 10)
    }

    @Test func settingsAreForcedIntoARangeItCanWorkWith() {
        let limit = Limit(
            configuration: .defaults {
                $0.minLimit = 0
                $0.maxLimit = -3
                $0.initialLimit = 100
                $0.samplePercentile = 7
                $0.backoffRatio = 0
            },
            now: Self.instant(0)
        )
        #expect(limit.configuration.minLimit == 1)
        #expect(limit.configuration.maxLimit == 1)
        #expect(limit.limit == 1)
        #expect(limit.configuration.samplePercentile == 1)
        #expect(limit.configuration.backoffRatio == 0.1)
    }
}
