import Testing

@testable import SwitchyardRouting

struct TrafficSplitTests {
    @Test func assignmentIsStickyAndRaisingTheWeightOnlyMovesUsersToTheCandidate() {
        var random = SystemRandomNumberGenerator()
        let users = (0..<5_000).map { "user-\($0)" }
        var previous = Set<String>()
        for percent in [5.0, 25, 50, 100] {
            let split = TrafficSplit(stable: "1", candidate: "2", candidatePercent: percent)
            let onCandidate = Set(users.filter { split.version(for: $0, using: &random) == "2" })
            #expect(previous.isSubset(of: onCandidate))  // nobody flips back
            #expect(
                abs(Double(onCandidate.count) / Double(users.count) * 100 - percent) < 2.5,
                "\(percent)%: \(onCandidate.count)")
            // the same answer every time, and from any other split object (another router)
            #expect(
                users.allSatisfy { split.version(for: $0, using: &random) == (onCandidate.contains($0) ? "2" : "1") })
            previous = onCandidate
        }
    }

    @Test func bucketsAreTheSameInEveryProcess() {
        // FNV-1a 64: fixed values, so that routers of any build agree
        #expect(TrafficSplit.bucket(of: "") == Int(UInt64(0xcbf2_9ce4_8422_2325) % 10_000))
        #expect(TrafficSplit.bucket(of: "user-1") == TrafficSplit.bucket(of: "user-1"))
        #expect(TrafficSplit.bucket(of: "a") == Int(UInt64(0xaf63_dc4c_8601_ec8c) % 10_000))
    }

    @Test func requestsWithoutAKeyFollowTheWeightAtRandom() {
        var random = SystemRandomNumberGenerator()
        let split = TrafficSplit(stable: "1", candidate: "2", candidatePercent: 25)
        let share = (0..<20_000).filter { _ in split.version(for: "", using: &random) == "2" }.count
        #expect(abs(Double(share) / 20_000 - 0.25) < 0.02)
        #expect(TrafficSplit(stable: "1").version(for: "x", using: &random) == "1")
    }
}

struct ArmWindowTests {
    @Test func quantilesAreWithinOnePercent() throws {
        var window = ArmWindow()
        for micros in 1...1000 { window.record(ok: true, latency: .microseconds(micros * 10)) }
        window.record(ok: false, latency: .seconds(5))  // failures are counted, not timed
        #expect(window.requests == 1001 && window.errors == 1 && window.latencySamples == 1000)
        let p50 = try #require(window.latency(quantile: 0.5))
        let p99 = try #require(window.latency(quantile: 0.99))
        #expect(p50 >= .microseconds(4950) && p50 <= .microseconds(5050), "\(p50)")
        #expect(p99 >= .microseconds(9800) && p99 <= .microseconds(10000), "\(p99)")
        #expect(ArmWindow().latency(quantile: 0.99) == nil)
    }
}

struct RolloutTests {
    static func plan() -> RolloutPlan {
        var plan = RolloutPlan()
        plan.steps = [10, 50, 100]
        plan.stepSeconds = 10
        plan.minRequestsPerStep = 50
        plan.gates.minSamples = 20
        plan.gates.minLatencySamples = 50
        return plan
    }

    static func window(
        requests: Int, errors: Int = 0, latency: Duration = .milliseconds(1), compared: Int = 0, disagreed: Int = 0
    ) -> ArmWindow {
        var window = ArmWindow()
        for index in 0..<requests { window.record(ok: index >= errors, latency: latency) }
        for index in 0..<compared {
            window.recordComparison([
                "label": OutputComparison.Rows(kind: .labels, rows: 1, disagreed: index < disagreed ? 1 : 0)
            ])
        }
        return window
    }

