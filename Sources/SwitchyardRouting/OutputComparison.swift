public import SwitchyardTensor

/// What an output of a model is, for comparing two versions' answers to the same inputs.
public enum OutputKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Integer or string classes (e.g. `label`): compared row by row for equality.
    case labels
    /// Several float scores per row (logits, margins): top-1 per row, and the mean absolute difference.
    case scores
    /// Scores that are distributions (non-negative, each row summing to 1): as scores, and the Jensen–Shannon
    /// divergence of the two distributions.
    case probabilities
    /// One float per row (regression): the symmetric relative difference `|c − s| / ((|c| + |s|) / 2)`.
    case values
}

/// Compares two versions' answers to the same inputs, output by output and row by row: every output a model
/// produces is judged, not only its labels, so that a version whose probabilities are wrong while its `label`
/// output is right, or a regression model with a bias, shows up.
public enum OutputComparison {
    /// How one output of one request differed, row by row.
    public struct Rows: Sendable, Equatable {
        public var kind: OutputKind
        /// Rows compared.
        public var rows = 0
        /// Rows whose label or top-1 differed.
        public var disagreed = 0
        /// Per row: mean absolute difference of the scores (scores, probabilities, values).
        public var scoreDifference: [Double] = []
        /// Per row: Jensen–Shannon divergence in nats, 0 ... ln 2 (probabilities).
        public var jensenShannon: [Double] = []
        /// Per row: symmetric relative difference, 0 ... 2, and the same with the candidate's sign (values).
        public var relativeDifference: [Double] = []
        public var signedRelativeDifference: [Double] = []
    }

    /// Compares every output the two answers share (by name); outputs of other types, or whose row counts or
    /// widths differ, are reported as disagreeing on every row, since the candidate answers something else.
    /// - Parameters:
    ///   - stable: the reference version's outputs.
    ///   - candidate: the version under test's outputs for the same inputs.
    ///   - kinds: a kind per output name that overrides the one inferred from the data.
    public static func compare(
        stable: [NamedTensor], candidate: [NamedTensor], kinds: [String: OutputKind] = [:]
    ) -> [String: Rows] {
        var result: [String: Rows] = [:]
        for ours in candidate {
            guard let theirs = stable.first(where: { $0.name == ours.name }) else { continue }
            if let rows = Self.compare(stable: theirs.tensor, candidate: ours.tensor, kind: kinds[ours.name]) {
                result[ours.name] = rows
            }
        }
        return result
    }

    /// One output; `nil` for outputs that cannot be compared (no rows).
    static func compare(stable: Tensor, candidate: Tensor, kind forced: OutputKind?) -> Rows? {
        guard stable.shape.rank >= 1, let count = stable.shape.dims.first, count > 0 else { return nil }
        let width = stable.shape.rank == 1 ? 1 : stable.elementCount / count
        let sameShape = candidate.shape == stable.shape
        if let a = Self.integers(stable), forced == nil || forced == .labels {
            guard sameShape, let b = Self.integers(candidate) else { return Self.mismatched(.labels, rows: count) }
            var rows = Rows(kind: .labels, rows: count)
            for row in 0..<count where a[(row * width)..<((row + 1) * width)] != b[(row * width)..<((row + 1) * width)]
            {
                rows.disagreed += 1
            }
            return rows
        }
        if stable.dtype == .bytes, forced == nil || forced == .labels {
            guard sameShape, let a = try? stable.strings(), let b = try? candidate.strings() else {
                return Self.mismatched(.labels, rows: count)
            }
            var rows = Rows(kind: .labels, rows: count)
            for row in 0..<count where a[(row * width)..<((row + 1) * width)] != b[(row * width)..<((row + 1) * width)]
            {
                rows.disagreed += 1
            }
            return rows
        }
        guard let s = Self.floats(stable) else { return nil }
        let kind = forced ?? (width == 1 ? .values : Self.isDistribution(s, width: width) ? .probabilities : .scores)
        guard sameShape, let c = Self.floats(candidate) else { return Self.mismatched(kind, rows: count) }
        var rows = Rows(kind: kind, rows: count)
        for row in 0..<count {
            let a = s[(row * width)..<((row + 1) * width)]
            let b = c[(row * width)..<((row + 1) * width)]
            var difference = 0.0
            for (x, y) in zip(a, b) { difference += abs(x - y) }
            rows.scoreDifference.append(difference / Double(width))
            switch kind {
            case .values, .labels:
                var relative = 0.0
                var signed = 0.0
                for (x, y) in zip(a, b) {
                    let scale = max((abs(x) + abs(y)) / 2, 1e-9)
                    relative += abs(y - x) / scale
                    signed += (y - x) / scale
                }
                rows.relativeDifference.append(relative / Double(width))
                rows.signedRelativeDifference.append(signed / Double(width))
            case .scores, .probabilities:
                if Self.top1(a) != Self.top1(b) { rows.disagreed += 1 }
                if kind == .probabilities { rows.jensenShannon.append(Self.jensenShannon(a, b)) }
            }
        }
        return rows
    }

