/// An A/B comparison of two versions (or models with the same inputs) of one model name: the champion serves,
/// the challenger either takes a sticky share of users (`split`) or sees a mirrored copy of a share of requests
/// whose answers are thrown away (`shadow`, so it never touches the client's latency or errors).
///
/// Both arms are measured online (errors, latency, and on requests both answered every output compared) and, once
/// the app reports true labels (`feedback`), by accuracy. The verdict is a sequential test (mSPRT, see
/// ``Statistics/alwaysValidPValue(successes1:trials1:successes2:trials2:)``): it may be read after every label and
/// still names a winner between two equal models with probability at most 5%. In split mode a guardrail stops an
/// arm whose error rate or accuracy is significantly worse, so that users are not left on it.
public struct Experiment: Sendable, Codable {
    public enum Mode: String, Sendable, Codable { case split, shadow }

    /// When the guardrail of a split comparison stops an arm, judged like the rollout gates on confidence sequences.
    public struct Guardrail: Sendable, Hashable, Codable {
        /// Whether it runs (split mode only: in shadow mode the challenger serves nobody).
        public var enabled = true
        /// An arm whose error rate exceeds the other's by more than this (on the interval's lower end) is stopped.
        public var maxErrorRateIncrease = 0.01
        /// An arm whose accuracy is below the other's by more than this (on the interval's upper end) is stopped.
        public var maxAccuracyDrop = 0.02
        public var confidence = 0.95
        /// Requests of each arm before errors are judged.
        public var minSamples = 20
        /// Labels of each arm before accuracy is judged.
        public var minLabels = 30

        public init() {}
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
    public var guardrail = Guardrail()
    /// Significance of the verdict: a winner is named when the always-valid p-value falls below it.
    public var alpha = 0.05
    /// When it was stopped; `nil` while it runs.
    public private(set) var stopped: Double?
    /// Why it stopped, when the guardrail stopped it.
    public private(set) var stopReason: String?
    /// The arm the guardrail stopped; the other serves everyone.
    public private(set) var stoppedArm: String?
    public private(set) var championWindow = ArmWindow()
    public private(set) var challengerWindow = ArmWindow()
    /// Requests both arms answered, and those whose top-1 answers were the same.
    public private(set) var compared = 0
    public private(set) var agreed = 0
    /// The mean absolute difference of their float scores, per compared request.
    public private(set) var scoreDifference = Moments()
    /// The version the sequential test named, once it did (it stays named), and after how many labels.
    public private(set) var winner: String?
    public private(set) var decidedAfterLabels: Int?
    /// The smallest always-valid p-value seen (the always-valid p-value of the whole run so far).
    public private(set) var minimumP = 1.0

    /// Labelled requests per arm before a verdict is given at all.
    public static let minimumLabels = 30

    public init(
        model: String, champion: String, challenger: String, mode: Mode, percent: Double, comparePercent: Double = 20,
        now: Double
    ) {
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
        if self.champion == self.challenger {
            return "the champion and the challenger are the same version (\(self.champion))"
        }
        if !(0...100).contains(self.percent) { return "the percentage must be 0...100" }
        if !(0...100).contains(self.comparePercent) { return "the compare percentage must be 0...100" }
        if !(0.5..<1).contains(self.guardrail.confidence) { return "the guardrail's confidence must be 0.5 ... 0.999" }
        if !(0...1).contains(self.guardrail.maxErrorRateIncrease) || !(0...1).contains(self.guardrail.maxAccuracyDrop) {
            return "the guardrail's thresholds must be 0...1"
        }
        return nil
    }

    /// The version that serves users who are not in the challenger's share: the champion, or after the guardrail
    /// stopped the champion, the challenger.
    public var serving: String { self.stoppedArm == self.champion ? self.challenger : self.champion }

    /// The split of users for `split` mode (the challenger as candidate); all to the champion in `shadow` mode.
    public var split: TrafficSplit {
        TrafficSplit(
            stable: self.champion, candidate: self.mode == .split ? self.challenger : nil,
            candidatePercent: self.mode == .split ? self.percent : 0
        )
    }

    public mutating func recordAnswer(challenger: Bool, ok: Bool, latency: Duration) {
        if challenger {
            self.challengerWindow.record(ok: ok, latency: latency)
        } else {
            self.championWindow.record(ok: ok, latency: latency)
        }
    }

    /// Both arms answered the same request.
    /// - Parameters:
    ///   - agreed: whether their top-1 answers were the same.
    ///   - differences: each output compared (kept with the challenger's window).
    public mutating func recordComparison(agreed: Bool, differences: [String: OutputComparison.Rows] = [:]) {
        self.compared += 1
        if agreed { self.agreed += 1 }
        let scores = differences.values.filter { $0.kind != .labels && $0.kind != .values }.flatMap(\.scoreDifference)
        if !scores.isEmpty { self.scoreDifference.add(scores.reduce(0, +) / Double(scores.count)) }
        self.challengerWindow.recordComparison(differences)
    }

