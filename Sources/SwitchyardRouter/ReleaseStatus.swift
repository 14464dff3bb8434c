public import SwitchyardRouting

/// One model's release state as `rollout.status` reports it (JSON, snake_case keys), and the evidence webhook gates
/// receive.
public struct ReleaseStatus: Codable, Sendable {
    /// One version's measurements in the current analysis window.
    public struct Window: Codable, Sendable {
        public var requests: Int
        public var errors: Int
        public var errorRate: Double
        public var p99Milliseconds: Double?
        /// Shadow-scored requests, and the top-1 disagreement of the output that disagrees most.
        public var compared: Int
        public var disagreement: Double
        /// Labels that came back, and the share this version got right.
        public var labelled: Int
        public var accuracy: Double?
        /// Predictions counted for drift.
        public var predictions: Int
        /// Per output: how it compared with the stable version's on shadow-scored requests.
        public var outputs: [String: Output]

        init(_ window: ArmWindow) {
            self.requests = window.requests
            self.errors = window.errors
            self.errorRate = window.errorRate
            self.p99Milliseconds = window.latency(quantile: 0.99).map {
                Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15
            }
            self.compared = window.compared
            self.disagreement = window.disagreement
            self.labelled = window.labelled
            self.accuracy = window.accuracy
            self.predictions = window.predicted
            self.outputs = window.outputs.mapValues(Output.init)
        }

        enum CodingKeys: String, CodingKey {
            case requests, errors, compared, disagreement, labelled, accuracy, predictions, outputs
            case errorRate = "error_rate"
            case p99Milliseconds = "p99_ms"
        }
    }

    /// One output's comparison: rows, top-1 disagreement and the mean of each distance that applies to its kind.
    public struct Output: Codable, Sendable {
        public var kind: OutputKind
        public var rows: Int
        public var disagreement: Double?
        public var scoreDifference: Double?
        public var jensenShannon: Double?
        public var relativeDifference: Double?
        /// The candidate's mean signed relative difference (regression outputs): its bias.
        public var bias: Double?

        init(_ evidence: OutputEvidence) {
            self.kind = evidence.kind
            self.rows = evidence.rows
            self.disagreement = evidence.disagreement
            func mean(_ moments: Moments) -> Double? { moments.count == 0 ? nil : moments.mean }
            self.scoreDifference = mean(evidence.scoreDifference)
            self.jensenShannon = mean(evidence.jensenShannon)
            self.relativeDifference = mean(evidence.relativeDifference)
            self.bias = mean(evidence.signedRelativeDifference)
        }

        enum CodingKeys: String, CodingKey {
            case kind, rows, disagreement, bias
            case scoreDifference = "score_difference"
            case jensenShannon = "jensen_shannon"
            case relativeDifference = "relative_difference"
        }
    }

    public var model: String
    public var stable: String
    public var candidate: String?
    public var candidatePercent: Double
    public var rollout: Rollout?
    public var stableWindow: Window
    public var candidateWindow: Window
    /// The metric gates' latest values in this window.
    public var metrics: [String: Double]
    /// The versions the inference instances serve, when the router knows them.
    public var versions: [String]?
    /// Served versions newer than the stable one that get no traffic until a rollout starts.
    public var waiting: [String]

    init(_ status: ReleaseController.ModelStatus) {
        self.model = status.model
        self.stable = status.split.stable
        self.candidate = status.split.candidate
        self.candidatePercent = status.split.candidatePercent
        self.rollout = status.rollout
        self.stableWindow = Window(status.stable)
        self.candidateWindow = Window(status.candidate)
        self.metrics = status.metrics
        self.versions = status.versions
        let serving = Set([status.split.stable, status.split.candidate ?? ""])
        self.waiting = (status.versions ?? []).filter {
            !serving.contains($0) && !status.split.stable.isEmpty
                && ReleaseController.isNewer($0, than: status.split.stable)
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, stable, candidate, rollout, metrics, versions, waiting
        case candidatePercent = "candidate_percent"
        case stableWindow = "stable_window"
        case candidateWindow = "candidate_window"
    }
}
