import Testing

@testable import SwitchyardRouting

/// A seeded generator (SplitMix64), so that every simulated run is the same on every machine.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The sequential statistics against peeking: verdicts read after every label.
struct SequentialStatisticsTests {
    /// A split comparison fed `labels` labels, each for a random arm, each right with its arm's accuracy; the
    /// verdict and the guardrail are looked at after every one.
    /// - Returns: after how many labels a winner was named and the guardrail stopped an arm (`nil`: never), and who.
    static func run(
        seed: UInt64, labels: Int, championAccuracy: Double, challengerAccuracy: Double
    ) -> (named: Int?, winner: String?, stopped: Int?, stoppedArm: String?) {
        var random = SeededGenerator(seed: seed)
        var experiment = Experiment(model: "m", champion: "1", challenger: "2", mode: .split, percent: 50, now: 0)
        var named: Int?
        var stopped: Int?
        for index in 0..<labels {
            let challenger = Bool.random(using: &random)
            let accuracy = challenger ? challengerAccuracy : championAccuracy
            experiment.recordAnswer(challenger: challenger, ok: true, latency: .milliseconds(1))
            experiment.recordFeedback(
                challenger: challenger, correct: Double.random(in: 0..<1, using: &random) < accuracy)
            if named == nil, experiment.winner != nil { named = index + 1 }
            if stopped == nil, experiment.checkGuardrail(now: Double(index)) != nil { stopped = index + 1 }
        }
        return (named, experiment.winner, stopped, experiment.stoppedArm)
    }

    @Test(arguments: [0.9, 0.97])
    func twoIdenticalModelsWatchedAfterEveryLabelGetNoWinnerInAtLeast95PercentOfRuns(_ accuracy: Double) {
        let runs = 200
        var named = 0
        var stopped = 0
        for seed in 0..<runs {
            let result = Self.run(
                seed: UInt64(seed), labels: 3_000, championAccuracy: accuracy, challengerAccuracy: accuracy)
            if result.named != nil { named += 1 }
            if result.stopped != nil { stopped += 1 }
        }
        // the mSPRT's guarantee is 5% over an unlimited number of looks; a fixed-sample test read this often would
        // name a winner in about a third of these runs
        #expect(Double(named) / Double(runs) <= 0.05, "a winner was named in \(named) of \(runs) runs")
        #expect(Double(stopped) / Double(runs) <= 0.05, "the guardrail stopped an arm in \(stopped) of \(runs) runs")
    }

    @Test func theFixedSampleTestThisReplacesFailsTheSamePeekingTest() {
        // the old verdict (two-proportion z-test, p < 0.05, 30 labels per arm) read after every label
        var named = 0
        for seed in 0..<200 {
            var random = SeededGenerator(seed: UInt64(seed))
            var counts = [(correct: 0, labelled: 0), (correct: 0, labelled: 0)]
            for _ in 0..<3_000 {
                let arm = Bool.random(using: &random) ? 1 : 0
                counts[arm].labelled += 1
                if Double.random(in: 0..<1, using: &random) < 0.9 { counts[arm].correct += 1 }
                guard counts[0].labelled >= 30, counts[1].labelled >= 30 else { continue }
                let test = FixedSampleTest.twoProportionZTest(
                    successes1: counts[0].correct, trials1: counts[0].labelled, successes2: counts[1].correct,
                    trials2: counts[1].labelled
                )
                if test.p < 0.05 {
                    named += 1
                    break
                }
            }
        }
        #expect(named > 30, "the fixed-sample test named a winner in only \(named) of 200 runs")
    }

    @Test func theBetterOfModels97And64PercentAccurateIsNamedAndTheWorseArmStopped() {
        for seed in 0..<50 {
            let result = Self.run(seed: UInt64(seed), labels: 1_000, championAccuracy: 0.64, challengerAccuracy: 0.97)
            #expect(result.winner == "2", "seed \(seed)")
            #expect((result.named ?? .max) < 400, "seed \(seed): named after \(result.named ?? -1) labels")
            #expect(result.stoppedArm == "1", "seed \(seed)")
            let other = Self.run(seed: UInt64(seed), labels: 1_000, championAccuracy: 0.97, challengerAccuracy: 0.64)
            #expect(other.winner == "1" && other.stoppedArm == "2", "seed \(seed)")
        }
    }