    /// A true label came back for a request an arm answered.
    public mutating func recordFeedback(challenger: Bool, correct: Bool) {
        if challenger {
            self.challengerWindow.recordLabel(correct: correct)
        } else {
            self.championWindow.recordLabel(correct: correct)
        }
        self.judge()
    }

    /// Runs the sequential test on the labels so far; once it names a winner, the winner stays.
    mutating func judge() {
        let a = self.championWindow
        let b = self.challengerWindow
        guard a.labelled >= Self.minimumLabels, b.labelled >= Self.minimumLabels else { return }
        let p = Statistics.alwaysValidPValue(
            successes1: a.correct, trials1: a.labelled, successes2: b.correct, trials2: b.labelled
        )
        self.minimumP = min(self.minimumP, p)
        if self.winner == nil, self.minimumP < self.alpha {
            self.winner = (a.accuracy ?? 0) >= (b.accuracy ?? 0) ? self.champion : self.challenger
            self.decidedAfterLabels = a.labelled + b.labelled
        }
    }

    /// Judges the guardrail (split mode): stops an arm that is significantly worse than the other on errors or
    /// labelled accuracy.
    /// - Parameter now: seconds since 1970.
    /// - Returns: why it stopped an arm, when it did now.
    public mutating func checkGuardrail(now: Double) -> String? {
        guard self.isRunning, self.mode == .split, self.guardrail.enabled else { return nil }
        let rail = self.guardrail
        let alpha = 1 - rail.confidence
        let sides = [
            (self.challenger, self.challengerWindow, self.champion, self.championWindow),
            (self.champion, self.championWindow, self.challenger, self.challengerWindow),
        ]
        for (name, window, otherName, other) in sides {
            if window.requests >= rail.minSamples, other.requests >= rail.minSamples {
                let difference = Statistics.differenceSequence(
                    successes1: window.errors, trials1: window.requests, successes2: other.errors,
                    trials2: other.requests, alpha: alpha
                )
                if difference.low > rail.maxErrorRateIncrease {
                    return self.stopArm(
                        name, now: now,
                        reason: "guardrail: \(name)'s error rate \(Rollout.percent(window.errorRate * 100)) on "
                            + "\(window.requests) requests against \(Rollout.percent(other.errorRate * 100)) for "
                            + "\(otherName) (at most +\(Rollout.percent(rail.maxErrorRateIncrease * 100)))"
                    )
                }
            }
            if window.labelled >= rail.minLabels, other.labelled >= rail.minLabels {
                let difference = Statistics.differenceSequence(
                    successes1: window.correct, trials1: window.labelled, successes2: other.correct,
                    trials2: other.labelled, alpha: alpha
                )
                if difference.high < -rail.maxAccuracyDrop {
                    return self.stopArm(
                        name, now: now,
                        reason: "guardrail: \(name)'s accuracy \(Rollout.percent((window.accuracy ?? 0) * 100)) on "
                            + "\(window.labelled) labels against \(Rollout.percent((other.accuracy ?? 0) * 100)) for "
                            + "\(otherName) (at most \(Rollout.percent(rail.maxAccuracyDrop * 100)) lower)"
                    )
                }
            }
        }
        return nil
    }

    private mutating func stopArm(_ arm: String, now: Double, reason: String) -> String {
        self.stopped = now
        self.stoppedArm = arm
        self.stopReason = "\(reason); \(arm) stopped, \(self.serving) serves everyone"
        return self.stopReason!
    }

