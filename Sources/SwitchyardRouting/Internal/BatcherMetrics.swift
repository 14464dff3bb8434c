internal import Metrics

/// What a ``Batcher`` records: the rows of every batch it sends and its queue depth.
struct BatcherMetrics: Sendable {
    private let batchSize: Recorder
    private let queueDepth: Gauge

    /// - Parameter dimensions: labels of every series, e.g. `model` and `stage`.
    init(dimensions: [(String, String)], factory: any MetricsFactory) {
        self.batchSize = Recorder(
            label: "switchyard_batch_size",
            dimensions: dimensions,
            aggregate: true,
            factory: factory
        )
        self.queueDepth = Gauge(label: "switchyard_batch_queue_depth", dimensions: dimensions, factory: factory)
    }

    func recordBatch(rows: Int) { self.batchSize.record(rows) }

    func recordQueueDepth(_ depth: Int) { self.queueDepth.record(depth) }
}
