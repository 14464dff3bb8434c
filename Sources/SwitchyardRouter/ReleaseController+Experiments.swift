import Foundation
import Logging
public import SwitchyardRouting
internal import Synchronization
internal import SwitchyardTensor
public import SwitchyardWire

/// Comparisons off the request path: shadow scoring during rollouts, A/B comparisons (split or shadow), and
/// the labels that come back later.
extension ReleaseController {
    // MARK: Shadow scoring

    /// Scores `inputs` with the stable version beside the candidate's answer, off the request path.
    public func shadow(model: String, stable: String, request: Request, candidateAnswer: Response, via inference: any Upstream) {
        self.offPath(request, version: stable, via: inference) { answer, _ in
            guard let answer, let ours = Self.top1(candidateAnswer), let theirs = Self.top1(answer) else { return }
            self.models.withLock { $0[model]?.candidate.recordComparison(agreed: ours == theirs) }
        }
    }

    /// Asks `version` the same inference request in a task of its own: the caller never waits for it, at most
    /// ``maxShadowsInFlight`` run at once (more are skipped), and each has a 10 s deadline.
    func offPath(
        _ request: Request, version: String, via inference: any Upstream, then: @escaping @Sendable (Response?, Duration) -> Void
    ) {
        guard self.shadowsInFlight.add(1, ordering: .relaxed).newValue <= Self.maxShadowsInFlight else {
            self.shadowsInFlight.subtract(1, ordering: .relaxed)
            return
        }
        var copy = request
        copy.version = version
        Task {
            defer { self.shadowsInFlight.subtract(1, ordering: .relaxed) }
            let started = ContinuousClock.now
            let answer = try? await inference.call(copy, deadline: .now.advanced(by: .seconds(10)))
            then(answer, started.duration(to: .now))
        }
    }

    // MARK: A/B comparisons

    /// Counts a finished request of an A/B arm and keeps its top-1 answer for feedback.
    /// - Returns: the id to report the true label under (`feedback`), or `nil` when no experiment runs.
    public func recordExperiment(model: String, requestID: String, challenger: Bool, answer: Response?, latency: Duration) {
        self.models.withLock { models in
            models[model]?.experiment?.recordAnswer(challenger: challenger, ok: answer != nil, latency: latency)
        }
        guard let answer, let top1 = Self.top1(answer)?.first else { return }
        // a label that came back before this arm's (mirrored) answer is scored now
        guard let label = self.answers.withLock({ $0.record(requestID, model: model, challenger: challenger, top1: top1) }) else { return }
        self.models.withLock { $0[model]?.experiment?.recordFeedback(challenger: challenger, correct: top1 == label) }
    }

    /// Has the other arm answer the same inference request off the request path (bounded like ``shadow``);
    /// compares the answers, and in shadow mode measures the challenger as if it had served.
    public func mirror(model: String, requestID: String, version: String, servedByChallenger: Bool, request: Request, answer: Response, via inference: any Upstream) {
        self.offPath(request, version: version, via: inference) { other, latency in
            if !servedByChallenger {  // shadow mode: this is the challenger's only traffic
                self.recordExperiment(model: model, requestID: requestID, challenger: true, answer: other, latency: latency)
            }
            guard let other, let ours = Self.top1(answer), let theirs = Self.top1(other) else { return }
            let difference = Self.meanAbsoluteDifference(answer, other)
            self.models.withLock { $0[model]?.experiment?.recordComparison(agreed: ours == theirs, meanAbsoluteScoreDifference: difference) }
        }
    }

    /// A true label for an earlier request: each arm that answered it is scored.
    /// - Throws: `RouterError.notFound` when the request is unknown or too old (the log keeps the last 100,000).
    public func feedback(requestID: String, label: Int64) throws(RouterError) {
        guard let entry = self.answers.withLock({ $0.label(requestID, label) }) else {
            throw RouterError(.notFound, "no experiment request '\(requestID)' is remembered (unknown, older than the last 100000, or labelled already)")
        }
        self.models.withLock { models in
            if let top1 = entry.champion { models[entry.model]?.experiment?.recordFeedback(challenger: false, correct: top1 == label) }
            if let top1 = entry.challenger { models[entry.model]?.experiment?.recordFeedback(challenger: true, correct: top1 == label) }
        }
    }

