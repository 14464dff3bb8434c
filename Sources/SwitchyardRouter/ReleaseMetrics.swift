import Metrics
import Synchronization
import SwitchyardRouting

/// Each model's release state as metrics, so that the monitor's dashboard and alert rules see every decision:
/// `switchyard_release_candidate_percent{model}`, `switchyard_rollout_phase{model,phase}` (1 for the current phase)
/// and the latest decision in words, `switchyard_rollout_decision_info{model,decision}` (an info-style series: the
/// latest decision 1, the one before it 0).
final class ReleaseMetrics: Sendable {
    /// What one model's series show.
    struct Model: Sendable {
        var split: TrafficSplit
        var phase: Rollout.Phase?
        var decision: String?
    }

    /// The decision each model's info series shows now.
    private let publishedDecisions = Mutex<[String: String]>([:])

    /// Records every model's split, phase and latest decision.
    /// - Parameter models: by model name.
    func publish(_ models: [String: Model]) {
        let decisions = models.compactMapValues(\.decision)
        let replaced = self.publishedDecisions.withLock { published in
            defer { published = decisions }
            return published.filter { decisions[$0.key] != $0.value }
        }
        func decision(_ model: String, _ message: String) -> Gauge {
            Gauge(label: "switchyard_rollout_decision_info", dimensions: [("model", model), ("decision", message)])
        }
        for (model, message) in replaced { decision(model, message).record(0) }
        for (model, message) in decisions { decision(model, message).record(1) }
        for (model, state) in models {
            Gauge(label: "switchyard_release_candidate_percent", dimensions: [("model", model)]).record(
                state.split.candidatePercent
            )
            for phase in [Rollout.Phase.progressing, .paused, .promoted, .rolledBack, .aborted] {
                let gauge = Gauge(
                    label: "switchyard_rollout_phase",
                    dimensions: [("model", model), ("phase", phase.rawValue)]
                )
                gauge.record(state.phase == phase ? 1 : 0)
            }
        }
    }
}
