/// Statistics that stay valid when they are looked at after every observation.
///
/// One proportion (a disagreement rate, a candidate's error rate): Robbins' beta-binomial mixture, exact at every
/// sample size. A difference of two proportions (error rates, accuracies) and a mean (distances between outputs):
/// the mixture sequential probability ratio test (mSPRT) of Robbins in the form of Johari, Pekelis and Walsh
/// ("Always Valid Inference", 2017) that Optimizely's Stats Engine uses. For an estimate `d` with variance `V` and a
/// normal mixing distribution of scale `τ` over the true difference, the mixture likelihood ratio is
/// `Λ = √(V / (V + τ²)) · exp(τ² (d − θ)² / (2 V (V + τ²)))`. Under `θ`, Λ is a nonnegative martingale, so by
/// Ville's inequality the chance that it *ever* reaches `1/α` is at most `α`, however often it is checked. The set
/// of `θ` where `Λ < 1/α` is a (1 − α) confidence sequence: every interval it gives, at every look, covers the
/// truth with probability 1 − α simultaneously. There `V` is estimated (plug-in), with one pseudo-success and one
/// pseudo-failure per arm (Agresti–Caffo) so that rates of 0 or 1 do not make it vanish; that guarantee is
/// therefore asymptotic, and seeded simulations check it (`SequentialStatisticsTests`, `ops/RELEASES.md`).
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

    /// The confidence sequence of one proportion: Robbins' beta-binomial mixture (a uniform prior over the rate),
    /// which is exact, not asymptotic: for the true rate p, `M(p) = B(1 + s, 1 + n − s) / (pˢ (1 − p)ⁿ⁻ˢ)` is a
    /// martingale, so the set of rates where `M < 1/α` misses the truth at any look with probability at most α.
    /// - Parameters:
    ///   - successes: events counted.
    ///   - trials: observations; with none the interval is all of `[0, 1]`.
    ///   - alpha: the error rate over every look.
    public static func proportionSequence(successes: Int, trials: Int, alpha: Double) -> Interval {
        guard trials > 0 else { return Interval(estimate: 0, low: 0, high: 1) }
        let estimate = Double(successes) / Double(trials)
        let limit = Self.log(1 / alpha)
        func inside(_ p: Double) -> Bool { Self.logMixtureRatio(successes: successes, trials: trials, at: p) < limit }
        // M is smallest at the estimate and grows on either side: bisect each edge
        func edge(from outer: Double, to inner: Double) -> Double {
            guard !inside(outer) else { return outer }
            var (out, inn) = (outer, inner)
            for _ in 0..<40 {
                let middle = (out + inn) / 2
                if inside(middle) { inn = middle } else { out = middle }
            }
            return inn
        }
        return Interval(estimate: estimate, low: edge(from: 0, to: estimate), high: edge(from: 1, to: estimate))
    }

    /// log M(p) of ``proportionSequence(successes:trials:alpha:)``: the rate p is in the (1 − α) sequence while this
    /// is below ln(1/α).
    public static func logMixtureRatio(successes: Int, trials: Int, at p: Double) -> Double {
        let s = Double(successes)
        let f = Double(trials - successes)
        let logBeta = Self.logGamma(1 + s) + Self.logGamma(1 + f) - Self.logGamma(2 + s + f)
        let logLikelihood = (s > 0 ? s * Self.log(p) : 0) + (f > 0 ? f * Self.log(1 - p) : 0)
        return logBeta - logLikelihood
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
            let estimate =
                (trials1 == 0 ? 0 : Double(successes1) / Double(trials1))
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

    /// The natural logarithm: ln 2 times the exponent of `x`, plus the series of 2 atanh((m − 1)/(m + 1)) for its
    /// significand m brought into [√½, √2), so that this module needs no C library import. `-inf` for 0, NaN below.
    static func log(_ x: Double) -> Double {
        guard x > 0 else { return x == 0 ? -.infinity : .nan }
        guard x.isFinite else { return x }
        var exponent = Double(x.exponent)
        var m = x.significand
        if m > 1.4142135623730951 {
            m /= 2
            exponent += 1
        }
        let z = (m - 1) / (m + 1)
        let z2 = z * z
        var term = z
        var sum = 0.0
        var k = 1.0
        while k < 40 {
            sum += term / k
            term *= z2
            if abs(term) < 1e-18 { break }
            k += 2
        }
        return exponent * 0.6931471805599453 + 2 * sum
    }

    /// ln Γ(x) for x > 0, by Lanczos' approximation (g = 7, nine terms; relative error about 1e-15).
    static func logGamma(_ x: Double) -> Double {
        let coefficients = [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ]
        guard x >= 0.5 else {
            // reflection: Γ(x) Γ(1 − x) = π / sin(πx); only x in (0, 0.5) reaches here
            return Self.log(3.141592653589793 / Self.sinPi(x)) - Self.logGamma(1 - x)
        }
        let y = x - 1
        var sum = coefficients[0]
        for index in 1..<coefficients.count { sum += coefficients[index] / (y + Double(index)) }
        let t = y + 7.5
        return 0.9189385332046728 + (y + 0.5) * Self.log(t) - t + Self.log(sum)
    }

    /// sin(πx) for x in (0, 0.5], by its Taylor series (enough for the reflection above).
    static func sinPi(_ x: Double) -> Double {
        let angle = 3.141592653589793 * x
        var term = angle
        var sum = angle
        for n in stride(from: 3, to: 40, by: 2) {
            term *= -angle * angle / Double((n - 1) * n)
            sum += term
        }
        return sum
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
