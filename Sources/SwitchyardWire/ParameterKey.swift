/// The keys of the parameters that requests, answers and HELLO frames carry, defined once.
///
/// Dotted keys (`model.version`) are set by services on answers and HELLOs; snake_case keys (`step_seconds`) are
/// arguments of the release methods. `protocols/methods.md` specifies which method takes or answers which.
public enum ParameterKey {
    // MARK: HELLO

    /// The dtype codes added after wire revision 1.1 that the sender accepts (`16`: bf16); wire-v1.md §5.2.
    public static let tensorDTypes = "tensor.dtypes"

    // MARK: Answers

    /// The model version that answered an `infer`.
    public static let modelVersion = "model.version"
    /// The model's own run time for the batch, in microseconds (the inference service's answers).
    public static let computeMicroseconds = "compute.us"
    /// The id under which a `feedback` label can be reported for the answer (every router `infer` answer).
    public static let requestID = "request.id"
    /// `serving` in a `health` answer; the release state as JSON in the release methods' answers.
    public static let status = "status"
    /// A model the service serves, in a `health` answer (once per model).
    public static let model = "model"
    /// An A/B comparison's report as JSON (`ab.start`, `ab.report`, `ab.stop`).
    public static let report = "report"
    /// The release state document (`release.state`); the instance's state (`serving`, `draining`) in a `report`.
    public static let state = "state"

    // MARK: Requests

    /// Asks the router for a side of a running rollout or comparison: `candidate` (or `canary`, `challenger`) or
    /// `stable` (or `champion`); for testers before any public step.
    public static let versionTag = "version.tag"
    /// A W3C `traceparent` (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`): a request that carries no
    /// trace id in its header takes the one in here, so that a caller's trace reaches every hop and log line.
    public static let traceparent = "traceparent"
    /// A W3C `tracestate` (vendor trace data beside `traceparent`), passed on with it.
    public static let tracestate = "tracestate"
    /// The keys that describe a request's trace, not its answer: requests that differ only in these share batches.
    public static let traceContext: Set<String> = [traceparent, tracestate]

    // MARK: Echo

    /// Milliseconds the echo service waits before answering, to try deadlines, cancellation and drain.
    public static let echoDelayMilliseconds = "echo.delay_ms"

    // MARK: rollout.start

    /// The version rolled out.
    public static let candidate = "candidate"
    /// The version serving now, when none is pinned.
    public static let stable = "stable"
    /// The candidate's traffic percentages, step by step (`5,25,50,100`).
    public static let steps = "steps"
    /// Seconds each step lasts at least.
    public static let stepSeconds = "step_seconds"
    /// Candidate requests a step needs before the next.
    public static let minRequests = "min_requests"
    /// Percent of the candidate's requests also scored by the stable version.
    public static let shadowPercent = "shadow_percent"
    /// Most the candidate's error rate may exceed the stable version's (a fraction).
    public static let maxErrorRateIncrease = "max_error_rate_increase"
    /// Most the candidate's p99 latency may be, as a multiple of the stable version's.
    public static let maxLatencyRatio = "max_latency_ratio"
    /// Most shadow-scored answers whose top-1 differs between the versions, as a fraction.
    public static let maxDisagreement = "max_disagreement"
    /// Candidate requests or comparisons before a gate is judged at all.
    public static let minSamples = "min_samples"
    /// Timed requests on each side before latency is judged.
    public static let minLatencySamples = "min_latency_samples"
    /// A p99 difference in milliseconds below which the latency gate never fails.
    public static let latencyToleranceMilliseconds = "latency_tolerance_ms"
    /// Most mean absolute difference of a score output's rows from the stable version's.
    public static let maxScoreDifference = "max_score_difference"
    /// Most mean Jensen–Shannon divergence of a probability output from the stable version's, in nats.
    public static let maxJensenShannon = "max_js_divergence"
    /// Most mean relative difference of a regression output from the stable version's.
    public static let maxRelativeDifference = "max_relative_difference"
    /// Most the candidate's labelled accuracy may fall below the stable version's.
    public static let maxAccuracyDrop = "max_accuracy_drop"
    /// Labels on each side before accuracy is judged.
    public static let minLabels = "min_labels"
    /// Most PSI of the candidate's predicted classes against the stable version's, above sampling noise.
    public static let maxPredictionShift = "max_prediction_shift"
    /// Predictions on each side before their shift is judged.
    public static let minPredictions = "min_predictions"
    /// Confidence of every gate's confidence sequence (0.95).
    public static let confidence = "confidence"
    /// Routing keys of testers served by the candidate at every step (comma-separated).
    public static let testers = "testers"
    /// Request parameters that make a caller a tester (`key=value,key=value`).
    public static let testerMatch = "tester_match"
    /// URLs a rollout's decisions are POSTed to (comma-separated).
    public static let notify = "notify"
    /// URLs of webhook gates, asked with a step's evidence before it moves on (comma-separated).
    public static let webhooks = "webhooks"
    /// A whole rollout plan as JSON (the keys of `RolloutPlan`); other parameters replace its fields.
    public static let plan = "plan"