    /// 3 of 20 is what a candidate that truly disagrees 5% of the time shows one time in ten; 12 of 20 is evidence.
    @Test func disagreementIsJudgedOnEvidenceNotOnASmallSample() {
        let gates = RolloutGates()
        let stable = Self.window(requests: 30)
        #expect(
            Rollout.failedGate(gates, stable: stable, candidate: Self.window(requests: 30, compared: 20, disagreed: 3))
                == nil)
        let wrong = Rollout.failedGate(
            gates, stable: stable, candidate: Self.window(requests: 30, compared: 20, disagreed: 12))
        #expect(
            wrong?.contains("top-1 disagreement with stable: 'label' differs from stable's on 60% of 20") == true,
            "\(wrong ?? "passed")")
        #expect(
            Rollout.failedGate(gates, stable: stable, candidate: Self.window(requests: 30, compared: 19, disagreed: 19))
                == nil)  // too few
    }

    @Test func errorsAreJudgedOnEvidenceNotOnASmallSample() {
        let gates = RolloutGates()
        let stable = Self.window(requests: 500, errors: 5)  // 1%
        // one error in 20 is 5%, but as likely from a candidate as good as stable as from a worse one
        #expect(Rollout.failedGate(gates, stable: stable, candidate: Self.window(requests: 20, errors: 1)) == nil)
        #expect(Rollout.failedGate(gates, stable: stable, candidate: Self.window(requests: 20, errors: 4)) == nil)
        let worse = Rollout.failedGate(gates, stable: stable, candidate: Self.window(requests: 20, errors: 10))
        #expect(worse?.contains("error rate 50% on 20 requests against 1% for stable") == true, "\(worse ?? "passed")")
        let broken = Rollout.failedGate(gates, stable: stable, candidate: Self.window(requests: 20, errors: 20))
        #expect(broken != nil)
        // more evidence makes a smaller increase visible: 6% against 1% passes at 50 requests, fails at 1,000
        #expect(Rollout.failedGate(gates, stable: stable, candidate: Self.window(requests: 50, errors: 3)) == nil)
        #expect(Rollout.failedGate(gates, stable: stable, candidate: Self.window(requests: 1000, errors: 60)) != nil)
        // at a 100% step there is no stable traffic: the candidate's own rate against the allowance
        #expect(Rollout.failedGate(gates, stable: ArmWindow(), candidate: Self.window(requests: 20, errors: 20)) != nil)
        #expect(Rollout.failedGate(gates, stable: ArmWindow(), candidate: Self.window(requests: 200)) == nil)
    }

    @Test func aGoodCandidateAdvancesStepByStepAndIsPromoted() {
        var rollout = Rollout(model: "digits", stable: "1", candidate: "2", plan: Self.plan(), now: 0)
        #expect(rollout.split.candidatePercent == 10)
        let good = Self.window(requests: 60, compared: 30, disagreed: 1)
        // too early, then too few requests: no change
        do {
            let changed = rollout.evaluate(stable: Self.window(requests: 500), candidate: good, now: 5)
            #expect(!changed)
        }
        do {
            let changed = rollout.evaluate(
                stable: Self.window(requests: 500), candidate: Self.window(requests: 10), now: 11)
            #expect(!changed)
        }
        do {
            let changed = rollout.evaluate(stable: Self.window(requests: 500), candidate: good, now: 11)
            #expect(changed)
        }
        #expect(rollout.split.candidatePercent == 50 && rollout.step == 1)
        do {
            let changed = rollout.evaluate(stable: Self.window(requests: 500), candidate: good, now: 15)
            #expect(!changed)  // the new step's clock
        }
        do {
            let changed = rollout.evaluate(stable: Self.window(requests: 500), candidate: good, now: 21)
            #expect(changed)
        }
        do {
            let changed = rollout.evaluate(stable: Self.window(requests: 500), candidate: good, now: 31)
            #expect(changed)
        }
        #expect(rollout.phase == .promoted)
        #expect(rollout.split == TrafficSplit(stable: "2"))
        #expect(rollout.history.last?.message.contains("promoted") == true)
    }

    static let badCandidates: [(ArmWindow, String)] = [
        (window(requests: 30, errors: 20), "error rate 66.67%"),
        (
            window(requests: 30, compared: 25, disagreed: 20),
            "top-1 disagreement with stable: 'label' differs from stable's on 80%"
        ),
        (window(requests: 60, latency: .milliseconds(6)), "p99 latency"),
    ]

    @Test(arguments: badCandidates)
    func aBadCandidateIsRolledBackAtOnceWithTheReason(_ candidate: ArmWindow, _ reason: String) {
        var rollout = Rollout(model: "digits", stable: "1", candidate: "3", plan: Self.plan(), now: 0)
        // judged the moment there is enough evidence, not at the end of the step
        do {
            let changed = rollout.evaluate(stable: Self.window(requests: 500), candidate: candidate, now: 1)
            #expect(changed)
        }
        #expect(rollout.phase == .rolledBack)
        #expect(rollout.reason?.contains(reason) == true, "\(rollout.reason ?? "")")
        #expect(rollout.split == TrafficSplit(stable: "1"))
        do {
            let changed = rollout.evaluate(
                stable: Self.window(requests: 500), candidate: Self.window(requests: 100), now: 100)
            #expect(!changed)
        }
    }

    @Test func latencyDifferencesBelowTheToleranceNeverFail() {
        var rollout = Rollout(model: "digits", stable: "1", candidate: "2", plan: Self.plan(), now: 0)
        // 4× slower, but by 0.3 ms: noise at this scale
        let changed = rollout.evaluate(
            stable: Self.window(requests: 500, latency: .microseconds(100)),
            candidate: Self.window(requests: 60, latency: .microseconds(400)), now: 1
        )
        #expect(!changed && rollout.phase == .progressing)
    }

    @Test func tooLittleEvidenceIsNotJudged() {
        var rollout = Rollout(model: "digits", stable: "1", candidate: "3", plan: Self.plan(), now: 0)
        // 2 errors of 5, 5 of 5 disagreements: below the minimum samples, so neither gate fires yet
        do {
            let changed = rollout.evaluate(
                stable: Self.window(requests: 500),
                candidate: Self.window(requests: 5, errors: 2, compared: 5, disagreed: 5), now: 1)
            #expect(!changed)
        }
        #expect(rollout.phase == .progressing)
    }

    @Test func pauseResumePromoteAndAbortByAnOperator() {
        var rollout = Rollout(model: "digits", stable: "1", candidate: "2", plan: Self.plan(), now: 0)
        do {
            let changed = rollout.pause(now: 1)
            #expect(changed)
        }
        do {
            let changed = rollout.evaluate(
                stable: Self.window(requests: 500), candidate: Self.window(requests: 30, errors: 30), now: 20)
            #expect(!changed)  // not judged
        }
        #expect(rollout.split.candidatePercent == 10)  // held
        do {
            let changed = rollout.resume(now: 30)
            #expect(changed)
        }
        do {
            let changed = rollout.evaluate(
                stable: Self.window(requests: 500), candidate: Self.window(requests: 60), now: 35)
            #expect(!changed)  // step starts over
        }
        do {
            let changed = rollout.abort(now: 36)
            #expect(changed)
        }
        #expect(rollout.phase == .aborted && rollout.split == TrafficSplit(stable: "1"))
        do {
            let changed = rollout.promote(now: 37)
            #expect(!changed)  // over
        }
        var other = Rollout(model: "digits", stable: "1", candidate: "2", plan: Self.plan(), now: 0)
        do {
            let changed = other.promote(now: 1)
            #expect(changed && other.split == TrafficSplit(stable: "2"))
        }
    }

    @Test func plansAreChecked() {
        var plan = RolloutPlan()
        #expect(plan.problem == nil)
        plan.steps = [50, 10]
        #expect(plan.problem?.contains("must not decrease") == true)
        plan.steps = [5, 120]
        #expect(plan.problem?.contains("120") == true)
        plan.steps = [5]
        plan.gates.maxLatencyRatio = 0.5
        #expect(plan.problem?.contains("latency ratio") == true)
    }
}
