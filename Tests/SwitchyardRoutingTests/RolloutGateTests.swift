import Foundation
import SwitchyardTensor
import Testing

@testable import SwitchyardRouting

/// Output-level comparisons, the gates on every output, accuracy and drift, and the plan's pauses, webhooks and
/// metric gates, on the rollout's state machine.
struct RolloutGateTests {
    /// A digits-like answer: `label` and `probabilities` for each row's distribution.
    static func classifier(_ distributions: [[Float]], labels: [Int64]? = nil) throws -> [NamedTensor] {
        let argmax = distributions.map { row in Int64(row.indices.max { row[$0] < row[$1] }!) }
        return [
            NamedTensor("label", try Tensor(labels ?? argmax, shape: [distributions.count])),
            NamedTensor(
                "probabilities",
                try Tensor(distributions.flatMap { $0 }, shape: [distributions.count, distributions[0].count])),
        ]
    }

    static func confident(_ label: Int, classes: Int = 10) -> [Float] {
        (0..<classes).map { $0 == label ? 0.91 : 0.01 }
    }

    @Test func permutedProbabilitiesWithIntactLabelsAreSeenOnTheProbabilitiesOutput() throws {
        let rows = (0..<8).map { Self.confident($0) }
        let permuted = (0..<8).map { Self.confident(($0 + 3) % 10) }
        let stable = try Self.classifier(rows)
        // the candidate's label output is the old model's; its probabilities point elsewhere
        let candidate = try Self.classifier(permuted, labels: (0..<8).map(Int64.init))
        let differences = OutputComparison.compare(stable: stable, candidate: candidate)
        #expect(differences["label"]?.disagreed == 0 && differences["label"]?.kind == .labels)
        let probabilities = try #require(differences["probabilities"])
        #expect(probabilities.kind == .probabilities && probabilities.disagreed == 8 && probabilities.rows == 8)
        #expect(probabilities.jensenShannon.allSatisfy { $0 > 0.5 })
        #expect(probabilities.scoreDifference.allSatisfy { abs($0 - 0.18) < 1e-6 })
        // with the default gates the rollout fails at its first judgement with enough rows
        var window = ArmWindow()
        for _ in 0..<3 { window.recordComparison(differences) }
        for _ in 0..<30 { window.record(ok: true, latency: .milliseconds(1)) }
        let failure = Rollout.failedGate(RolloutGates(), stable: window, candidate: window)
        #expect(
            failure?.contains("top-1 of 'probabilities' differs from stable's on 100% of 24") == true,
            "\(failure ?? "passed")")
    }

    @Test func regressionOutputsAreJudgedOnTheirRelativeDifference() throws {
        let truth: [Float] = (1...40).map { Float($0) * 2.5 }
        let stable = [NamedTensor("variable", try Tensor(truth, shape: [40, 1]))]
        let biased = [NamedTensor("variable", try Tensor(truth.map { $0 * 1.2 }, shape: [40, 1]))]
        let equal = [NamedTensor("variable", try Tensor(truth.map { $0 * 1.001 }, shape: [40, 1]))]
        let differences = OutputComparison.compare(stable: stable, candidate: biased)
        let rows = try #require(differences["variable"])
        #expect(rows.kind == .values && rows.rows == 40)
        #expect(rows.relativeDifference.allSatisfy { abs($0 - 0.2 / 1.1) < 1e-5 })
        var bad = ArmWindow()
        bad.recordComparison(differences)
        let failure = Rollout.failedGate(RolloutGates(), stable: ArmWindow(), candidate: bad)
        #expect(
            failure?.contains("values of 'variable' differ from stable's by 18.18%") == true, "\(failure ?? "passed")")
        #expect(failure?.contains("bias +18.18%") == true)
        var good = ArmWindow()
        good.recordComparison(OutputComparison.compare(stable: stable, candidate: equal))
        #expect(Rollout.failedGate(RolloutGates(), stable: ArmWindow(), candidate: good) == nil)
        // a per-output threshold replaces the default for that output only
        var gates = RolloutGates()
        gates.outputs["variable"] = OutputGate(maxRelativeDifference: 0.5)
        #expect(Rollout.failedGate(gates, stable: ArmWindow(), candidate: bad) == nil)
        gates.outputs["variable"] = OutputGate(ignore: true)
        #expect(Rollout.failedGate(gates, stable: ArmWindow(), candidate: bad) == nil)
    }

    @Test func outputsOfAnotherShapeOrTypeDisagreeOnEveryRow() throws {
        let stable = [NamedTensor("label", try Tensor([Int64(1), 2], shape: [2]))]
        let other = [NamedTensor("label", try Tensor([Float(1), 2], shape: [2]))]
        #expect(OutputComparison.compare(stable: stable, candidate: other)["label"]?.disagreed == 2)
        let scores = [NamedTensor("scores", try Tensor([Float](repeating: 1, count: 6), shape: [2, 3]))]
        let narrower = [NamedTensor("scores", try Tensor([Float](repeating: 1, count: 4), shape: [2, 2]))]
        let rows = OutputComparison.compare(stable: scores, candidate: narrower)["scores"]
        #expect(rows?.kind == .scores && rows?.disagreed == 2)
        // an output the candidate lacks is not compared; a forced kind wins over the data's look
        #expect(OutputComparison.compare(stable: scores, candidate: []).isEmpty)
        let forced = OutputComparison.compare(stable: scores, candidate: scores, kinds: ["scores": .values])
        #expect(forced["scores"]?.kind == .values && forced["scores"]?.relativeDifference == [0, 0])
        #expect(OutputComparison.classes(try Self.classifier([Self.confident(4), Self.confident(7)])) == [4, 7])
        #expect(OutputComparison.classes(scores) == [0, 0])
    }

    @Test func aWorseAccuracyFailsTheAccuracyGateAndAnEqualOneDoesNot() {
        var stable = ArmWindow()
        var worse = ArmWindow()
        var equal = ArmWindow()
        for index in 0..<200 {
            stable.recordLabel(correct: index % 100 < 97)
            worse.recordLabel(correct: index % 100 < 64)
            equal.recordLabel(correct: index % 100 < 96)
        }
        let failure = Rollout.failedGate(RolloutGates(), stable: stable, candidate: worse)
        #expect(
            failure?.hasPrefix("accuracy 64% on 200 labels against 97% on 200 for stable") == true,
            "\(failure ?? "passed")")
        #expect(Rollout.failedGate(RolloutGates(), stable: stable, candidate: equal) == nil)
    }

    @Test func aShiftOfPredictedClassesFailsTheDriftGateAndSamplingNoiseDoesNot() {
        var stable = ArmWindow()
        var same = ArmWindow()
        var shifted = ArmWindow()
        var random = SeededGenerator(seed: 3)
        for _ in 0..<400 {
            stable.recordPredictions([Int64.random(in: 0..<10, using: &random)])
            same.recordPredictions([Int64.random(in: 0..<10, using: &random)])
            // half of its answers are class 0
            shifted.recordPredictions([Bool.random(using: &random) ? 0 : Int64.random(in: 0..<10, using: &random)])
        }
        #expect(Rollout.failedGate(RolloutGates(), stable: stable, candidate: same) == nil)
        let failure = Rollout.failedGate(RolloutGates(), stable: stable, candidate: shifted)
        #expect(failure?.contains("predicted classes shifted") == true, "\(failure ?? "passed")")
    }

    static func plan(_ steps: String) -> RolloutPlan {
        var plan = RolloutPlan()
        let parsed = RolloutPlan.parseSteps(steps)!
        plan.steps = parsed.steps
        plan.pauses = parsed.pauses
        plan.stepSeconds = 10
        plan.minRequestsPerStep = 20
        plan.shadowPercent = 0
        plan.testers = Testers(routingKeys: ["alice"])
        return plan
    }

    static func requests(_ count: Int) -> ArmWindow {
        var window = ArmWindow()
        for _ in 0..<count { window.record(ok: true, latency: .milliseconds(1)) }
        return window
    }

    @Test func pausesWaitForApprovalWhileTheGatesStillJudge() {
        let plan = Self.plan("0,pause,50,100,pause")
        #expect(plan.problem == nil)
        #expect(plan.steps == [0, 50, 100] && plan.pauses == [1, 3])
        #expect(plan.stepsDescription == "0% → pause → 50% → 100% → pause")
        var rollout = Rollout(model: "m", stable: "1", candidate: "2", plan: plan, now: 0)
        #expect(rollout.split.candidatePercent == 0)
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 11)
            #expect(changed)
        }
        #expect(rollout.phase == .waiting && rollout.reason == "waiting for approval before step 2 of 3 (50%)")
        #expect(rollout.split.candidatePercent == 0)
        // waiting: time passes, nothing moves without approval
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 100)
            #expect(!changed)
        }
        do {
            let changed = rollout.approve(now: 101)
            #expect(changed && rollout.phase == .progressing && rollout.split.candidatePercent == 50)
        }
        do {
            let changed = rollout.approve(now: 102)
            #expect(!changed)
        }
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 112)
            #expect(changed)
        }
        #expect(rollout.split.candidatePercent == 100)
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 123)
            #expect(changed)
        }
        #expect(rollout.phase == .waiting && rollout.reason == "waiting for approval before promotion")
        // a failure while waiting still rolls back
        var failing = rollout
        var broken = ArmWindow()
        for _ in 0..<30 { broken.record(ok: false, latency: .milliseconds(1)) }
        do {
            let changed = failing.evaluate(stable: Self.requests(100), candidate: broken, now: 124)
            #expect(changed && failing.phase == .rolledBack)
        }
        do {
            let changed = rollout.approve(now: 130)
            #expect(changed && rollout.phase == .promoted && rollout.split == TrafficSplit(stable: "2"))
        }
        #expect(rollout.history.last?.message == "approved by an operator; promoted: 2 is the stable version")
    }

    @Test func plansWithBadPausesOrAZeroStepWithoutTestersAreRefused() {
        var plan = Self.plan("pause,5,100")
        #expect(plan.problem?.contains("a pause must come after a step") == true)
        plan = Self.plan("0,100")
        plan.testers = Testers()
        #expect(plan.problem?.contains("serves nobody") == true)
        #expect(RolloutPlan.parseSteps("5,later,100") == nil)
        plan = Self.plan("5,100")
        plan.gates.metrics = [MetricGate(name: "errors", query: "up")]
        #expect(plan.problem?.contains("needs max or min") == true)
        plan.gates.metrics = []
        plan.gates.webhooks = ["https://example.com"]
        #expect(plan.problem?.contains("http://") == true)
    }

    @Test func webhookGatesConfirmRefuseOrRollBackWhenUnreachable() {
        var plan = Self.plan("50,100")
        plan.gates.webhooks = ["http://127.0.0.1:9/check"]
        var rollout = Rollout(model: "m", stable: "1", candidate: "2", plan: plan, now: 0)
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 11)
            #expect(changed)
        }
        #expect(rollout.needsConfirmation && rollout.step == 0)
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 12)
            #expect(!changed)  // asks once
        }
        do {
            let changed = rollout.confirm(now: 13)
            #expect(changed && rollout.step == 1 && !rollout.needsConfirmation)
        }
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 24)
            #expect(changed && rollout.needsConfirmation)
        }
        var refused = rollout
        do {
            let changed = refused.refuse("webhook http://127.0.0.1:9/check answered 409: not today", now: 25)
            #expect(changed)
        }
        #expect(refused.phase == .rolledBack && refused.reason?.contains("409") == true)
        do {
            let changed = rollout.webhookUnreachable("webhook unreachable", now: 25)
            #expect(!changed)
        }
        do {
            let changed = rollout.webhookUnreachable("webhook unreachable", now: 26)
            #expect(!changed)
        }
        do {
            let changed = rollout.webhookUnreachable("webhook unreachable", now: 27)
            #expect(changed && rollout.phase == .rolledBack)
        }
        #expect(rollout.reason == "webhook unreachable (3 times in a row)")
    }

    @Test func metricGatesFailOnTheirThresholdAndHoldTheStepWithoutAValue() {
        var plan = Self.plan("50,100")
        plan.gates.metrics = [MetricGate(name: "p99", query: "histogram_quantile(0.99, rate(x[$window]))", max: 0.25)]
        #expect(
            plan.gates.metrics[0].query(age: 4.2, model: "m", stable: "1", candidate: "2")
                == "histogram_quantile(0.99, rate(x[10s]))")
        #expect(plan.gates.metrics[0].query(age: 42.2, model: "m", stable: "1", candidate: "2").contains("[43s]"))
        var rollout = Rollout(model: "m", stable: "1", candidate: "2", plan: plan, now: 0)
        // no value yet: the step cannot end, and says why once
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 11)
            #expect(changed)
        }
        #expect(rollout.holding == "the step waits for a value of metric 'p99'" && rollout.step == 0)
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: Self.requests(30), now: 12)
            #expect(!changed)
        }
        do {
            let changed = rollout.evaluate(
                stable: Self.requests(100), candidate: Self.requests(30), metrics: ["p99": 0.1], now: 13)
            #expect(changed)
        }
        #expect(rollout.step == 1 && rollout.holding == nil)
        do {
            let changed = rollout.evaluate(
                stable: Self.requests(100), candidate: Self.requests(5), metrics: ["p99": 0.3], now: 14)
            #expect(changed)
        }
        #expect(
            rollout.phase == .rolledBack && rollout.reason == "metric 'p99' = 0.3 over the step's 1 s (at most 0.25)")
    }

    @Test func aStepWithShadowScoringWaitsForEnoughComparisonsBeforeItPasses() {
        var plan = Self.plan("50,100")
        plan.shadowPercent = 20
        var rollout = Rollout(model: "m", stable: "1", candidate: "2", plan: plan, now: 0)
        var candidate = Self.requests(30)
        for _ in 0..<10 { candidate.recordComparison(["label": OutputComparison.Rows(kind: .labels, rows: 1)]) }
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: candidate, now: 11)
            #expect(changed && rollout.step == 0)
        }
        #expect(rollout.holding == "the step waits for 20 shadow-scored requests to compare outputs")
        for _ in 0..<10 { candidate.recordComparison(["label": OutputComparison.Rows(kind: .labels, rows: 1)]) }
        do {
            let changed = rollout.evaluate(stable: Self.requests(100), candidate: candidate, now: 12)
            #expect(changed && rollout.step == 1 && rollout.holding == nil)
        }
    }

    @Test func testersAreMatchedByRoutingKeyOrParameters() {
        let testers = Testers(routingKeys: ["alice"], parameters: ["tester": "yes", "team": "ml"])
        #expect(testers.matches(routingKey: "alice") { _ in nil })
        #expect(!testers.matches(routingKey: "bob") { _ in nil })
        #expect(testers.matches(routingKey: "") { ["tester": "yes", "team": "ml"][$0] })
        #expect(!testers.matches(routingKey: "") { ["tester": "yes"][$0] })
        #expect(!Testers().matches(routingKey: "") { _ in nil })
    }

    @Test func aRolloutAndItsWindowsSurviveEncodingAndOldStateStillReads() throws {
        var window = ArmWindow()
        window.record(ok: true, latency: .microseconds(1500))
        window.record(ok: false, latency: .microseconds(10))
        window.recordLabel(correct: true)
        window.recordPredictions([3, 3, 1])
        window.recordComparison(
            OutputComparison.compare(
                stable: try Self.classifier([Self.confident(1)]), candidate: try Self.classifier([Self.confident(2)])
            ))
        let decoded = try JSONDecoder().decode(ArmWindow.self, from: try JSONEncoder().encode(window))
        #expect(decoded == window)
        // within the histogram's 1%
        let (before, after) = (window.latency(quantile: 0.5)!, decoded.latency(quantile: 0.5)!)
        #expect(abs(Double((after - before) / .microseconds(1))) <= 0.01 * Double(before / .microseconds(1)))
        // a rollout written before pauses, testers and the new gates existed
        let old = """
            {"model":"digits","stable":"1","candidate":"2","phase":"progressing","step":1,"stepStarted":10,
             "history":[],"plan":{"steps":[10,50,100],"stepSeconds":5,"minRequestsPerStep":50,"shadowPercent":20,
             "gates":{"maxErrorRateIncrease":0.01,"maxLatencyRatio":2,"maxDisagreement":0.1,"minSamples":20,
             "minLatencySamples":100,"latencyToleranceMilliseconds":2}}}
            """
        let rollout = try JSONDecoder().decode(Rollout.self, from: Data(old.utf8))
        #expect(rollout.step == 1 && rollout.plan.pauses.isEmpty && rollout.plan.gates.maxJensenShannon == 0.05)
        #expect(rollout.split.candidatePercent == 50)
        let broken = old.replacingOccurrences(of: "\"step\":1", with: "\"step\":7")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Rollout.self, from: Data(broken.utf8)) }
    }
}