    /// The comparison so far.
    public var report: ExperimentReport {
        func arm(_ name: String, _ window: ArmWindow) -> ExperimentReport.Arm {
            let interval =
                window.labelled == 0
                ? nil
                : Statistics.proportionSequence(successes: window.correct, trials: window.labelled, alpha: self.alpha)
            return ExperimentReport.Arm(
                version: name, requests: window.requests, errorRate: window.errorRate,
                p50Milliseconds: window.latency(quantile: 0.5).map(Self.milliseconds),
                p99Milliseconds: window.latency(quantile: 0.99).map(Self.milliseconds),
                labelled: window.labelled, accuracy: window.accuracy, accuracyLow: interval?.low,
                accuracyHigh: interval?.high
            )
        }
        let a = self.championWindow
        let b = self.challengerWindow
        var report = ExperimentReport(
            model: self.model, mode: self.mode, percent: self.percent, champion: arm(self.champion, a),
            challenger: arm(self.challenger, b), compared: self.compared,
            agreement: self.compared == 0 ? nil : Double(self.agreed) / Double(self.compared),
            meanAbsoluteScoreDifference: self.scoreDifference.count == 0 ? nil : self.scoreDifference.mean,
            pValue: nil, winner: self.winner, verdict: "", running: self.isRunning, stoppedArm: self.stoppedArm,
            stopReason: self.stopReason
        )
        guard a.labelled >= Self.minimumLabels, b.labelled >= Self.minimumLabels else {
            report.verdict =
                "too few labelled requests to decide: \(a.labelled) for \(self.champion) and "
                + "\(b.labelled) for \(self.challenger) (at least \(Self.minimumLabels) each)"
            return report
        }
        let difference = Statistics.differenceSequence(
            successes1: a.correct, trials1: a.labelled, successes2: b.correct, trials2: b.labelled, alpha: self.alpha
        )
        report.pValue = self.minimumP
        report.accuracyDifferenceLow = difference.low
        report.accuracyDifferenceHigh = difference.high
        let interval =
            "accuracy difference \(Self.format(difference.estimate)) within "
            + "[\(Self.format(difference.low)), \(Self.format(difference.high))]"
        if let winner = self.winner {
            report.verdict =
                "\(winner) is more accurate (always-valid p = \(Self.format(self.minimumP)), \(interval), "
                + "\(a.labelled) and \(b.labelled) labelled requests)"
        } else {
            report.verdict =
                "no significant difference so far (always-valid p = \(Self.format(self.minimumP)), "
                + "\(interval) after \(a.labelled) and \(b.labelled) labelled requests)"
        }
        return report
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func format(_ value: Double) -> String {
        if value != 0, abs(value) < 0.001 { return value < 0 ? "> -0.001" : "< 0.001" }
        return String((value * 1000).rounded() / 1000)
    }

    enum CodingKeys: String, CodingKey {
        case model, champion, challenger, mode, percent, comparePercent, started, guardrail, alpha, stopped, stopReason
        case stoppedArm, championWindow, challengerWindow, compared, agreed, scoreDifference, winner, decidedAfterLabels
        case minimumP
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.model = try c.decode(String.self, forKey: .model)
        self.champion = try c.decode(String.self, forKey: .champion)
        self.challenger = try c.decode(String.self, forKey: .challenger)
        self.mode = try c.decode(Mode.self, forKey: .mode)
        self.percent = try c.decode(Double.self, forKey: .percent)
        self.comparePercent = try c.decodeIfPresent(Double.self, forKey: .comparePercent) ?? 20
        self.started = try c.decodeIfPresent(Double.self, forKey: .started) ?? 0
        self.guardrail = try c.decodeIfPresent(Guardrail.self, forKey: .guardrail) ?? Guardrail()
        self.alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? 0.05
        self.stopped = try c.decodeIfPresent(Double.self, forKey: .stopped)
        self.stopReason = try c.decodeIfPresent(String.self, forKey: .stopReason)
        self.stoppedArm = try c.decodeIfPresent(String.self, forKey: .stoppedArm)
        self.championWindow = try c.decodeIfPresent(ArmWindow.self, forKey: .championWindow) ?? ArmWindow()
        self.challengerWindow = try c.decodeIfPresent(ArmWindow.self, forKey: .challengerWindow) ?? ArmWindow()
        self.compared = try c.decodeIfPresent(Int.self, forKey: .compared) ?? 0
        self.agreed = try c.decodeIfPresent(Int.self, forKey: .agreed) ?? 0
        self.scoreDifference = try c.decodeIfPresent(Moments.self, forKey: .scoreDifference) ?? Moments()
        self.winner = try c.decodeIfPresent(String.self, forKey: .winner)
        self.decidedAfterLabels = try c.decodeIfPresent(Int.self, forKey: .decidedAfterLabels)
        self.minimumP = try c.decodeIfPresent(Double.self, forKey: .minimumP) ?? 1
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
        /// The accuracy's interval from its 95% confidence sequence.
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
    /// The always-valid p-value of "the arms are equally accurate" (smallest so far), once both arms have enough
    /// labels: valid at whichever look it is read.
    public var pValue: Double?
    /// The confidence sequence's interval of champion accuracy minus challenger accuracy.
    public var accuracyDifferenceLow: Double?
    public var accuracyDifferenceHigh: Double?
    /// The version the sequential test named more accurate, if it did.
    public var winner: String?
    public var verdict: String
    /// Whether it still routes traffic.
    public var running: Bool
    /// The arm the guardrail stopped, and why.
    public var stoppedArm: String?
    public var stopReason: String?

    init(
        model: String, mode: Experiment.Mode, percent: Double, champion: Arm, challenger: Arm, compared: Int,
        agreement: Double?, meanAbsoluteScoreDifference: Double?, pValue: Double?, winner: String?, verdict: String,
        running: Bool, stoppedArm: String?, stopReason: String?
    ) {
        self.model = model
        self.mode = mode
        self.percent = percent
        self.champion = champion
        self.challenger = challenger
        self.compared = compared
        self.agreement = agreement
        self.meanAbsoluteScoreDifference = meanAbsoluteScoreDifference
        self.pValue = pValue
        self.winner = winner
        self.verdict = verdict
        self.running = running
        self.stoppedArm = stoppedArm
        self.stopReason = stopReason
    }

    enum CodingKeys: String, CodingKey {
        case model, mode, percent, champion, challenger, compared, agreement, winner, verdict, running
        case meanAbsoluteScoreDifference = "mean_abs_score_difference"
        case pValue = "p_value"
        case accuracyDifferenceLow = "accuracy_difference_low"
        case accuracyDifferenceHigh = "accuracy_difference_high"
        case stoppedArm = "stopped_arm"
        case stopReason = "stop_reason"
    }
}
