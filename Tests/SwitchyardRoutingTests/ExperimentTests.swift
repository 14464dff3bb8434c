import Testing

@testable import SwitchyardRouting

struct StatisticsTests {
    @Test func normalCDFMatchesTables() {
        #expect(abs(Statistics.normalCDF(0) - 0.5) < 1e-7)
        #expect(abs(Statistics.normalCDF(1.959964) - 0.975) < 1e-6)
        #expect(abs(Statistics.normalCDF(-1) - 0.158655) < 1e-6)
        #expect(abs(Statistics.normalCDF(3) - 0.998650) < 1e-6)
        #expect(abs(Statistics.exp(1) - 2.718281828459045) < 1e-12)
        #expect(abs(Statistics.exp(-5.5) - 0.004086771438464067) < 1e-15)
    }

    @Test func twoProportionZTestMatchesAWorkedExample() {
        // 90/100 against 80/100: pooled 0.85, z = 0.1 / sqrt(0.85 · 0.15 · 0.02) = 1.980, p = 0.0477
        let test = Statistics.twoProportionZTest(successes1: 90, trials1: 100, successes2: 80, trials2: 100)
        #expect(abs(test.z - 1.9803) < 1e-3)
        #expect(abs(test.p - 0.0477) < 1e-3)
        #expect(Statistics.twoProportionZTest(successes1: 50, trials1: 50, successes2: 50, trials2: 50).p == 1)
    }

    @Test func wilsonIntervalAndSampleSize() {
        let interval = Statistics.wilsonInterval(successes: 81, trials: 100)  // 0.7222 ... 0.8749
        #expect(abs(interval.low - 0.7222) < 1e-3 && abs(interval.high - 0.8749) < 1e-3)
        #expect(Statistics.sampleSizePerArm(accuracy1: 0.9, accuracy2: 0.8) == 197)  // (1.96 + 0.8416)² · (0.09 + 0.16) / 0.1²
        #expect(Statistics.sampleSizePerArm(accuracy1: 0.9, accuracy2: 0.9) == nil)
    }
}

struct ExperimentTests {
    static func experiment(championCorrect: Int, challengerCorrect: Int, labelled: Int) -> Experiment {
        var experiment = Experiment(model: "digits", champion: "1", challenger: "4", mode: .shadow, percent: 100, now: 0)
        for index in 0..<labelled {
            experiment.recordFeedback(challenger: false, correct: index < championCorrect)
            experiment.recordFeedback(challenger: true, correct: index < challengerCorrect)
        }
        return experiment
    }

    @Test func aClearlyBetterArmIsNamedWithItsPValue() {
        let report = Self.experiment(championCorrect: 196, challengerCorrect: 156, labelled: 200).report
        #expect(report.winner == "1")
        #expect((report.pValue ?? 1) < 0.05)
        #expect(report.verdict.hasPrefix("1 is more accurate"))
        #expect(report.champion.accuracy == 0.98 && report.challenger.accuracy == 0.78)
        #expect((report.champion.accuracyLow ?? 1) < 0.98 && (report.champion.accuracyHigh ?? 0) > 0.98)
    }

    @Test func equalArmsAndSmallSamplesNameNoWinner() {
        let equal = Self.experiment(championCorrect: 180, challengerCorrect: 179, labelled: 200).report
        #expect(equal.winner == nil && equal.verdict.hasPrefix("no significant difference"))
        let small = Self.experiment(championCorrect: 20, challengerCorrect: 5, labelled: 20).report
        #expect(small.winner == nil && small.verdict.hasPrefix("too few labelled requests"))
    }

    @Test func agreementAndScoreDifference() {
        var experiment = Experiment(model: "digits", champion: "1", challenger: "2", mode: .split, percent: 50, now: 0)
        #expect(experiment.split.candidatePercent == 50)
        experiment.recordComparison(agreed: true, meanAbsoluteScoreDifference: 0.1)
        experiment.recordComparison(agreed: false, meanAbsoluteScoreDifference: 0.3)
        experiment.recordAnswer(challenger: true, ok: false, latency: .milliseconds(1))
        let report = experiment.report
        #expect(report.agreement == 0.5 && abs((report.meanAbsoluteScoreDifference ?? 0) - 0.2) < 1e-12)
        #expect(report.challenger.errorRate == 1)
        #expect(Experiment(model: "m", champion: "1", challenger: "1", mode: .split, percent: 5, now: 0).problem != nil)
        #expect(Experiment(model: "m", champion: "1", challenger: "2", mode: .shadow, percent: 100, now: 0).split == TrafficSplit(stable: "1"))
    }
}
