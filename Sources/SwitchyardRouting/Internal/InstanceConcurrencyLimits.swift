/// An ``UpstreamPool``'s adaptive concurrency limits, one per instance, made on an instance's first sample; the
/// pool's hook into ``AdaptiveConcurrencyLimit``.
struct InstanceConcurrencyLimits<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// `nil`: no limits (every instance is unlimited).
    private(set) var configuration: AdaptiveConcurrencyConfiguration?
    private var limits: [String: AdaptiveConcurrencyLimit<Instant>] = [:]

    init(configuration: AdaptiveConcurrencyConfiguration?) { self.configuration = configuration }

    /// New settings: every instance starts over from the initial limit.
    mutating func update(configuration: AdaptiveConcurrencyConfiguration?) {
        guard configuration != self.configuration else { return }
        self.configuration = configuration
        self.limits.removeAll()
    }

    /// The limit of an instance now; `nil` when limits are off.
    func limit(of instance: String) -> Int? {
        guard let configuration = self.configuration else { return nil }
        return self.limits[instance]?.limit ?? configuration.normalized.initialLimit
    }

    /// The state of an instance's limit, if it has one yet.
    subscript(instance: String) -> AdaptiveConcurrencyLimit<Instant>? { self.limits[instance] }

    mutating func answered(_ instance: String, kind: Int, rows: Int, latency: Duration, now: Instant) {
        guard let configuration = self.configuration else { return }
        self.limits[instance, default: AdaptiveConcurrencyLimit(configuration: configuration, now: now)]
            .answered(kind: kind, rows: rows, latency: latency, now: now)
    }

    mutating func dropped(_ instance: String, now: Instant) {
        guard let configuration = self.configuration else { return }
        self.limits[instance, default: AdaptiveConcurrencyLimit(configuration: configuration, now: now)]
            .dropped(now: now)
    }

    /// A removed instance's limit goes with it.
    mutating func forget(_ instance: String) { self.limits.removeValue(forKey: instance) }
}
