import ArgumentParser
import Foundation
import SwitchyardEngine
import SwitchyardTensor
import SwitchyardWire

/// Labels for earlier answers, sent to the router's `feedback` in batches: one request per `batchSize` labels
/// (request ids as a `bytes` tensor, labels as an `i64` tensor), so that a file of a million labels takes seconds,
/// not a connection per label.
struct FeedbackBatch {
    /// Labels per `feedback` request.
    static let batchSize = 5_000

    var ids: [String] = []
    var labels: [Int64] = []

    /// The `feedback` request of labels `range`.
    func request(_ range: Range<Int>) throws -> Request {
        Request(
            method: Method.feedback,
            tensors: [
                NamedTensor(ParameterKey.feedbackRequestID, try Tensor(strings: Array(self.ids[range]))),
                NamedTensor(ParameterKey.label, try Tensor(Array(self.labels[range]))),
            ]
        )
    }

    /// Reads labels from files: a CSV of `request_id,label` lines (a header line is skipped), or a `.npy` (or
    /// one-number-per-line text file) of labels with the ids, one per line, in `ids`.
    /// - Throws: `ValidationError` naming the file and line that cannot be read.
    static func read(file: String?, labels: String?, ids: String?) throws -> FeedbackBatch {
        var batch = FeedbackBatch()
        if let file {
            let text = try Self.text(file)
            for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard fields.count == 2, !fields[0].isEmpty, let label = Int64(fields[1]) else {
                    if number == 0 { continue }  // a header
                    throw ValidationError("\(file):\(number + 1): expected request_id,label, got '\(line)'")
                }
                batch.ids.append(fields[0])
                batch.labels.append(label)
            }
            return batch
        }
        guard let labels, let ids else { throw ValidationError("give --file, or --labels with --ids") }
        batch.ids = try Self.text(ids).split(whereSeparator: \.isNewline).map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        batch.labels = try Self.labels(labels)
        guard batch.ids.count == batch.labels.count else {
            throw ValidationError(
                "\(ids) has \(batch.ids.count) request ids but \(labels) has \(batch.labels.count) labels")
        }
        return batch
    }

    /// Class labels from a `.npy` of integers (one per row) or a text file of one integer per line.
    static func labels(_ path: String) throws -> [Int64] {
        if path.hasSuffix(".npy") {
            do {
                let tensor = try NPY.read(path)
                guard tensor.shape.rank >= 1, tensor.elementCount == tensor.shape[0] else {
                    throw ValidationError("\(path) must hold one label per row, not shape \(tensor.shape)")
                }
                switch tensor.dtype {
                case .int64, .int32, .int8, .uint8: return try tensor.converted(to: .int64).scalars(as: Int64.self)
                default: throw ValidationError("\(path) holds \(tensor.dtype); labels are integer classes")
                }
            } catch let error as EngineError {
                throw ValidationError(error.message)
            }
        }
        return try Self.text(path).split(whereSeparator: \.isNewline).enumerated().map { number, line in
            guard let value = Int64(line.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("\(path):\(number + 1): '\(line)' is not an integer label")
            }
            return value
        }
    }

    static func text(_ path: String) throws -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// Sends every label, a batch per request, and prints what the router scored.
    func send(_ connection: RouterConnection, _ command: String) async throws {
        let started = ContinuousClock.now
        var accepted = 0
        var unknown = 0
        for start in stride(from: 0, to: self.ids.count, by: Self.batchSize) {
            let response = try await connection.send(
                command, try self.request(start..<min(start + Self.batchSize, self.ids.count)))
            accepted += Int(response[parameter: ParameterKey.accepted] ?? "") ?? 0
            unknown += Int(response[parameter: ParameterKey.unknown] ?? "") ?? 0
        }
        let elapsed = started.duration(to: .now)
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 1e-9)
        if connection.json {
            print("{\"accepted\":\(accepted),\"unknown\":\(unknown),\"seconds\":\(seconds)}")
        } else {
            print(
                "\(accepted) labels scored, \(unknown) not "
                    + "(unknown, too old, of an earlier step, or labelled already); "
                    + String(format: "%.0f labels/s", Double(self.ids.count) / seconds)
            )
        }
    }
}

/// The options of `yard rollout feedback` and `yard ab feedback`.
struct FeedbackOptions: ParsableArguments {
    @Option(help: "The request.id of one answer (with --label).") var requestID: String?
    @Option(help: "The true class of that answer.") var label: Int64?
    @Option(help: "A CSV file of request_id,label lines (a header line is skipped).") var file: String?
    @Option(help: "A .npy (or one-per-line text) file of labels, with --ids.") var labels: String?
    @Option(help: "A file of request ids, one per line, in the order of --labels.") var ids: String?

    func validate() throws {
        let single = self.requestID != nil || self.label != nil
        let files = self.file != nil || self.labels != nil || self.ids != nil
        guard single != files else {
            throw ValidationError("give --request-id with --label, or --file, or --labels with --ids")
        }
        if single, self.requestID == nil || self.label == nil {
            throw ValidationError("--request-id and --label go together")
        }
        if self.file == nil, files, self.labels == nil || self.ids == nil {
            throw ValidationError("--labels and --ids go together")
        }
    }

    /// Sends the labels.
    func run(_ connection: RouterConnection, _ command: String) async throws {
        if let requestID, let label {
            let response = try await connection.send(
                command,
                Request(
                    method: Method.feedback,
                    parameters: [
                        Parameter(ParameterKey.feedbackRequestID, requestID), Parameter(ParameterKey.label, "\(label)"),
                    ]
                )
            )
            if connection.json { print("{\"accepted\":\(response[parameter: ParameterKey.accepted] ?? "1")}") }
            return
        }
        let batch = try FeedbackBatch.read(file: self.file, labels: self.labels, ids: self.ids)
        try await batch.send(connection, command)
    }
}
