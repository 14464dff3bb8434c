/// Statistics that stay valid when they are looked at after every observation: the mixture sequential probability
/// ratio test (mSPRT) of Robbins, in the form of Johari, Pekelis and Walsh ("Always Valid Inference", 2017) that
/// Optimizely's Stats Engine uses, and the confidence sequences it gives.
///
/// For an estimate `d` with variance `V` and a normal mixing distribution of scale `τ` over the true difference, the
/// mixture likelihood ratio is `Λ = √(V / (V + τ²)) · exp(τ² (d − θ)² / (2 V (V + τ²)))`. Under `θ`, Λ is a
/// nonnegative martingale, so by Ville's inequality the chance that it *ever* reaches `1/α` is at most `α`, however
/// often it is checked. The set of `θ` where `Λ < 1/α` is a (1 − α) confidence sequence: every interval it gives,
/// at every look, covers the truth with probability 1 − α simultaneously. `V` is estimated (plug-in), with one
/// pseudo-success and one pseudo-failure per arm (Agresti–Caffo) so that rates of 0 or 1 do not make it vanish; the
/// guarantee is therefore asymptotic, and seeded simulations check it (`SequentialStatisticsTests`, `ops/RELEASES.md`).
extension Statistics {
    /// An estimate with the interval a confidence sequence gives for it now.
    public struct Interval: Sendable, Hashable {
        public var estimate: Double
        public var low: Double
        public var high: Double
    }

    /// The mixing scale τ: effects of about 20 points (of a rate, or of a distance in `[0, 1]`) are found fastest,
    /// which suits gates that must catch a broken candidate within dozens of requests; smaller effects take more
    /// evidence, as they would with any test that is valid at every look.
    public static let mixtureScale = 0.2

    /// Half the width of the (1 − α) confidence sequence of an estimate with variance `variance`.
    /// - Parameters:
    ///   - variance: the estimate's variance (of the mean or difference, not of one observation).
    ///   - alpha: the chance, over all looks together, that the interval ever misses the truth.
    ///   - tau: the mixing scale.
    public static func mixtureHalfWidth(variance: Double, alpha: Double, tau: Double = mixtureScale) -> Double {
        let v = max(variance, 1e-12)
        let t2 = tau * tau
        return (v * (v + t2) / t2 * (2 * Self.log(1 / alpha) + Self.log((v + t2) / v))).squareRoot()
    }

    /// The confidence sequence of one proportion.
    /// - Parameters:
    ///   - successes: events counted.
    ///   - trials: observations; with none the interval is all of `[0, 1]`.
    ///   - alpha: the error rate over every look.
    public static func proportionSequence(successes: Int, trials: Int, alpha: Double) -> Interval {
        guard trials > 0 else { return Interval(estimate: 0, low: 0, high: 1) }
        let estimate = Double(successes) / Double(trials)
        let smoothed = Double(successes + 1) / Double(trials + 2)
        let half = Self.mixtureHalfWidth(variance: smoothed * (1 - smoothed) / Double(trials), alpha: alpha)
        return Interval(estimate: estimate, low: max(0, estimate - half), high: min(1, estimate + half))
    }

    /// The confidence sequence of the difference of two proportions, `p1 − p2`.
    /// - Parameters:
    ///   - successes1: events of the first side.
    ///   - trials1: its observations.
    ///   - successes2: events of the second side.
    ///   - trials2: its observations.
    ///   - alpha: the error rate over every look.
    /// - Returns: the difference and its interval; `[-1, 1]` when a side has no observations.
    public static func differenceSequence(
        successes1: Int, trials1: Int, successes2: Int, trials2: Int, alpha: Double
    ) -> Interval {
        guard trials1 > 0, trials2 > 0 else {
            let estimate = (trials1 == 0 ? 0 : Double(successes1) / Double(trials1))
                - (trials2 == 0 ? 0 : Double(successes2) / Double(trials2))
            return Interval(estimate: estimate, low: -1, high: 1)
        }
        let estimate = Double(successes1) / Double(trials1) - Double(successes2) / Double(trials2)
        let a = Double(successes1 + 1) / Double(trials1 + 2)
        let b = Double(successes2 + 1) / Double(trials2 + 2)
        let variance = a * (1 - a) / Double(trials1) + b * (1 - b) / Double(trials2)
        let half = Self.mixtureHalfWidth(variance: variance, alpha: alpha)
        return Interval(estimate: estimate, low: max(-1, estimate - half), high: min(1, estimate + half))
    }

