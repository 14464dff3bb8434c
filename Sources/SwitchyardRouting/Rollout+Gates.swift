internal import SwitchyardMonitor

/// The built-in gates, judged on the step's windows: errors, every output of the shadow-scored requests, labelled
/// accuracy, the drift of the candidate's predictions, latency. Proportions and means are judged on their
/// confidence sequences (``Statistics/proportionSequence(successes:trials:alpha:)`` and friends), which stay valid
/// however often they are looked at, so a gate fires on evidence and not on a small sample's luck.
extension Rollout {
    /// The first gate the candidate fails, in words, or `nil`.
    static func failedGate(_ gates: RolloutGates, stable: ArmWindow, candidate: ArmWindow) -> String? {
        let alpha = gates.alpha
        let confidence = "judged on the \(Self.percent(gates.confidence * 100)) confidence sequence"
        if candidate.requests >= gates.minSamples {
            // with no stable traffic (a 100% step) the candidate's own rate is judged against the allowance
            let low =
                stable.requests == 0
                ? Statistics.proportionSequence(successes: candidate.errors, trials: candidate.requests, alpha: alpha)
                    .low
                : Statistics.differenceSequence(
                    successes1: candidate.errors, trials1: candidate.requests, successes2: stable.errors,
                    trials2: stable.requests, alpha: alpha
                ).low
            if low > gates.maxErrorRateIncrease {
                return
                    "error rate \(Self.percent(candidate.errorRate * 100)) on \(candidate.requests) requests against "
                    + "\(Self.percent(stable.errorRate * 100)) for stable "
                    + "(at most +\(Self.percent(gates.maxErrorRateIncrease * 100)), \(confidence))"
            }
        }
        for name in candidate.outputs.keys.sorted() {
            if let failure = Self.failedOutput(name, candidate.outputs[name]!, gates.gate(for: name), gates, confidence)
            {
                return failure
            }
        }
        if candidate.labelled >= gates.minLabels, stable.labelled >= gates.minLabels {
            let difference = Statistics.differenceSequence(
                successes1: candidate.correct, trials1: candidate.labelled, successes2: stable.correct,
                trials2: stable.labelled, alpha: alpha
            )
            if difference.high < -gates.maxAccuracyDrop {
                return
                    "accuracy \(Self.percent((candidate.accuracy ?? 0) * 100)) on \(candidate.labelled) labels against "
                    + "\(Self.percent((stable.accuracy ?? 0) * 100)) on \(stable.labelled) for stable "
                    + "(at most \(Self.percent(gates.maxAccuracyDrop * 100)) lower, \(confidence))"
            }
        }
        if candidate.predicted >= gates.minPredictions, stable.predicted >= gates.minPredictions,
            let shift = Self.predictionShift(stable: stable, candidate: candidate),
            shift.excess > gates.maxPredictionShift
        {
            return "the candidate's predicted classes shifted from stable's: PSI \(Self.format(shift.psi)) on "
                + "\(candidate.predicted) and \(stable.predicted) predictions, \(Self.format(shift.excess)) above "
                + "sampling noise (at most \(Self.format(gates.maxPredictionShift)))"
        }
        if candidate.latencySamples >= gates.minLatencySamples, stable.latencySamples >= gates.minLatencySamples,
            let ours = candidate.latency(quantile: 0.99), let theirs = stable.latency(quantile: 0.99)
        {
            let ratio = Self.seconds(ours) / max(Self.seconds(theirs), 1e-6)
            if ratio > gates.maxLatencyRatio,
                (Self.seconds(ours) - Self.seconds(theirs)) * 1000 > gates.latencyToleranceMilliseconds
            {
                return "p99 latency \(Self.milliseconds(ours)) against \(Self.milliseconds(theirs)) for stable "
                    + "(\(Self.format(ratio))×, at most \(Self.format(gates.maxLatencyRatio))×)"
            }
        }
        return nil
    }

