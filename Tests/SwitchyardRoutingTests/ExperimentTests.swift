import Foundation
import Testing

@testable import SwitchyardRouting

/// The fixed-sample test the A/B verdict used before it was sequential: kept here only to show, in
/// `SequentialStatisticsTests`, what peeking does to it.
enum FixedSampleTest {
    /// The standard normal CDF, through erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).
    static func normalCDF(_ x: Double) -> Double {
        let z = abs(x) / 2.0.squareRoot()
        let t = 1 / (1 + 0.3275911 * z)
        let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
        let erf = 1 - poly * Statistics.exp(-z * z)
        return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf)
    }

    /// Two-sided two-proportion z-test with the pooled variance.
    static func twoProportionZTest(
        successes1: Int, trials1: Int, successes2: Int, trials2: Int
    ) -> (z: Double, p: Double) {
        let n1 = Double(trials1)
        let n2 = Double(trials2)
        let pooled = Double(successes1 + successes2) / (n1 + n2)
        let standardError = (pooled * (1 - pooled) * (1 / n1 + 1 / n2)).squareRoot()
        guard standardError > 0 else { return (0, 1) }
        let z = (Double(successes1) / n1 - Double(successes2) / n2) / standardError
        return (z, 2 * (1 - Self.normalCDF(abs(z))))
    }
}

struct StatisticsTests {
    @Test func theExponentialMatchesKnownValues() {
        #expect(abs(Statistics.exp(1) - 2.718281828459045) < 1e-12)
        #expect(abs(Statistics.exp(-5.5) - 0.004086771438464067) < 1e-15)
        #expect(Statistics.exp(-800) == 0 && Statistics.exp(800) == .infinity)
    }

    @Test func theFixedSampleZTestMatchesAWorkedExample() {
        // 90/100 against 80/100: pooled 0.85, z = 0.1 / sqrt(0.85 · 0.15 · 0.02) = 1.980, p = 0.0477
        let test = FixedSampleTest.twoProportionZTest(successes1: 90, trials1: 100, successes2: 80, trials2: 100)
        #expect(abs(test.z - 1.9803) < 1e-3)
        #expect(abs(test.p - 0.0477) < 1e-3)
    }
}

struct ExperimentTests {
    static func experiment(championCorrect: Int, challengerCorrect: Int, labelled: Int) -> Experiment {
        var experiment = Experiment(
            model: "digits", champion: "1", challenger: "4", mode: .shadow, percent: 100, now: 0)
        for index in 0..<labelled {
            experiment.recordFeedback(challenger: false, correct: index < championCorrect)
            experiment.recordFeedback(challenger: true, correct: index < challengerCorrect)
        }
        return experiment
    }

    @Test func aClearlyBetterArmIsNamedWithItsAlwaysValidPValue() {
        let report = Self.experiment(championCorrect: 196, challengerCorrect: 156, labelled: 200).report
        #expect(report.winner == "1")
        #expect((report.pValue ?? 1) < 0.05)
        #expect(report.verdict.hasPrefix("1 is more accurate (always-valid p"), "\(report.verdict)")
        #expect(report.champion.accuracy == 0.98 && report.challenger.accuracy == 0.78)
        #expect((report.champion.accuracyLow ?? 1) < 0.98 && (report.champion.accuracyHigh ?? 0) > 0.98)
        #expect((report.accuracyDifferenceLow ?? 0) > 0 && (report.accuracyDifferenceHigh ?? 0) < 0.4)
    }

    @Test func equalArmsAndSmallSamplesNameNoWinner() {
        let equal = Self.experiment(championCorrect: 180, challengerCorrect: 179, labelled: 200).report
        #expect(equal.winner == nil && equal.verdict.hasPrefix("no significant difference"), "\(equal.verdict)")
        let small = Self.experiment(championCorrect: 20, challengerCorrect: 5, labelled: 20).report
        #expect(small.winner == nil && small.verdict.hasPrefix("too few labelled requests"))
    }

    @Test func aWinnerOnceNamedStaysNamed() {
        var experiment = Self.experiment(championCorrect: 196, challengerCorrect: 156, labelled: 200)
        #expect(experiment.winner == "1")
        // the challenger then does better for a while: a sequential test that has stopped does not change its mind
        for _ in 0..<100 {
            experiment.recordFeedback(challenger: false, correct: false)
            experiment.recordFeedback(challenger: true, correct: true)
        }
        #expect(experiment.winner == "1")
    }

    @Test func agreementScoreDifferenceAndOutputs() {
        var experiment = Experiment(model: "digits", champion: "1", challenger: "2", mode: .split, percent: 50, now: 0)
        #expect(experiment.split.candidatePercent == 50)
        var scores = OutputComparison.Rows(kind: .probabilities, rows: 1)
        scores.scoreDifference = [0.1]
        experiment.recordComparison(agreed: true, differences: ["p": scores])
        scores.scoreDifference = [0.3]
        scores.disagreed = 1
        experiment.recordComparison(agreed: false, differences: ["p": scores])
        experiment.recordAnswer(challenger: true, ok: false, latency: .milliseconds(1))
        let report = experiment.report
        #expect(report.agreement == 0.5 && abs((report.meanAbsoluteScoreDifference ?? 0) - 0.2) < 1e-12)
        #expect(report.challenger.errorRate == 1)
        #expect(experiment.challengerWindow.outputs["p"]?.disagreed == 1)
        #expect(Experiment(model: "m", champion: "1", challenger: "1", mode: .split, percent: 5, now: 0).problem != nil)
        #expect(
            Experiment(model: "m", champion: "1", challenger: "2", mode: .shadow, percent: 100, now: 0).split
                == TrafficSplit(stable: "1"))
    }

    @Test func theGuardrailStopsAnArmWithManyMoreErrorsOnlyInSplitMode() {
        var split = Experiment(model: "m", champion: "1", challenger: "2", mode: .split, percent: 50, now: 0)
        var shadow = Experiment(model: "m", champion: "1", challenger: "2", mode: .shadow, percent: 100, now: 0)
        var stopped: String?
        for index in 0..<100 where stopped == nil {
            split.recordAnswer(challenger: false, ok: true, latency: .milliseconds(1))
            split.recordAnswer(challenger: true, ok: index % 2 == 0, latency: .milliseconds(1))
            shadow.recordAnswer(challenger: true, ok: false, latency: .milliseconds(1))
            shadow.recordAnswer(challenger: false, ok: true, latency: .milliseconds(1))
            stopped = split.checkGuardrail(now: Double(index))
            #expect(shadow.checkGuardrail(now: Double(index)) == nil)
        }
        #expect(stopped?.contains("guardrail: 2's error rate 50%") == true, "\(stopped ?? "not stopped")")
        #expect(!split.isRunning && split.stoppedArm == "2" && split.serving == "1")
        #expect(split.report.stopReason == stopped && split.report.running == false)
    }

    @Test func anExperimentSurvivesEncodingWithItsEvidence() throws {
        var experiment = Self.experiment(championCorrect: 196, challengerCorrect: 156, labelled: 200)
        experiment.recordAnswer(challenger: true, ok: true, latency: .microseconds(1234))
        let data = try JSONEncoder().encode(experiment)
        let decoded = try JSONDecoder().decode(Experiment.self, from: data)
        #expect(decoded.championWindow == experiment.championWindow)
        #expect(decoded.challengerWindow == experiment.challengerWindow)
        #expect(decoded.winner == "1" && decoded.minimumP == experiment.minimumP)
        #expect(decoded.report.verdict == experiment.report.verdict)
    }
}
