/// An A/B comparison of two versions (or models with the same inputs) of one model name: the champion serves,
/// the challenger either takes a sticky share of users (`split`) or sees a mirrored copy of a share of requests
/// whose answers are thrown away (`shadow`, so it never touches the client's latency or errors).
///
/// Both arms are measured online (errors, latency, top-1 agreement and the mean absolute difference of their
/// scores on requests both answered) and, once the app reports true labels (`feedback`), by accuracy with a
/// confidence interval and a two-proportion z-test.
public struct Experiment: Sendable {
    public enum Mode: String, Sendable, Codable { case split, shadow }

    /// What one arm did.
    public struct ArmStatistics: Sendable {
        public var window = ArmWindow()
        /// Requests whose true label came back, and how many of those this arm got right.
        public var labelled = 0
        public var correct = 0
    }

    public var model: String
    public var champion: String
    public var challenger: String
    public var mode: Mode
    /// Split: the challenger's share of users, in percent. Shadow: the share of requests mirrored to it.
    public var percent: Double
    /// Split: the share of the challenger's requests the champion also scores, for agreement.
    public var comparePercent: Double
    public var started: Double
    /// When it was stopped; `nil` while it runs.
    public private(set) var stopped: Double?
    public private(set) var championStatistics = ArmStatistics()
    public private(set) var challengerStatistics = ArmStatistics()
    /// Requests both arms answered, those with the same top-1, and the summed mean absolute score difference.
    public private(set) var compared = 0
    public private(set) var agreed = 0
    private var scoreDifference = 0.0
    private var scoreDifferenceCount = 0

    public init(model: String, champion: String, challenger: String, mode: Mode, percent: Double, comparePercent: Double = 20, now: Double) {
        self.model = model
        self.champion = champion
        self.challenger = challenger
        self.mode = mode
        self.percent = percent
        self.comparePercent = comparePercent
        self.started = now
    }

    /// Whether it still routes traffic.
    public var isRunning: Bool { self.stopped == nil }

    /// Stops routing by the experiment; its numbers stay.
    public mutating func stop(now: Double = 0) { self.stopped = now }

    /// Why the experiment cannot run, or `nil`.
    public var problem: String? {
        if self.champion == self.challenger { return "the champion and the challenger are the same version (\(self.champion))" }
        if !(0...100).contains(self.percent) { return "the percentage must be 0...100" }
        if !(0...100).contains(self.comparePercent) { return "the compare percentage must be 0...100" }
        return nil
    }

    /// The split of users for `split` mode (the challenger as candidate); all to the champion in `shadow` mode.
    public var split: TrafficSplit {
        TrafficSplit(stable: self.champion, candidate: self.mode == .split ? self.challenger : nil, candidatePercent: self.mode == .split ? self.percent : 0)
    }

    public mutating func recordAnswer(challenger: Bool, ok: Bool, latency: Duration) {
        if challenger { self.challengerStatistics.window.record(ok: ok, latency: latency) } else { self.championStatistics.window.record(ok: ok, latency: latency) }
    }

    /// Both arms answered the same request.
    public mutating func recordComparison(agreed: Bool, meanAbsoluteScoreDifference: Double?) {
        self.compared += 1
        if agreed { self.agreed += 1 }
        if let difference = meanAbsoluteScoreDifference, difference.isFinite {
            self.scoreDifference += difference
            self.scoreDifferenceCount += 1
        }
    }

    /// A true label came back for a request an arm answered.
    public mutating func recordFeedback(challenger: Bool, correct: Bool) {
        if challenger {
            self.challengerStatistics.labelled += 1
            if correct { self.challengerStatistics.correct += 1 }
        } else {
            self.championStatistics.labelled += 1
            if correct { self.championStatistics.correct += 1 }
        }
    }