    /// One output's gates: top-1 (or label) disagreement, score difference, Jensen–Shannon, relative difference.
    static func failedOutput(
        _ name: String, _ evidence: OutputEvidence, _ gate: OutputGate, _ gates: RolloutGates, _ confidence: String
    ) -> String? {
        guard gate.ignore != true, evidence.rows >= gates.minSamples else { return nil }
        let alpha = gates.alpha
        let rows = "on \(evidence.rows) shadow-scored rows"
        if evidence.kind != .values, let limit = gate.maxDisagreement,
            Statistics.proportionSequence(successes: evidence.disagreed, trials: evidence.rows, alpha: alpha).low
                > limit
        {
            let what =
                evidence.kind == .labels
                ? "'\(name)' differs from stable's" : "top-1 of '\(name)' differs from stable's"
            return "top-1 disagreement with stable: \(what) on \(Self.percent((evidence.disagreement ?? 0) * 100)) "
                + "of \(evidence.rows) shadow-scored rows (at most \(Self.percent(limit * 100)), \(confidence))"
        }
        if evidence.kind == .scores || evidence.kind == .probabilities, let limit = gate.maxScoreDifference,
            evidence.scoreDifference.count >= gates.minSamples,
            Statistics.meanSequence(evidence.scoreDifference, alpha: alpha).low > limit
        {
            return "scores of '\(name)' differ from stable's by \(Self.format(evidence.scoreDifference.mean)) "
                + "(mean absolute difference) \(rows) (at most \(Self.format(limit)), \(confidence))"
        }
        if evidence.kind == .probabilities, let limit = gate.maxJensenShannon,
            evidence.jensenShannon.count >= gates.minSamples,
            Statistics.meanSequence(evidence.jensenShannon, alpha: alpha).low > limit
        {
            return "probabilities of '\(name)' diverge from stable's: Jensen–Shannon "
                + "\(Self.format(evidence.jensenShannon.mean)) nats \(rows) "
                + "(at most \(Self.format(limit)), \(confidence))"
        }
        if evidence.kind == .values, let limit = gate.maxRelativeDifference,
            evidence.relativeDifference.count >= gates.minSamples,
            Statistics.meanSequence(evidence.relativeDifference, alpha: alpha).low > limit
        {
            let bias = evidence.signedRelativeDifference.mean
            return
                "values of '\(name)' differ from stable's by \(Self.percent(evidence.relativeDifference.mean * 100)) "
                + "(mean relative difference; bias \(bias >= 0 ? "+" : "")\(Self.percent(bias * 100))) \(rows) "
                + "(at most \(Self.percent(limit * 100)), \(confidence))"
        }
        return nil
    }

    /// The PSI of the candidate's predicted classes against the stable version's (the monitor's drift measure), and
    /// how far it exceeds what two samples of the same distribution show: for k classes and n₁, n₂ predictions
    /// that is about (k − 1)(1/n₁ + 1/n₂), since n·PSI then follows χ²ₖ₋₁.
    static func predictionShift(stable: ArmWindow, candidate: ArmWindow) -> (psi: Double, excess: Double)? {
        let classes = Set(stable.predictions.keys).union(candidate.predictions.keys)
        guard let largest = classes.max(), largest >= 0, largest < 100_000 else { return nil }
        let width = Int(largest) + 1
        let psi = DriftProfile.psi(
            expected: stable.predictionShares(width: width), observed: candidate.predictionShares(width: width)
        )
        let noise = Double(max(classes.count - 1, 1)) * (1 / Double(candidate.predicted) + 1 / Double(stable.predicted))
        return (psi, psi - noise)
    }

    /// The step's evidence in a line of history.
    static func evidence(stable: ArmWindow, candidate: ArmWindow, metrics: [String: Double] = [:]) -> String {
        var parts = [
            "\(candidate.requests) requests",
            "errors \(Self.percent(candidate.errorRate * 100)) vs \(Self.percent(stable.errorRate * 100))",
        ]
        if candidate.compared > 0 {
            parts.append("disagreement \(Self.percent(candidate.disagreement * 100)) of \(candidate.compared)")
        }
        for name in candidate.outputs.keys.sorted() {
            let output = candidate.outputs[name]!
            switch output.kind {
            case .probabilities: parts.append("\(name) JS \(Self.format(output.jensenShannon.mean))")
            case .scores: parts.append("\(name) |Δ| \(Self.format(output.scoreDifference.mean))")
            case .values: parts.append("\(name) rel. diff. \(Self.percent(output.relativeDifference.mean * 100))")
            case .labels: break
            }
        }
        if let ours = candidate.accuracy, let theirs = stable.accuracy {
            parts.append(
                "accuracy \(Self.percent(ours * 100)) vs \(Self.percent(theirs * 100)) "
                    + "(\(candidate.labelled) and \(stable.labelled) labels)"
            )
        }
        if let ours = candidate.latency(quantile: 0.99), let theirs = stable.latency(quantile: 0.99) {
            parts.append("p99 \(Self.milliseconds(ours)) vs \(Self.milliseconds(theirs))")
        }
        for name in metrics.keys.sorted() { parts.append("\(name) \(Self.format(metrics[name]!))") }
        return parts.joined(separator: ", ")
    }
}