    // MARK: ab.start

    /// The version that serves in an A/B comparison.
    public static let champion = "champion"
    /// The version compared with the champion.
    public static let challenger = "challenger"
    /// `split` (users divided) or `shadow` (the challenger answers copies).
    public static let mode = "mode"
    /// The challenger's share of users (split) or of requests mirrored (shadow).
    public static let percent = "percent"
    /// Percent of the challenger's split requests also answered by the champion, for agreement.
    public static let comparePercent = "compare_percent"
    /// `on` (default) or `off`: the split guardrail that stops a significantly worse arm.
    public static let guardrail = "guardrail"
    /// The guardrail's error-rate allowance (a fraction).
    public static let guardrailMaxErrorRateIncrease = "guardrail_max_error_rate_increase"
    /// The guardrail's accuracy allowance (a fraction).
    public static let guardrailMaxAccuracyDrop = "guardrail_max_accuracy_drop"

    // MARK: feedback

    /// The `request.id` of the answer being labelled (a parameter), or of each answer (a `bytes` tensor, in a batch).
    public static let feedbackRequestID = "request_id"
    /// The true class of the request, an integer (a parameter), or of each (an integer tensor, in a batch).
    public static let label = "label"
    /// In a `feedback` answer: labels scored.
    public static let accepted = "accepted"
    /// In a `feedback` answer: labels not scored (unknown, too old, of an earlier step, or labelled already).
    public static let unknown = "unknown"

    // MARK: batching.set, batching.status

    /// Largest batch, in rows.
    public static let maxBatchSize = "max_batch_size"
    /// Longest a queued request waits for company while the stage is busy, in microseconds.
    public static let maxQueueDelayMicroseconds = "max_queue_delay_us"
    /// Requests queued per stage before new ones are shed.
    public static let maxQueueSize = "max_queue_size"
    /// Longest predicted queueing a request is admitted with, in microseconds; 0: no limit.
    public static let maxQueueTimeMicroseconds = "max_queue_time_us"
    /// Longest predicted queueing a request is admitted with while a stage is saturated, in microseconds; 0: off.
    public static let saturatedQueueTimeMicroseconds = "saturated_queue_time_us"
    /// Batch sizes sent at once while the stage is busy, comma-separated.
    public static let preferredBatchSizes = "preferred_batch_sizes"
    /// Batches in flight to each stage instance.
    public static let maxBatchesInFlight = "max_batches_in_flight"
    /// A model's batching limits as JSON (the answer of both methods).
    public static let batching = "batching"

    // MARK: report

    /// The reporting service's name (`router`, `inference`, ...).
    public static let service = "service"
    /// The reporting build's version.
    public static let version = "version"
    /// The address the reporting instance serves on.
    public static let address = "address"
    /// Seconds between the instance's reports.
    public static let interval = "interval"
    /// The reporting process's id.
    public static let processID = "pid"
    /// When the reporting process started (seconds since 1970).
    public static let started = "started"

    // MARK: Administration

    /// In `admin.reload` answers: a changed setting that keeps its old value until a restart.
    public static let restart = "restart"
    /// In `pool.*` requests: the stage (`preprocess`, `inference`, `postprocess`).
    public static let stage = "stage"
    /// In `pool.add`, `pool.remove`, `pool.drain` requests: the instance, `HOST:PORT`.
    public static let instance = "instance"
    /// In `pool.list` answers: the pools as JSON.
    public static let pools = "pools"
    /// In inference `model.list` answers: one served model's batching limits as JSON.
    public static let modelLimits = "model.limits"

    /// Every parameter key above, for checks against `protocols/methods.md`.
    public static let all: [String] = [
        tensorDTypes,
        modelVersion,
        computeMicroseconds,
        requestID,
        status,
        model,
        report,
        state,
        versionTag,
        traceparent,
        tracestate,
        echoDelayMilliseconds,
        candidate,
        stable,
        steps,
        stepSeconds,
        minRequests,
        shadowPercent,
        maxErrorRateIncrease,
        maxLatencyRatio,
        maxDisagreement,
        minSamples,
        minLatencySamples,
        latencyToleranceMilliseconds,
        maxScoreDifference,
        maxJensenShannon,
        maxRelativeDifference,
        maxAccuracyDrop,
        minLabels,
        maxPredictionShift,
        minPredictions,
        confidence,
        testers,
        testerMatch,
        notify,
        webhooks,
        plan,
        champion,
        challenger,
        mode,
        percent,
        comparePercent,
        guardrail,
        guardrailMaxErrorRateIncrease,
        guardrailMaxAccuracyDrop,
        feedbackRequestID,
        label,
        accepted,
        unknown,
        maxBatchSize,
        maxQueueDelayMicroseconds,
        maxQueueSize,
        maxQueueTimeMicroseconds,
        saturatedQueueTimeMicroseconds,
        preferredBatchSizes,
        maxBatchesInFlight,
        batching,
        service,
        version,
        address,
        interval,
        processID,
        started,
        restart,
        stage,
        instance,
        pools,
        modelLimits,
    ]
}
