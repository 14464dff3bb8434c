public import SwitchyardRouting

/// One model's release state as `rollout.status` reports it (JSON, snake_case keys).
public struct ReleaseStatus: Codable, Sendable {
    /// One version's measurements in the current analysis window.
    public struct Window: Codable, Sendable {
        public var requests: Int
        public var errors: Int
        public var errorRate: Double
        public var p99Milliseconds: Double?
        public var compared: Int
        public var disagreement: Double

        init(_ window: ArmWindow) {
            self.requests = window.requests
            self.errors = window.errors
            self.errorRate = window.errorRate
            self.p99Milliseconds = window.latency(quantile: 0.99).map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }
            self.compared = window.compared
            self.disagreement = window.disagreement
        }

        enum CodingKeys: String, CodingKey {
            case requests, errors, compared, disagreement
            case errorRate = "error_rate"
            case p99Milliseconds = "p99_ms"
        }
    }

    public var model: String
    public var stable: String
    public var candidate: String?
    public var candidatePercent: Double
    public var rollout: Rollout?
    public var stableWindow: Window
    public var candidateWindow: Window

    init(_ entry: (model: String, split: TrafficSplit, rollout: Rollout?, stable: ArmWindow, candidate: ArmWindow)) {
        self.model = entry.model
        self.stable = entry.split.stable
        self.candidate = entry.split.candidate
        self.candidatePercent = entry.split.candidatePercent
        self.rollout = entry.rollout
        self.stableWindow = Window(entry.stable)
        self.candidateWindow = Window(entry.candidate)
    }

    enum CodingKeys: String, CodingKey {
        case model, stable, candidate, rollout
        case candidatePercent = "candidate_percent"
        case stableWindow = "stable_window"
        case candidateWindow = "candidate_window"
    }
}
