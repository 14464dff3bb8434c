public import Foundation

/// One latency measurement in the engine.
public struct LatencyMeasurement: Sendable, Codable, Equatable {
    /// Rows per call.
    public var batch: Int
    /// Median call latency.
    public var p50Microseconds: Double
    /// Rows per second at the median latency.
    public var rowsPerSecond: Double
    /// Calls measured.
    public var calls: Int
}

/// One model in a report: its size, quality and speed.
public struct ModelMeasurement: Sendable, Codable {
    /// `original`, `compressed`, or the name of a model compared beside them (such as `onnxruntime`).
    public var name: String
    /// The file, when it is on disk.
    public var path: String?
    /// Bytes of the serialized model.
    public var fileBytes: Int
    /// Bytes of its initializers (the weights).
    public var weightBytes: Int
    /// Accuracy against the labels, when there are labels.
    public var accuracy: Double?
    /// Top-1 agreement with the original on the same rows.
    public var agreement: Double?
    /// Engine latency and throughput per batch size.
    public var latency: [LatencyMeasurement]
}

/// What a compression tool did and what it measured, printed as a table and written with `--report FILE.json`.
public struct CompressionReport: Sendable, Codable {
    /// `quantize`, `prune` or `convert`.
    public var tool: String
    /// How the model was made (mode, method, sparsity, ...).
    public var settings: [String: String]
    /// Rows the models were judged on, and whether they had labels.
    public var rows: Int
    /// Whether accuracy is against true labels (else only agreement with the original is known).
    public var labelled: Bool
    /// The output whose top-1 class was judged.
    public var output: String
    /// The original first, then the compressed model, then any compared models.
    public var models: [ModelMeasurement]
    /// What was changed or kept, one line each.
    public var notes: [String]
    /// The machine: CPU and the OpenBLAS core the engine runs.
    public var machine: [String: String]

    /// A report; `models` holds the original first, then the compressed model, then any compared ones.
    public init(
        tool: String,
        settings: [String: String],
        rows: Int,
        labelled: Bool,
        output: String,
        models: [ModelMeasurement],
        notes: [String],
        machine: [String: String]
    ) {
        self.tool = tool
        self.settings = settings
        self.rows = rows
        self.labelled = labelled
        self.output = output
        self.models = models
        self.notes = notes
        self.machine = machine
    }

    /// The report as pretty JSON (snake_case keys).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// The report for people: a table of the models side by side, ratios against the original, then the notes.
    public var text: String {
        var lines: [String] = []
        let settings = self.settings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        lines.append("yard \(self.tool): \(settings)")
        let quality =
            self.labelled ? "accuracy against \(self.rows) labelled rows" : "top-1 agreement on \(self.rows) rows"
        lines.append("judged on output '\(self.output)', \(quality); engine latency at the median, 1 thread")
        let batches = Array(Set(self.models.flatMap { $0.latency.map(\.batch) })).sorted()
        var header = ["model", "weights", "×smaller", "accuracy", "Δ pts", "agreement"]
        for batch in batches { header += ["b\(batch) µs", "b\(batch) rows/s", "b\(batch) ×"] }
        var rows = [header]
        let original = self.models.first
        for model in self.models {
            var row = [model.name, Self.bytes(model.weightBytes)]
            row.append(
                original.map { String(format: "%.2f", Double($0.weightBytes) / Double(max(model.weightBytes, 1))) }
                    ?? "-"
            )
            row.append(model.accuracy.map { String(format: "%.4f", $0) } ?? "-")
            if let accuracy = model.accuracy, let base = original?.accuracy {
                row.append(String(format: "%+.2f", (accuracy - base) * 100))
            } else {
                row.append("-")
            }
            row.append(model.agreement.map { String(format: "%.4f", $0) } ?? "-")
            for batch in batches {
                guard let measured = model.latency.first(where: { $0.batch == batch }) else {
                    row += ["-", "-", "-"]
                    continue
                }
                row.append(String(format: "%.1f", measured.p50Microseconds))
                row.append(String(format: "%.0f", measured.rowsPerSecond))
                if let base = original?.latency.first(where: { $0.batch == batch }) {
                    row.append(String(format: "%.2f", base.p50Microseconds / measured.p50Microseconds))
                } else {
                    row.append("-")
                }
            }
            rows.append(row)
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(
                row.enumerated().map { index, cell in
                    index == 0
                        ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                        : String(repeating: " ", count: widths[index] - cell.count) + cell
                }.joined(separator: "  ")
            )
        }
        if !self.machine.isEmpty {
            lines.append(
                self.machine.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            )
        }
        lines += self.notes
        return lines.joined(separator: "\n")
    }

    static func bytes(_ count: Int) -> String {
        if count >= 1 << 20 { return String(format: "%.2f MiB", Double(count) / Double(1 << 20)) }
        if count >= 1 << 10 { return String(format: "%.1f KiB", Double(count) / 1024) }
        return "\(count) B"
    }
}