    /// The comparison so far.
    public var report: ExperimentReport {
        func arm(_ name: String, _ statistics: ArmStatistics) -> ExperimentReport.Arm {
            let window = statistics.window
            let accuracy = statistics.labelled == 0 ? nil : Double(statistics.correct) / Double(statistics.labelled)
            let interval = statistics.labelled == 0 ? nil : Statistics.wilsonInterval(successes: statistics.correct, trials: statistics.labelled)
            return ExperimentReport.Arm(
                version: name, requests: window.requests, errorRate: window.errorRate,
                p50Milliseconds: window.latency(quantile: 0.5).map(Self.milliseconds), p99Milliseconds: window.latency(quantile: 0.99).map(Self.milliseconds),
                labelled: statistics.labelled, accuracy: accuracy, accuracyLow: interval?.low, accuracyHigh: interval?.high
            )
        }
        let a = self.championStatistics
        let b = self.challengerStatistics
        var report = ExperimentReport(
            model: self.model, mode: self.mode, percent: self.percent, champion: arm(self.champion, a), challenger: arm(self.challenger, b),
            compared: self.compared, agreement: self.compared == 0 ? nil : Double(self.agreed) / Double(self.compared),
            meanAbsoluteScoreDifference: self.scoreDifferenceCount == 0 ? nil : self.scoreDifference / Double(self.scoreDifferenceCount),
            z: nil, pValue: nil, winner: nil, verdict: ""
        )
        let minimum = 30
        guard a.labelled >= minimum, b.labelled >= minimum else {
            report.verdict = "too few labelled requests to decide: \(a.labelled) for \(self.champion) and \(b.labelled) for \(self.challenger) (at least \(minimum) each)"
            return report
        }
        let test = Statistics.twoProportionZTest(successes1: a.correct, trials1: a.labelled, successes2: b.correct, trials2: b.labelled)
        report.z = test.z
        report.pValue = test.p
        if test.p < 0.05 {
            report.winner = test.z > 0 ? self.champion : self.challenger
            report.verdict = "\(report.winner!) is more accurate (p = \(Self.format(test.p)), z = \(Self.format(test.z)), "
                + "\(a.labelled) and \(b.labelled) labelled requests)"
        } else {
            let needed = Statistics.sampleSizePerArm(accuracy1: Double(a.correct) / Double(a.labelled), accuracy2: Double(b.correct) / Double(b.labelled))
            report.verdict = "no significant difference (p = \(Self.format(test.p))); "
                + (needed.map { "a real difference this size needs about \($0) labelled requests per arm" } ?? "the arms are equally accurate so far")
        }
        return report
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func format(_ value: Double) -> String {
        if value != 0, abs(value) < 0.001 { return "< 0.001" }
        return String((value * 1000).rounded() / 1000)
    }
}

/// An A/B comparison as `ab.report` shows it (JSON, snake_case keys).
public struct ExperimentReport: Sendable, Codable {
    public struct Arm: Sendable, Codable {
        public var version: String
        public var requests: Int
        public var errorRate: Double
        public var p50Milliseconds: Double?
        public var p99Milliseconds: Double?
        public var labelled: Int
        public var accuracy: Double?
        /// The 95% Wilson interval of the accuracy.
        public var accuracyLow: Double?
        public var accuracyHigh: Double?

        enum CodingKeys: String, CodingKey {
            case version, requests, labelled, accuracy
            case errorRate = "error_rate"
            case p50Milliseconds = "p50_ms"
            case p99Milliseconds = "p99_ms"
            case accuracyLow = "accuracy_low"
            case accuracyHigh = "accuracy_high"
        }
    }

    public var model: String
    public var mode: Experiment.Mode
    public var percent: Double
    public var champion: Arm
    public var challenger: Arm
    public var compared: Int
    public var agreement: Double?
    public var meanAbsoluteScoreDifference: Double?
    /// The two-proportion z-test on accuracy (champion minus challenger), once both arms have enough labels.
    public var z: Double?
    public var pValue: Double?
    /// The version that is significantly more accurate (p < 0.05), if one is.
    public var winner: String?
    public var verdict: String