    /// Starts an A/B comparison.
    /// - Throws: `RouterError` (`unknownModel`, `conflict` while a rollout or another comparison runs,
    ///   `invalidArgument`).
    public func startExperiment(_ experiment: Experiment) throws(RouterError) {
        if let problem = experiment.problem {
            throw RouterError(.invalidArgument, "the comparison is not valid: \(problem)")
        }
        try self.models.withLock { models throws(RouterError) in
            guard let state = models[experiment.model] else {
                throw RouterError(.unknownModel, "no model '\(experiment.model)' on this router")
            }
            if let rollout = state.rollout, rollout.isActive {
                throw RouterError(.conflict, "a rollout of \(experiment.model) runs; promote or abort it before comparing")
            }
            if let running = state.experiment, running.isRunning {
                throw RouterError(.conflict, "a comparison of \(running.champion) and \(running.challenger) runs; stop it first")
            }
            models[experiment.model]?.experiment = experiment
        }
        self.logger.notice(
            "comparison started",
            metadata: ["model": "\(experiment.model)", "champion": "\(experiment.champion)", "challenger": "\(experiment.challenger)", "mode": "\(experiment.mode.rawValue)"]
        )
    }

    /// Stops the model's comparison; its report stays readable.
    /// - Throws: `RouterError` (`notFound` when none runs, `stateUnwritable`).
    public func stopExperiment(model: String) throws(RouterError) -> ExperimentReport {
        let report = try self.models.withLock { models throws(RouterError) in
            guard var experiment = models[model]?.experiment, experiment.isRunning else {
                throw RouterError(.notFound, "no comparison of '\(model)' runs")
            }
            experiment.stop(now: Date().timeIntervalSince1970)
            models[model]?.experiment = experiment
            models[model]?.split = TrafficSplit(stable: experiment.champion)  // the champion keeps serving everyone
            return experiment.report
        }
        self.logger.notice("comparison stopped", metadata: ["model": "\(model)", "verdict": "\(report.verdict)"])
        try self.persist()
        return report
    }

    /// The model's comparison so far (running or stopped).
    /// - Throws: `RouterError.notFound` when the model has had none.
    public func experimentReport(model: String) throws(RouterError) -> ExperimentReport {
        guard let experiment = self.models.withLock({ $0[model]?.experiment }) else {
            throw RouterError(.notFound, "no comparison of '\(model)'")
        }
        return experiment.report
    }

    static func meanAbsoluteDifference(_ a: Response, _ b: Response) -> Double? {
        guard let x = a.tensors.first(where: { $0.tensor.dtype == .float32 }), let y = b.tensors.first(where: { $0.name == x.name }),
            let first = try? x.tensor.scalars(as: Float.self), let second = try? y.tensor.scalars(as: Float.self),
            first.count == second.count, !first.isEmpty
        else { return nil }
        var sum = 0.0
        for index in first.indices { sum += Double(abs(first[index] - second[index])) }
        return sum / Double(first.count)
    }

    /// The top-1 class of every row: the `label` output if there is one, else the argmax of the first float output.
    static func top1(_ response: Response) -> [Int64]? {
        if let label = response.tensors.first(where: { $0.name == "label" })?.tensor, label.dtype == .int64 {
            return try? label.scalars(as: Int64.self)
        }
        guard let scores = response.tensors.first(where: { $0.tensor.dtype == .float32 })?.tensor, scores.shape.rank == 2,
            let values = try? scores.scalars(as: Float.self)
        else { return nil }
        let columns = scores.shape[1]
        guard columns > 0 else { return nil }
        return stride(from: 0, to: values.count, by: columns).map { start in
            var best = start
            for index in start..<(start + columns) where values[index] > values[best] { best = index }
            return Int64(best - start)
        }
    }
}
