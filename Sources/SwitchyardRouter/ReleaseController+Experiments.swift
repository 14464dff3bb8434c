import Foundation
import Logging
public import SwitchyardRouting
import SwitchyardTensor
public import SwitchyardWire
internal import Synchronization

/// Comparisons off the request path: shadow scoring during rollouts, A/B comparisons (split or shadow), and
/// the labels that come back later, one at a time or in batches.
extension ReleaseController {
    // MARK: Shadow scoring

    /// Scores the candidate's inputs with the stable version, off the request path, and compares every output.
    /// - Parameters:
    ///   - model: the model.
    ///   - requestID: the id the candidate's answer carries, so that its label also scores the stable version.
    ///   - route: how the request was routed (its window and the stable version).
    ///   - request: the inference request the candidate answered.
    ///   - candidateAnswer: the candidate's inference answer.
    ///   - inference: where to send the stable version's copy.
    public func shadow(
        model: String, requestID: String, route: Route, request: Request, candidateAnswer: Response,
        via inference: any Upstream
    ) {
        guard let stable = route.shadowVersion else { return }
        let kinds = self.outputKinds(model)
        self.offPath(request, version: stable, via: inference) { answer, _ in
            guard let answer else { return }
            let differences = OutputComparison.compare(
                stable: answer.tensors, candidate: candidateAnswer.tensors, kinds: kinds)
            let classes = OutputComparison.classes(answer.tensors)
            let label = classes?.first.flatMap { top1 in
                self.answers.withLock {
                    $0.record(
                        requestID, model: model, release: .rollout(window: route.window), tested: false, top1: top1)
                }
            }
            self.models.withLock { models in
                guard models[model]?.window == route.window else { return }
                models[model]!.candidate.recordComparison(differences)
                if let classes { models[model]!.stable.recordPredictions(classes) }
                if let label, let top1 = classes?.first { models[model]!.stable.recordLabel(correct: top1 == label) }
            }
            self.evidenceChanged.store(true, ordering: .relaxed)
        }
    }

    /// The output kinds the running rollout's plan forces, by output name.
    func outputKinds(_ model: String) -> [String: OutputKind] {
        self.models.withLock { $0[model]?.rollout?.plan.gates.outputs.compactMapValues(\.kind) ?? [:] }
    }

