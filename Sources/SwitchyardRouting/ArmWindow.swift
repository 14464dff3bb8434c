internal import Histogram

/// What one version did over an analysis window: requests, errors, latencies, the classes it predicted, how its
/// answers compared with the other version's on shadow-scored requests (output by output), and, once true labels
/// come back, how many it got right. Codable, so that a restarted router continues the same window.
public struct ArmWindow: Sendable, Equatable {
    public private(set) var requests = 0
    public private(set) var errors = 0
    /// Requests also scored by the other version (shadow), whose outputs were compared.
    public private(set) var compared = 0
    /// Per output name: how the two versions' answers differ.
    public private(set) var outputs: [String: OutputEvidence] = [:]
    /// Answers whose true label came back, and how many of those this version got right.
    public private(set) var labelled = 0
    public private(set) var correct = 0
    /// How often each class was this version's top-1 answer (for the drift of its predictions).
    public private(set) var predictions: [Int64: Int] = [:]
    /// Microseconds, two significant digits (1% resolution), up to an hour.
    private var latency = Self.emptyHistogram()

    public init() {}

    static func emptyHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
    }

    /// Counts one answered request.
    /// - Parameters:
    ///   - ok: whether it succeeded (failures the caller caused, like `invalid argument`, should not be counted).
    ///   - latency: its time in the router.
    public mutating func record(ok: Bool, latency: Duration) {
        self.requests += 1
        if !ok { self.errors += 1 }
        if ok {
            let (seconds, attoseconds) = latency.components
            let micros = UInt64(max(1, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
            _ = self.latency.record(min(micros, self.latency.highestTrackableValue))
        }
    }

    /// Counts the classes of one answer (its rows' top-1), for the drift of this version's predictions.
    public mutating func recordPredictions(_ classes: [Int64]) {
        for label in classes { self.predictions[label, default: 0] += 1 }
    }

    /// Counts one request both versions answered, with how each output differed.
    public mutating func recordComparison(_ differences: [String: OutputComparison.Rows]) {
        self.compared += 1
        for (name, rows) in differences { self.outputs[name, default: OutputEvidence(kind: rows.kind)].add(rows) }
    }

    /// Counts a true label for one of this version's answers.
    public mutating func recordLabel(correct: Bool) {
        self.labelled += 1
        if correct { self.correct += 1 }
    }

    /// Errors per request; 0 with no requests.
    public var errorRate: Double { self.requests == 0 ? 0 : Double(self.errors) / Double(self.requests) }
    /// Correct answers per label; `nil` with no labels.
    public var accuracy: Double? { self.labelled == 0 ? nil : Double(self.correct) / Double(self.labelled) }
    /// Top-1 disagreement of the output that disagrees most, as a fraction of its compared rows; 0 with none.
    public var disagreement: Double { self.outputs.values.compactMap(\.disagreement).max() ?? 0 }
    /// Successful requests timed.
    public var latencySamples: Int { Int(self.latency.totalCount) }
    /// Predictions counted.
    public var predicted: Int { self.predictions.values.reduce(0, +) }

    /// A latency quantile (0...1), within 1%; `nil` with no samples.
    public func latency(quantile: Double) -> Duration? {
        guard self.latency.totalCount > 0 else { return nil }
        return .microseconds(Int64(self.latency.valueAtPercentile(quantile * 100)))
    }

    /// The share of each class among this version's predictions, indexed by class (0 ..< the largest class + 1).
    func predictionShares(width: Int) -> [Double] {
        let total = Double(self.predicted)
        guard total > 0 else { return [] }
        return (0..<width).map { Double(self.predictions[Int64($0)] ?? 0) / total }
    }

    public static func == (lhs: ArmWindow, rhs: ArmWindow) -> Bool {
        lhs.requests == rhs.requests && lhs.errors == rhs.errors && lhs.compared == rhs.compared
            && lhs.outputs == rhs.outputs && lhs.labelled == rhs.labelled && lhs.correct == rhs.correct
            && lhs.predictions == rhs.predictions && lhs.latency == rhs.latency
    }
}

extension ArmWindow: Codable {
    enum CodingKeys: String, CodingKey {
        case requests, errors, compared, outputs, labelled, correct, predictions
        case latency = "latency_us"
    }

    /// Latency as `[microseconds, count]` pairs of the buckets that hold any, so that a window is a few hundred bytes.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.requests, forKey: .requests)
        try container.encode(self.errors, forKey: .errors)
        try container.encode(self.compared, forKey: .compared)
        try container.encode(self.outputs, forKey: .outputs)
        try container.encode(self.labelled, forKey: .labelled)
        try container.encode(self.correct, forKey: .correct)
        try container.encode(
            Dictionary(uniqueKeysWithValues: self.predictions.map { ("\($0.key)", $0.value) }), forKey: .predictions)
        try container.encode(self.latency.recordedValues().map { [$0.value, UInt64($0.count)] }, forKey: .latency)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.requests = try container.decodeIfPresent(Int.self, forKey: .requests) ?? 0
        self.errors = try container.decodeIfPresent(Int.self, forKey: .errors) ?? 0
        self.compared = try container.decodeIfPresent(Int.self, forKey: .compared) ?? 0
        self.outputs = try container.decodeIfPresent([String: OutputEvidence].self, forKey: .outputs) ?? [:]
        self.labelled = try container.decodeIfPresent(Int.self, forKey: .labelled) ?? 0
        self.correct = try container.decodeIfPresent(Int.self, forKey: .correct) ?? 0
        let predictions = try container.decodeIfPresent([String: Int].self, forKey: .predictions) ?? [:]
        self.predictions = Dictionary(
            uniqueKeysWithValues: predictions.compactMap { key, value in Int64(key).map { ($0, value) } })
        for pair in try container.decodeIfPresent([[UInt64]].self, forKey: .latency) ?? [] where pair.count == 2 {
            _ = self.latency.record(min(max(pair[0], 1), self.latency.highestTrackableValue), count: pair[1])
        }
    }
}
