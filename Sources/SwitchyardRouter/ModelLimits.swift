import Foundation
public import SwitchyardRouting

/// A model's batching limits as an inference instance's `model.list` gives them (`model.limits`): what the router
/// needs of a model it learned from the fleet rather than from a repository of its own.
public struct ModelLimits: Sendable, Hashable {
    /// The model's name.
    public var name: String
    /// Its `max_batch_size`, when its config sets one.
    public var maxBatchSize: Int?
    /// Its `dynamic_batching.preferred_batch_size`.
    public var preferredBatchSizes: [Int]?
    /// Its `dynamic_batching.max_queue_delay_microseconds`.
    public var maxQueueDelayMicroseconds: Int?
    /// Its `dynamic_batching.max_queue_size`.
    public var maxQueueSize: Int?

    /// Reads the `model.limits` JSON; `nil` when it is not that.
    public init?(json: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let name = object["name"] as? String, !name.isEmpty
        else { return nil }
        self.name = name
        self.maxBatchSize = object["max_batch_size"] as? Int
        self.preferredBatchSizes = object["preferred_batch_size"] as? [Int]
        self.maxQueueDelayMicroseconds = object["max_queue_delay_microseconds"] as? Int
        self.maxQueueSize = object["max_queue_size"] as? Int
    }

    /// The router's batching for this model: its settings, with the model's own limits winning (as for a model
    /// read from a repository).
    /// - Parameter defaults: the router's settings.
    public func batching(defaults: BatcherConfiguration) -> BatcherConfiguration {
        var configuration = defaults
        if let size = self.maxBatchSize { configuration.maxBatchSize = min(defaults.maxBatchSize, max(1, size)) }
        if let delay = self.maxQueueDelayMicroseconds { configuration.maxQueueDelay = .microseconds(delay) }
        if let size = self.maxQueueSize { configuration.maxQueueSize = size }
        if let sizes = self.preferredBatchSizes { configuration.preferredBatchSizes = sizes }
        return configuration
    }
}
