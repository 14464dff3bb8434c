/// Predicts how long the upstream takes for a batch of a given size, learned online from finished batches.
///
/// Each observed size keeps an exponentially weighted moving average. An unobserved size borrows from the
/// nearest larger observed size (a larger batch does not run faster), else scales the nearest smaller one
/// linearly (batching is sublinear, so this overestimates), else uses the initial estimate.
public struct ExecutionTimePredictor: Sendable, Hashable {
    /// Weight of a new observation in the moving average.
    public var smoothing: Double
    /// The estimate for sizes with no observation nearby.
    public var initialEstimate: Duration
    /// Average duration per observed batch size (rows).
    public private(set) var averages: [Int: Duration] = [:]

    /// An observation counts for at most this many times the average so far.
    static let maxOutlierRatio = 4.0

    /// Makes a predictor that knows nothing yet.
    /// - Parameters:
    ///   - initialEstimate: what to predict before anything is observed.
    ///   - smoothing: weight of each new observation, in `0...1`.
    public init(initialEstimate: Duration, smoothing: Double = 0.2) {
        self.initialEstimate = initialEstimate
        self.smoothing = min(max(smoothing, 0), 1)
    }

    /// Records the duration of a finished batch.
    /// - Parameters:
    ///   - rows: the batch size.
    ///   - duration: from send to answer.
    public mutating func observe(rows: Int, duration: Duration) {
        guard rows >= 1 else { return }
        // one outlier (a cold start, a stall of the host) counts for at most a few times what was expected, so that
        // admission by predicted time does not refuse on it; a real change gets there in a few batches
        let expected = self.averages[rows] ?? self.predict(rows: rows)
        let damped = expected > .zero ? min(duration, expected * Self.maxOutlierRatio) : duration
        if let previous = self.averages[rows] {
            self.averages[rows] = previous * (1 - self.smoothing) + damped * self.smoothing
        } else {
            self.averages[rows] = damped
        }
    }

    /// The predicted duration of a batch of `rows` rows.
    /// - Parameter rows: the batch size.
    public func predict(rows: Int) -> Duration {
        if let exact = self.averages[rows] { return exact }
        var larger: (rows: Int, duration: Duration)? = nil
        var smaller: (rows: Int, duration: Duration)? = nil
        for (size, duration) in self.averages {
            if size > rows, larger == nil || size < larger!.rows { larger = (size, duration) }
            if size < rows, smaller == nil || size > smaller!.rows { smaller = (size, duration) }
        }
        if let larger { return larger.duration }
        if let smaller { return smaller.duration * (Double(rows) / Double(smaller.rows)) }
        return self.initialEstimate
    }
}