    @Test func aRolloutAccuracyGateWatchedAfterEveryLabelRarelyFailsAnEqualCandidateAndCatchesAWorseOne() {
        var gates = RolloutGates()
        gates.minLabels = 30
        var failedEqual = 0
        for seed in 0..<200 {
            var random = SeededGenerator(seed: UInt64(seed))
            var stable = ArmWindow()
            var candidate = ArmWindow()
            for _ in 0..<2_000 {
                // a 10% step: one label in ten is the candidate's
                if Double.random(in: 0..<1, using: &random) < 0.1 {
                    candidate.recordLabel(correct: Double.random(in: 0..<1, using: &random) < 0.9)
                } else {
                    stable.recordLabel(correct: Double.random(in: 0..<1, using: &random) < 0.9)
                }
                if Rollout.failedGate(gates, stable: stable, candidate: candidate) != nil {
                    failedEqual += 1
                    break
                }
            }
        }
        #expect(failedEqual <= 10, "an equal candidate failed the accuracy gate in \(failedEqual) of 200 runs")
        var random = SeededGenerator(seed: 7)
        var stable = ArmWindow()
        var candidate = ArmWindow()
        var failure: String?
        while failure == nil, candidate.labelled < 1_000 {
            candidate.recordLabel(correct: Double.random(in: 0..<1, using: &random) < 0.64)
            for _ in 0..<9 { stable.recordLabel(correct: Double.random(in: 0..<1, using: &random) < 0.97) }
            failure = Rollout.failedGate(gates, stable: stable, candidate: candidate)
        }
        #expect(failure?.hasPrefix("accuracy") == true, "\(failure ?? "passed")")
        #expect(candidate.labelled < 100, "it took \(candidate.labelled) of the candidate's labels")
    }

    @Test(arguments: [0.3, 0.05, 0.9])
    func aProportionsConfidenceSequenceCoversTheTruthAtEveryLook(_ rate: Double) {
        // watched for 2,000 observations: the sequence excludes the true rate at some look in few runs
        var missed = 0
        let limit = Statistics.log(1 / 0.05)
        for seed in 0..<200 {
            var random = SeededGenerator(seed: UInt64(seed) + 1_000)
            var successes = 0
            for trial in 1...2_000 {
                if Double.random(in: 0..<1, using: &random) < rate { successes += 1 }
                if Statistics.logMixtureRatio(successes: successes, trials: trial, at: rate) >= limit {
                    missed += 1
                    break
                }
            }
        }
        #expect(missed <= 10, "\(missed) of 200")
    }

    @Test func aProportionsIntervalNarrowsWithEvidenceAndHoldsItsEstimate() {
        let early = Statistics.proportionSequence(successes: 3, trials: 10, alpha: 0.05)
        let late = Statistics.proportionSequence(successes: 300, trials: 1_000, alpha: 0.05)
        #expect(early.low < 0.3 && early.high > 0.3 && late.low < 0.3 && late.high > 0.3)
        #expect(late.high - late.low < (early.high - early.low) / 3)
        #expect(
            Statistics.proportionSequence(successes: 0, trials: 0, alpha: 0.05) == .init(estimate: 0, low: 0, high: 1))
        let none = Statistics.proportionSequence(successes: 0, trials: 50, alpha: 0.05)
        #expect(none.low == 0 && none.high > 0 && none.high < 0.15)
        let all = Statistics.proportionSequence(successes: 20, trials: 20, alpha: 0.05)
        #expect(all.high == 1 && all.low > 0.6)
    }

    @Test func logGammaMatchesKnownValues() {
        #expect(abs(Statistics.logGamma(1)) < 1e-13 && abs(Statistics.logGamma(2)) < 1e-13)
        #expect(abs(Statistics.logGamma(10) - 12.801827480081469) < 1e-11)  // ln 9!
        #expect(abs(Statistics.logGamma(0.5) - 0.5723649429247001) < 1e-12)  // ln √π
        #expect(abs(Statistics.logGamma(1e6 + 1) - 12_815_518.384658169) < 1e-5)  // ln 1e6!
    }

    @Test func theLogarithmMatchesKnownValues() {
        #expect(abs(Statistics.log(1)) < 1e-15)
        #expect(abs(Statistics.log(2.718281828459045) - 1) < 1e-14)
        #expect(abs(Statistics.log(1e-10) + 23.025850929940457) < 1e-12)
        #expect(abs(Statistics.log(12345.678) - 9.421061321291832) < 1e-12)
        #expect(Statistics.log(0) == -.infinity && Statistics.log(-1).isNaN)
    }

    @Test func alwaysValidPValuesOfClearAndEqualArms() {
        #expect(Statistics.alwaysValidPValue(successes1: 97, trials1: 100, successes2: 64, trials2: 100) < 0.001)
        #expect(Statistics.alwaysValidPValue(successes1: 90, trials1: 100, successes2: 90, trials2: 100) == 1)
        #expect(Statistics.alwaysValidPValue(successes1: 1, trials1: 0, successes2: 0, trials2: 5) == 1)
    }
}