    enum CodingKeys: String, CodingKey {
        case model, mode, percent, champion, challenger, compared, agreement, z, winner, verdict
        case meanAbsoluteScoreDifference = "mean_abs_score_difference"
        case pValue = "p_value"
    }
}

/// The few statistics the comparisons need, without a numerics dependency.
public enum Statistics {
    /// The standard normal CDF, through erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
    public static func normalCDF(_ x: Double) -> Double {
        let z = abs(x) / 2.0.squareRoot()
        let t = 1 / (1 + 0.3275911 * z)
        let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
        let erf = 1 - poly * Self.exp(-z * z)
        return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf)
    }

    /// Two-sided two-proportion z-test with the pooled variance.
    public static func twoProportionZTest(successes1: Int, trials1: Int, successes2: Int, trials2: Int) -> (z: Double, p: Double) {
        let n1 = Double(trials1)
        let n2 = Double(trials2)
        let p1 = Double(successes1) / n1
        let p2 = Double(successes2) / n2
        let pooled = Double(successes1 + successes2) / (n1 + n2)
        let standardError = (pooled * (1 - pooled) * (1 / n1 + 1 / n2)).squareRoot()
        guard standardError > 0 else { return (0, 1) }
        let z = (p1 - p2) / standardError
        return (z, 2 * (1 - Self.normalCDF(abs(z))))
    }

    /// The 95% Wilson score interval of a proportion.
    public static func wilsonInterval(successes: Int, trials: Int) -> (low: Double, high: Double) {
        let n = Double(trials)
        let p = Double(successes) / n
        let z = 1.959964
        let denominator = 1 + z * z / n
        let centre = (p + z * z / (2 * n)) / denominator
        let half = z * ((p * (1 - p) / n + z * z / (4 * n * n)).squareRoot()) / denominator
        return (max(0, centre - half), min(1, centre + half))
    }

    /// The lower end of the 95% interval of the difference of two proportions, `p1 − p2` (Newcombe's hybrid score
    /// interval, built from each side's Wilson interval; sound at small samples and at rates near 0, where the
    /// normal approximation is not). A side with no trials counts as 0 with no uncertainty.
    public static func differenceLowerBound(successes1: Int, trials1: Int, successes2: Int, trials2: Int) -> Double {
        let p1 = trials1 == 0 ? 0 : Double(successes1) / Double(trials1)
        let p2 = trials2 == 0 ? 0 : Double(successes2) / Double(trials2)
        let low1 = trials1 == 0 ? 0 : Self.wilsonInterval(successes: successes1, trials: trials1).low
        let high2 = trials2 == 0 ? 0 : Self.wilsonInterval(successes: successes2, trials: trials2).high
        return (p1 - p2) - ((p1 - low1) * (p1 - low1) + (high2 - p2) * (high2 - p2)).squareRoot()
    }

    /// Labelled requests per arm to detect the difference between two accuracies (two-sided α = 0.05, power 0.8);
    /// `nil` when they are equal.
    public static func sampleSizePerArm(accuracy1: Double, accuracy2: Double) -> Int? {
        let difference = abs(accuracy1 - accuracy2)
        guard difference > 1e-9 else { return nil }
        let variance = accuracy1 * (1 - accuracy1) + accuracy2 * (1 - accuracy2)
        return Int(((1.959964 + 0.841621) * (1.959964 + 0.841621) * max(variance, 1e-6) / (difference * difference)).rounded(.up))
    }

    /// e^x by range reduction and a series, so that this file needs no C library import.
    static func exp(_ x: Double) -> Double {
        guard x > -700 else { return 0 }
        let k = (x / 0.6931471805599453).rounded(.down)
        let r = x - k * 0.6931471805599453
        var term = 1.0
        var sum = 1.0
        for n in 1...20 {
            term *= r / Double(n)
            sum += term
        }
        return sum * Double(sign: .plus, exponent: Int(k), significand: 1)
    }
}
