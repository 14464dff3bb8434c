import Foundation
import SwitchyardTensor
import SwitchyardTransport
import SwitchyardWire
import Synchronization

/// `yard load --feedback LABELS.npy`: the true label of each answered request's row goes back to the router under
/// the answer's `request.id`, in batches on a connection of its own, while the load runs, as an app that learns
/// its labels soon after would send them.
final class FeedbackStream: Sendable {
    private let labels: [Int64]
    private let client: WireClient
    private let pending = Mutex<FeedbackBatch>(FeedbackBatch())
    private let totals = Mutex((sent: 0, accepted: 0, unknown: 0, failed: 0, missing: 0))
    /// Labels that trigger a send before the next flush.
    static let flushAt = 2_000
    /// Longest a label waits.
    static let interval: Duration = .milliseconds(100)

    /// Makes a stream of `labels` (one per input row) to the router behind `client`.
    init(labels: [Int64], client: WireClient) {
        self.labels = labels
        self.client = client
    }

    /// Keeps the label of an answered request.
    func observe(firstRow: Int, response: Response) {
        guard let id = response[parameter: ParameterKey.requestID], firstRow < self.labels.count else {
            self.totals.withLock { $0.missing += 1 }
            return
        }
        self.pending.withLock {
            $0.ids.append(id)
            $0.labels.append(self.labels[firstRow])
        }
    }

    /// Sends what is pending every ``interval`` until cancelled, then once more.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.interval)
            await self.flush()
        }
        await self.flush()
    }

    /// Sends the pending labels now, in batches.
    func flush() async {
        let batch = self.pending.withLock { pending in
            defer { pending = FeedbackBatch() }
            return pending
        }
        for start in stride(from: 0, to: batch.ids.count, by: FeedbackBatch.batchSize) {
            let range = start..<min(start + FeedbackBatch.batchSize, batch.ids.count)
            do {
                let response = try await self.client.call(
                    try batch.request(range), deadline: .now.advanced(by: .seconds(10))
                )
                let accepted = Int(response[parameter: ParameterKey.accepted] ?? "") ?? 0
                let unknown = Int(response[parameter: ParameterKey.unknown] ?? "") ?? 0
                self.totals.withLock {
                    $0.sent += range.count
                    $0.accepted += accepted
                    $0.unknown += unknown
                }
            } catch {
                self.totals.withLock { $0.failed += range.count }
            }
        }
    }

    /// Closes the connection.
    func close() async { await self.client.close() }

    /// One line for the report.
    var summary: String {
        let totals = self.totals.withLock { $0 }
        var line =
            "feedback: \(totals.sent) labels sent, \(totals.accepted) scored, \(totals.unknown) not scored "
            + "(the answer belonged to no rollout or comparison, or to an earlier step)"
        if totals.failed > 0 { line += ", \(totals.failed) could not be sent" }
        if totals.missing > 0 { line += ", \(totals.missing) answers without a request.id" }
        return line
    }
}

/// `yard load --ids-out FILE`: every answer's `request.id` with the input row it answered, for labels that are
/// known only later (`yard rollout feedback --file`, after joining rows with their labels).
final class AnsweredIDs: Sendable {
    private let answers = Mutex<[(id: String, row: Int)]>([])

    func add(_ id: String, row: Int) { self.answers.withLock { $0.append((id, row)) } }

    /// `request_id,row` lines with a header.
    var csv: String {
        (["request_id,row"] + self.answers.withLock { $0 }.map { "\($0.id),\($0.row)" }).joined(separator: "\n") + "\n"
    }
}