    /// The always-valid p-value of "the two proportions are equal" now: `min(1, 1/Λ)` with the pooled variance
    /// under that hypothesis. Rejecting when it is below α, at whichever look, errs with probability at most α.
    /// - Parameters:
    ///   - successes1: events of the first side.
    ///   - trials1: its observations.
    ///   - successes2: events of the second side.
    ///   - trials2: its observations.
    public static func alwaysValidPValue(successes1: Int, trials1: Int, successes2: Int, trials2: Int) -> Double {
        guard trials1 > 0, trials2 > 0 else { return 1 }
        let a = Double(successes1 + 1) / Double(trials1 + 2)
        let b = Double(successes2 + 1) / Double(trials2 + 2)
        let pooled = Double(successes1 + successes2 + 1) / Double(trials1 + trials2 + 2)
        let variance = max(pooled * (1 - pooled) * (1 / Double(trials1) + 1 / Double(trials2)), 1e-12)
        let t2 = Self.mixtureScale * Self.mixtureScale
        let d = a - b
        let logLambda = 0.5 * Self.log(variance / (variance + t2)) + t2 * d * d / (2 * variance * (variance + t2))
        return logLambda <= 0 ? 1 : min(1, Self.exp(-logLambda))
    }

    /// The confidence sequence of a mean of observations from their running sums.
    /// - Parameters:
    ///   - moments: count, sum and sum of squares of the observations.
    ///   - alpha: the error rate over every look.
    ///   - floor: the least per-observation variance assumed, so that a run of equal values is not taken as
    ///     certainty (e.g. the variance of a value known only to its last digit).
    public static func meanSequence(_ moments: Moments, alpha: Double, floor: Double = 1e-4) -> Interval {
        guard moments.count > 0 else { return Interval(estimate: 0, low: -.infinity, high: .infinity) }
        let n = Double(moments.count)
        let mean = moments.sum / n
        let variance = max(moments.sumOfSquares / n - mean * mean, floor)
        let half = Self.mixtureHalfWidth(variance: variance / n, alpha: alpha)
        return Interval(estimate: mean, low: mean - half, high: mean + half)
    }

    /// The natural logarithm: the exponent of `x` times ln 2 plus the series of 2 atanh((m − 1)/(m + 1)) for the
    /// significand m in [1, 2), so that this module needs no C library import. `-inf` for 0, NaN below.
    static func log(_ x: Double) -> Double {
        guard x > 0 else { return x == 0 ? -.infinity : .nan }
        guard x.isFinite else { return x }
        let exponent = Double(x.exponent)
        let m = x.significand
        let z = (m - 1) / (m + 1)
        let z2 = z * z
        var term = z
        var sum = 0.0
        var k = 1.0
        while k < 60 {
            sum += term / k
            term *= z2
            k += 2
        }
        return exponent * 0.6931471805599453 + 2 * sum
    }
}

/// Count, sum and sum of squares of observations: enough for a mean, its variance and a confidence sequence,
/// mergeable and small to persist.
public struct Moments: Sendable, Hashable, Codable {
    public private(set) var count = 0
    public private(set) var sum = 0.0
    public private(set) var sumOfSquares = 0.0

    public init() {}

    /// Adds one observation (NaN and infinities are ignored).
    public mutating func add(_ value: Double) {
        guard value.isFinite else { return }
        self.count += 1
        self.sum += value
        self.sumOfSquares += value * value
    }

    /// The mean; 0 with no observations.
    public var mean: Double { self.count == 0 ? 0 : self.sum / Double(self.count) }
}