    /// Asks `version` the same inference request in a task of its own: the caller never waits for it, at most
    /// ``maxShadowsInFlight`` run at once (more are skipped), and each has a 10 s deadline.
    func offPath(
        _ request: Request, version: String, via inference: any Upstream,
        then: @escaping @Sendable (Response?, Duration) -> Void
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
    public func recordExperiment(
        model: String, requestID: String, challenger: Bool, answer: Response?, latency: Duration
    ) {
        self.models.withLock { models in
            models[model]?.experiment?.recordAnswer(challenger: challenger, ok: answer != nil, latency: latency)
        }
        self.evidenceChanged.store(true, ordering: .relaxed)
        guard let answer, let top1 = OutputComparison.classes(answer.tensors)?.first else { return }
        // a label that came back before this arm's (mirrored) answer is scored now
        guard
            let label = self.answers.withLock({
                $0.record(requestID, model: model, release: .experiment, tested: challenger, top1: top1)
            })
        else { return }
        self.models.withLock { $0[model]?.experiment?.recordFeedback(challenger: challenger, correct: top1 == label) }
    }

    /// Has the other arm answer the same inference request off the request path (bounded like ``shadow``);
    /// compares the answers output by output, and in shadow mode measures the challenger as if it had served.
    public func mirror(
        model: String, requestID: String, version: String, servedByChallenger: Bool, request: Request, answer: Response,
        via inference: any Upstream
    ) {
        self.offPath(request, version: version, via: inference) { other, latency in
            if !servedByChallenger {  // shadow mode: this is the challenger's only traffic
                self.recordExperiment(
                    model: model, requestID: requestID, challenger: true, answer: other, latency: latency)
            }
            guard let other else { return }
            let (champion, challenger) = servedByChallenger ? (other, answer) : (answer, other)
            let differences = OutputComparison.compare(stable: champion.tensors, candidate: challenger.tensors)
            let agreed = OutputComparison.classes(champion.tensors) == OutputComparison.classes(challenger.tensors)
            self.models.withLock { $0[model]?.experiment?.recordComparison(agreed: agreed, differences: differences) }
        }
    }

    /// A true label for an earlier request: each side that answered it is scored.
    /// - Throws: `RouterError.notFound` when the request is unknown or too old (the log keeps the last 100,000).
    public func feedback(requestID: String, label: Int64) throws(RouterError) {
        guard self.feedback([(requestID, label)]).accepted == 1 else {
            throw RouterError(
                .notFound,
                "no rollout or comparison request '\(requestID)' is remembered (unknown, older than the last "
                    + "\(Self.answersRemembered), from an earlier step, or labelled already)"
            )
        }
    }

    /// True labels for earlier requests, in one go: one lock for the log and one for the state, so that a batch of
    /// thousands costs about as much as a few single labels.
    /// - Parameter labels: request ids (answers' `request.id`) with their true classes.
    /// - Returns: how many were scored, and how many were not (unknown, too old, of an earlier step, or labelled).
    public func feedback(_ labels: [(requestID: String, label: Int64)]) -> (accepted: Int, unknown: Int) {
        let entries = self.answers.withLock { log in labels.map { log.label($0.requestID, $0.label) } }
        var accepted = 0
        self.models.withLock { models in
            for (entry, item) in zip(entries, labels) {
                guard let entry, models[entry.model] != nil else { continue }
                switch entry.release {
                case .experiment:
                    guard models[entry.model]!.experiment != nil else { continue }
                    if let top1 = entry.reference {
                        models[entry.model]!.experiment!.recordFeedback(challenger: false, correct: top1 == item.label)
                    }
                    if let top1 = entry.tested {
                        models[entry.model]!.experiment!.recordFeedback(challenger: true, correct: top1 == item.label)
                    }
                case .rollout(let window):
                    guard models[entry.model]!.window == window else { continue }
                    if let top1 = entry.reference {
                        models[entry.model]!.stable.recordLabel(correct: top1 == item.label)
                    }
                    if let top1 = entry.tested {
                        models[entry.model]!.candidate.recordLabel(correct: top1 == item.label)
                    }
                }
                accepted += 1
            }
        }
        if accepted > 0 { self.evidenceChanged.store(true, ordering: .relaxed) }
        return (accepted, labels.count - accepted)
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
                throw RouterError(
                    .conflict, "a rollout of \(experiment.model) runs; promote or abort it before comparing")
            }
            if let running = state.experiment, running.isRunning {
                throw RouterError(
                    .conflict, "a comparison of \(running.champion) and \(running.challenger) runs; stop it first")
            }
            models[experiment.model]!.experiment = experiment
            models[experiment.model]!.owner = self.identity
            models[experiment.model]!.winnerAnnounced = false
        }
        self.logger.notice(
            "comparison started",
            metadata: [
                "model": "\(experiment.model)", "champion": "\(experiment.champion)",
                "challenger": "\(experiment.challenger)", "mode": "\(experiment.mode.rawValue)",
            ]
        )
        self.notifier.post(
            ReleaseNotifier.Event(
                model: experiment.model, kind: "ab.started",
                message: "\(experiment.model): comparison started, \(experiment.mode.rawValue) "
                    + "\(experiment.percent)%, champion \(experiment.champion), challenger "
                    + "\(experiment.challenger)",
                stable: experiment.champion, candidate: experiment.challenger, weight: experiment.percent
            )
        )
        try self.persist()
    }

    /// Stops the model's comparison; its report stays readable.
    /// - Throws: `RouterError` (`notFound` when none runs, `stateUnwritable`).
    public func stopExperiment(model: String) throws(RouterError) -> ExperimentReport {
        let report = try self.models.withLock { models throws(RouterError) in
            guard var experiment = models[model]?.experiment, experiment.isRunning else {
                throw RouterError(.notFound, "no comparison of '\(model)' runs")
            }
            experiment.stop(now: Date().timeIntervalSince1970)
            models[model]!.experiment = experiment
            models[model]!.split = TrafficSplit(stable: experiment.serving)  // the champion keeps serving everyone
            return experiment.report
        }
        self.logger.notice("comparison stopped", metadata: ["model": "\(model)", "verdict": "\(report.verdict)"])
        self.notifier.post(
            ReleaseNotifier.Event(
                model: model, kind: "ab.stopped", message: "\(model): comparison stopped; \(report.verdict)")
        )
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

    /// Every tick, for the comparisons this router owns: the split guardrail, and a winner the sequential test
    /// named, announced once.
    /// - Returns: whether anything changed that should be written.
    func judgeExperiments(now: Double) -> Bool {
        var stopped: [(String, String)] = []
        var named: [(String, ExperimentReport)] = []
        self.models.withLock { models in
            for model in models.keys {
                guard models[model]!.owner == self.identity, var experiment = models[model]!.experiment else {
                    continue
                }
                if let reason = experiment.checkGuardrail(now: now) {
                    models[model]!.experiment = experiment
                    models[model]!.split = TrafficSplit(stable: experiment.serving)
                    stopped.append((model, reason))
                }
                if experiment.winner != nil, !models[model]!.winnerAnnounced {
                    models[model]!.winnerAnnounced = true
                    named.append((model, experiment.report))
                }
            }
        }
        for (model, reason) in stopped {
            self.logger.notice(
                "comparison stopped by its guardrail", metadata: ["model": "\(model)", "reason": "\(reason)"])
            self.notifier.post(
                ReleaseNotifier.Event(
                    model: model, kind: "ab.guardrail", message: "\(model): \(reason)", reason: reason))
        }
        for (model, report) in named {
            self.logger.notice("comparison decided", metadata: ["model": "\(model)", "verdict": "\(report.verdict)"])
            self.notifier.post(
                ReleaseNotifier.Event(model: model, kind: "ab.decided", message: "\(model): \(report.verdict)"))
        }
        return !stopped.isEmpty
    }
}
