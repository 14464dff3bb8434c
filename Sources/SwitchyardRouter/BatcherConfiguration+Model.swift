public import SwitchyardModelConfig
public import SwitchyardRouting

extension BatcherConfiguration {
    /// A model's batching: the router's settings, with what the model's `config.json` sets winning
    /// (`dynamic_batching`, after Triton), and the batch size capped by the model's `max_batch_size`.
    /// - Parameters:
    ///   - config: the model's config.
    ///   - defaults: the router's settings (its flags).
    public init(model config: ModelConfig, defaults: BatcherConfiguration) {
        self = defaults
        self.maxBatchSize = min(defaults.maxBatchSize, config.maxBatchSize ?? defaults.maxBatchSize)
        let own = config.dynamicBatching
        if let delay = own.maxQueueDelayMicroseconds { self.maxQueueDelay = .microseconds(delay) }
        if let size = own.maxQueueSize { self.maxQueueSize = size }
        if let sizes = own.preferredBatchSizes { self.preferredBatchSizes = sizes }
    }
}
