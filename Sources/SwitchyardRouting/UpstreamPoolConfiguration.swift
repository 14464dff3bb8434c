/// Load balancing, outlier ejection and retry limits of an ``UpstreamPool``, named and defaulted after Envoy's
/// `outlier_detection` and `retry_budget`.
public struct UpstreamPoolConfiguration: Sendable, Hashable {
    /// Consecutive `unavailable` or `internal` answers after which an instance is ejected
    /// (Envoy's `consecutive_5xx`).
    public var consecutiveFailures: Int = 5
    /// Ejection time for the first ejection; the n-th ejection lasts n times as long (`base_ejection_time`).
    public var baseEjectionTime: Duration = .seconds(30)
    /// Longest ejection, however many came before (`max_ejection_time`).
    public var maxEjectionTime: Duration = .seconds(300)
    /// Most instances ejected at once, in percent of the pool; at least one may always be ejected, and never
    /// the last one left (`max_ejection_percent`).
    public var maxEjectionPercent: Int = 10
    /// Retries allowed while retries in flight stay within this percentage of requests in flight
    /// (`retry_budget.budget_percent`).
    public var retryBudgetPercent: Int = 20
    /// Retries allowed in flight whatever the budget says (`retry_budget.min_retry_concurrency`).
    public var minRetryConcurrency: Int = 3
    /// Most retries of one request, each on an instance not tried before when there is one (`num_retries`).
    public var maxRetries: Int = 2
    /// How long an instance added while the pool serves takes to reach its full share, after its first passing
    /// health check (Envoy's `slow_start_window`); zero: at once.
    public var slowStartWindow: Duration = .seconds(10)
    /// Its share at the start of the window, as a fraction of a full one (`min_weight_percent`).
    public var slowStartMinimumWeight: Double = 0.1
    /// Below this share of healthy, admitted instances (in percent of those in rotation), traffic goes to every
    /// instance, ejected or failing its health checks, rather than to the few left (`healthy_panic_threshold`).
    public var healthyPanicThreshold: Int = 50
    /// A fixed per-try timeout; `nil` derives it from the predicted execution time (`per_try_timeout`).
    public var perTryTimeout: Duration? = nil
    /// The derived per-try timeout is this multiple of the predicted execution time of the attempt...
    public var perTryTimeoutMultiplier: Double = 4
    /// ...and at least this long, so that scheduling noise on a busy host does not look like a hung instance.
    public var minimumPerTryTimeout: Duration = .milliseconds(50)
    /// When an idempotent request's attempt outlives its per-try timeout, another attempt starts on another instance
    /// and the first answer wins (`hedge_on_per_try_timeout`). A per-try timeout counts as a failure of the
    /// instance (a late answer clears it, as any answer does), so a hung instance is ejected after
    /// ``consecutiveFailures`` of them. Requests that are not idempotent keep waiting for their one attempt.
    public var hedgeOnPerTryTimeout: Bool = true
    /// Each instance's attempts in flight are limited adaptively, from the latency it shows (Envoy's adaptive
    /// concurrency); a ``Batcher`` in front of the pool keeps what exceeds the limits in its queue. `nil`: no limits.
    public var adaptiveConcurrency: AdaptiveConcurrencyConfiguration? = AdaptiveConcurrencyConfiguration()

    /// The defaults.
    public init() {}

    /// The defaults, changed by `configure`.
    /// - Parameter configure: edits the defaults.
    public static func defaults(configure: (inout Self) -> Void) -> Self {
        var configuration = Self()
        configure(&configuration)
        return configuration
    }
}
