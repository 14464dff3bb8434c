internal import SwitchyardTensor
internal import SwitchyardWire

/// What an attempt's execution time is predicted from: the method, model and version, and the rows it carries.
struct PredictionKey: Hashable, Sendable {
    var target: String
    var rows: Int

    init(_ request: Request) {
        self.target = "\(request.method)/\(request.model)/\(request.version)"
        self.rows = max(1, request.tensors.first?.tensor.shape.dims.first ?? 1)
    }
}

/// An ``UpstreamPool``'s predictions of attempt durations, for per-try timeouts: one ``ExecutionTimePredictor``
/// per target, learned from answered attempts. Targets come from requests, so their number is bounded.
struct AttemptPredictors: Sendable {
    /// Most targets with a predictor of their own; later ones share the overflow predictor.
    static let maxTargets = 64
    private static let overflow = "\u{0}other"

    private var predictors: [String: ExecutionTimePredictor] = [:]

    private func slot(_ target: String) -> String {
        self.predictors[target] != nil || self.predictors.count < Self.maxTargets - 1 ? target : Self.overflow
    }

    /// Records an answered attempt's duration.
    mutating func observe(_ key: PredictionKey, duration: Duration) {
        self.predictors[self.slot(key.target), default: ExecutionTimePredictor(initialEstimate: duration)]
            .observe(rows: key.rows, duration: duration)
    }

    /// The predicted duration, or `nil` before anything like it was answered.
    func predict(_ key: PredictionKey) -> Duration? {
        self.predictors[self.slot(key.target)]?.predict(rows: key.rows)
    }
}