    /// Every row differs: the candidate's output has another type or shape.
    static func mismatched(_ kind: OutputKind, rows count: Int) -> Rows {
        var rows = Rows(kind: kind, rows: count, disagreed: count)
        switch kind {
        case .labels: break
        case .scores: rows.scoreDifference = Array(repeating: 1, count: count)
        case .probabilities:
            rows.scoreDifference = Array(repeating: 1, count: count)
            rows.jensenShannon = Array(repeating: 0.6931471805599453, count: count)
        case .values:
            rows.relativeDifference = Array(repeating: 2, count: count)
            rows.signedRelativeDifference = Array(repeating: 0, count: count)
        }
        return rows
    }

    /// The top-1 class of every row of an answer: its `label` output if it has an integer one, else the argmax of
    /// its first float output with several columns; `nil` when it has neither.
    public static func classes(_ outputs: [NamedTensor]) -> [Int64]? {
        if let label = outputs.first(where: { $0.name == "label" })?.tensor, let values = Self.integers(label),
            label.shape.rank >= 1, values.count == label.shape[0]
        {
            return values
        }
        for output in outputs where output.tensor.shape.rank == 2 && output.tensor.shape[1] > 1 {
            guard let values = Self.floats(output.tensor) else { continue }
            let width = output.tensor.shape[1]
            return stride(from: 0, to: values.count, by: width).map { Int64(Self.top1(values[$0..<($0 + width)])) }
        }
        return nil
    }

    static func top1(_ row: ArraySlice<Double>) -> Int {
        var best = row.startIndex
        for index in row.indices where row[index] > row[best] { best = index }
        return best - row.startIndex
    }

    /// JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q) / 2, in nats.
    static func jensenShannon(_ p: ArraySlice<Double>, _ q: ArraySlice<Double>) -> Double {
        var total = 0.0
        for (x, y) in zip(p, q) {
            let a = max(x, 0)
            let b = max(y, 0)
            let m = (a + b) / 2
            if a > 0 { total += a * Statistics.log(a / m) }
            if b > 0 { total += b * Statistics.log(b / m) }
        }
        return max(0, min(total / 2, 0.6931471805599453))
    }

    /// Whether every row is a distribution: no value below 0 and each row summing to 1 (within 10⁻³).
    static func isDistribution(_ values: [Double], width: Int) -> Bool {
        guard width > 1 else { return false }
        for start in stride(from: 0, to: values.count, by: width) {
            var sum = 0.0
            for value in values[start..<(start + width)] {
                if value < -1e-6 || !value.isFinite { return false }
                sum += value
            }
            if abs(sum - 1) > 1e-3 { return false }
        }
        return true
    }

    static func integers(_ tensor: Tensor) -> [Int64]? {
        switch tensor.dtype {
        case .int64: try? tensor.scalars(as: Int64.self)
        case .int32: (try? tensor.scalars(as: Int32.self))?.map(Int64.init)
        case .int8: (try? tensor.scalars(as: Int8.self))?.map(Int64.init)
        case .uint8: (try? tensor.scalars(as: UInt8.self))?.map(Int64.init)
        case .bool: (try? tensor.scalars(as: Bool.self))?.map { $0 ? 1 : 0 }
        default: nil
        }
    }

    static func floats(_ tensor: Tensor) -> [Double]? {
        switch tensor.dtype {
        case .float32: (try? tensor.scalars(as: Float.self))?.map(Double.init)
        case .float64: try? tensor.scalars(as: Double.self)
        default: nil
        }
    }
}

/// What the comparisons of one output added up to over a window: rows, top-1 disagreements and the running sums
/// of each distance, from which the gates take a mean and its confidence sequence.
public struct OutputEvidence: Sendable, Hashable, Codable {
    public var kind: OutputKind
    public private(set) var rows = 0
    public private(set) var disagreed = 0
    public private(set) var scoreDifference = Moments()
    public private(set) var jensenShannon = Moments()
    public private(set) var relativeDifference = Moments()
    public private(set) var signedRelativeDifference = Moments()

    /// Empty evidence of an output of `kind`.
    public init(kind: OutputKind) { self.kind = kind }

    /// Adds one request's rows.
    public mutating func add(_ rows: OutputComparison.Rows) {
        self.rows += rows.rows
        self.disagreed += rows.disagreed
        for value in rows.scoreDifference { self.scoreDifference.add(value) }
        for value in rows.jensenShannon { self.jensenShannon.add(value) }
        for value in rows.relativeDifference { self.relativeDifference.add(value) }
        for value in rows.signedRelativeDifference { self.signedRelativeDifference.add(value) }
    }

    /// Top-1 (or label) disagreement as a fraction of rows; `nil` for regression outputs or with no rows.
    public var disagreement: Double? {
        self.kind == .values || self.rows == 0 ? nil : Double(self.disagreed) / Double(self.rows)
    }

    enum CodingKeys: String, CodingKey {
        case kind, rows, disagreed
        case scoreDifference = "score_difference"
        case jensenShannon = "jensen_shannon"
        case relativeDifference = "relative_difference"
        case signedRelativeDifference = "signed_relative_difference"
    }
}
