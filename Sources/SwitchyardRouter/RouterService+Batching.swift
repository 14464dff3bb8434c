import Foundation
import Logging
public import SwitchyardRouting
import SwitchyardTransport
import SwitchyardWire

/// The router's batching methods: `batching.status` (any client) answers a model's limits, `batching.set` (admin)
/// changes them while the router serves, on every stage's batcher of the model. A change lasts until the router
/// restarts; the model's `config.json` and the router's flags give the limits it starts with.
///
/// `batching.set` takes `model` and any of the parameters `max_batch_size` (1...65536), `max_queue_delay_us`
/// (0...10000000), `max_queue_size` (1...1000000), `max_queue_time_us` (0...600000000, 0 for no limit),
/// `saturated_queue_time_us` (0...600000000, 0 for off), `preferred_batch_sizes` (comma-separated, empty for none)
/// and `max_batches_in_flight` (1...64, per stage instance). Both answer the limits now as JSON in `batching`
/// (schema: ``BatchingStatus``).
extension RouterService {
    func batching(_ request: Request, context: RequestContext) throws(RouterError) -> Response {
        guard self.models.contains(request.model) else {
            throw RouterError(.unknownModel, "no model '\(request.model)' on this router")
        }
        var configuration = self.batchers.configuration(of: request.model)!
        if request.method == Method.batchingSet {
            guard Self.batchingKeys.contains(where: { request[parameter: $0] != nil }) else {
                throw RouterError(
                    .invalidArgument,
                    "batching.set needs at least one of \(Self.batchingKeys.joined(separator: ", "))"
                )
            }
            let changed = try Self.batchingChange(from: request, applied: configuration)
            configuration = self.batchers.update(model: request.model) { $0 = changed }!
            self.logger.notice(
                "batching changed",
                metadata: [
                    "model": "\(request.model)", "peer": "\(context.peer)",
                    "batch.max_size": "\(configuration.maxBatchSize)",
                    "batch.max_queue_delay": "\(configuration.maxQueueDelay)",
                    "batch.max_queue_size": "\(configuration.maxQueueSize)",
                    "batch.max_queue_time": "\(configuration.maxQueueTime.map { "\($0)" } ?? "none")",
                    "batch.saturated_queue_time": "\(configuration.saturatedQueueTime.map { "\($0)" } ?? "off")",
                    "batch.preferred_sizes": "\(configuration.preferredBatchSizes)",
                    "batch.max_in_flight": "\(configuration.maxBatchesInFlight)",
                ]
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // a struct of numbers and a string always encodes
        let json = (try? encoder.encode(BatchingStatus(model: request.model, configuration))) ?? Data("{}".utf8)
        return Response(parameters: [Parameter(ParameterKey.batching, String(decoding: json, as: UTF8.self))])
    }

    /// The limits `batching.set` changes.
    static let batchingKeys = [
        ParameterKey.maxBatchSize, ParameterKey.maxQueueDelayMicroseconds, ParameterKey.maxQueueSize,
        ParameterKey.maxQueueTimeMicroseconds, ParameterKey.saturatedQueueTimeMicroseconds,
        ParameterKey.preferredBatchSizes, ParameterKey.maxBatchesInFlight,
    ]

    /// The limits after a `batching.set` request: `applied` with each parameter given replacing its field.
    /// - Throws: `RouterError.invalidArgument` naming the parameter and its range.
    static func batchingChange(
        from request: Request,
        applied: BatcherConfiguration
    ) throws(RouterError) -> BatcherConfiguration {
        var configuration = applied
        func integer(_ key: String, _ range: ClosedRange<Int>) throws(RouterError) -> Int? {
            guard let text = request[parameter: key] else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
                throw RouterError(
                    .invalidArgument,
                    "'\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound), not '\(text)'"
                )
            }
            return value
        }
        if let value = try integer(ParameterKey.maxBatchSize, 1...65536) { configuration.maxBatchSize = value }
        if let value = try integer(ParameterKey.maxQueueDelayMicroseconds, 0...10_000_000) {
            configuration.maxQueueDelay = .microseconds(value)
        }
        if let value = try integer(ParameterKey.maxQueueSize, 1...1_000_000) { configuration.maxQueueSize = value }
        if let value = try integer(ParameterKey.maxQueueTimeMicroseconds, 0...600_000_000) {
            configuration.maxQueueTime = value == 0 ? nil : .microseconds(value)
        }
        if let value = try integer(ParameterKey.saturatedQueueTimeMicroseconds, 0...600_000_000) {
            configuration.saturatedQueueTime = value == 0 ? nil : .microseconds(value)
        }
        if let value = try integer(ParameterKey.maxBatchesInFlight, 1...64) { configuration.maxBatchesInFlight = value }
        if let text = request[parameter: ParameterKey.preferredBatchSizes] {
            var sizes: [Int] = []
            for part in text.split(separator: ",") {
                guard let size = Int(part.trimmingCharacters(in: .whitespaces)), (1...65536).contains(size) else {
                    throw RouterError(
                        .invalidArgument,
                        "'preferred_batch_sizes' must be batch sizes like 8,16,32, not '\(text)'"
                    )
                }
                sizes.append(size)
            }
            configuration.preferredBatchSizes = sizes.sorted()
        }
        return configuration
    }
}

/// A model's batching limits as `batching.status` and `batching.set` report them (JSON, snake_case keys); the
/// same for every stage, batches in flight per stage instance.
public struct BatchingStatus: Codable, Sendable, Equatable {
    public var model: String
    public var maxBatchSize: Int
    public var maxQueueDelayMicroseconds: Int64
    public var maxQueueSize: Int
    /// `nil`: no limit.
    public var maxQueueTimeMicroseconds: Int64?
    /// The limit while a stage is saturated; `nil`: off.
    public var saturatedQueueTimeMicroseconds: Int64?
    public var preferredBatchSizes: [Int]
    public var maxBatchesInFlight: Int

    /// The status of `model` with `configuration`.
    public init(model: String, _ configuration: BatcherConfiguration) {
        self.model = model
        self.maxBatchSize = configuration.maxBatchSize
        let (seconds, attoseconds) = configuration.maxQueueDelay.components
        self.maxQueueDelayMicroseconds = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        self.maxQueueSize = configuration.maxQueueSize
        self.maxQueueTimeMicroseconds = configuration.maxQueueTime.map(Self.microseconds)
        self.saturatedQueueTimeMicroseconds = configuration.saturatedQueueTime.map(Self.microseconds)
        self.preferredBatchSizes = configuration.preferredBatchSizes
        self.maxBatchesInFlight = configuration.maxBatchesInFlight
    }

    private static func microseconds(_ time: Duration) -> Int64 {
        let (seconds, attoseconds) = time.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    enum CodingKeys: String, CodingKey {
        case model
        case maxBatchSize = "max_batch_size"
        case maxQueueDelayMicroseconds = "max_queue_delay_us"
        case maxQueueSize = "max_queue_size"
        case maxQueueTimeMicroseconds = "max_queue_time_us"
        case saturatedQueueTimeMicroseconds = "saturated_queue_time_us"
        case preferredBatchSizes = "preferred_batch_sizes"
        case maxBatchesInFlight = "max_batches_in_flight"
    }
}
