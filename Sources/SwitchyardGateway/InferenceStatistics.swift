import Foundation
internal import Synchronization

/// Per model version counts and times of `infer` requests, for Triton's statistics endpoint
/// (`GET /v2/models[/{name}[/versions/{v}]]/stats`).
///
/// Fed by ``StatisticsRecordingService`` around the router's handler, so wire and HTTP requests both count.
/// The router knows requests, not the model's executions: `execution_count`, `queue` and `compute_*` are not
/// reported (the inference service's metrics have the run times).
public final class InferenceStatistics: Sendable {
    /// The figures of one model version.
    public struct Figures: Sendable, Equatable {
        /// Successful requests and their summed latency in nanoseconds.
        public var successCount: UInt64 = 0
        public var successNanoseconds: UInt64 = 0
        /// Failed requests (any status but ok) and their summed latency in nanoseconds.
        public var failCount: UInt64 = 0
        public var failNanoseconds: UInt64 = 0
        /// Rows answered (a request of batch 8 counts 8), Triton's `inference_count`.
        public var inferenceCount: UInt64 = 0
        /// When the last request finished, in milliseconds since 1970.
        public var lastInferenceMilliseconds: UInt64 = 0

        public init() {}
    }

    private struct Key: Hashable, Comparable {
        var model: String
        var version: String

        static func < (lhs: Key, rhs: Key) -> Bool { (lhs.model, lhs.version) < (rhs.model, rhs.version) }
    }

    private let figures = Mutex<[Key: Figures]>([:])

    /// An empty record.
    public init() {}

    /// Records one finished request.
    /// - Parameters:
    ///   - model: the model's name.
    ///   - version: the version that answered (or was pinned); empty when unknown.
    ///   - ok: whether it succeeded.
    ///   - rows: the rows it carried.
    ///   - duration: how long it took.
    public func record(model: String, version: String, ok: Bool, rows: Int, duration: Duration) {
        let nanoseconds = UInt64(
            clamping: duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        self.figures.withLock { figures in
            var entry = figures[Key(model: model, version: version), default: Figures()]
            if ok {
                entry.successCount += 1
                entry.successNanoseconds += nanoseconds
                entry.inferenceCount += UInt64(max(rows, 0))
                entry.lastInferenceMilliseconds = now
            } else {
                entry.failCount += 1
                entry.failNanoseconds += nanoseconds
            }
            figures[Key(model: model, version: version)] = entry
        }
    }

    /// The figures recorded, by model and version, sorted.
    /// - Parameters:
    ///   - model: only this model, when given.
    ///   - version: only this version, when given.
    public func snapshot(model: String? = nil, version: String? = nil) -> [(
        model: String, version: String, figures: Figures
    )] {
        self.figures.withLock { $0 }
            .filter { entry in
                (model == nil || entry.key.model == model) && (version == nil || entry.key.version == version)
            }
            .sorted { $0.key < $1.key }
            .map { ($0.key.model, $0.key.version, $0.value) }
    }
}
