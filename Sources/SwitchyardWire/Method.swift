/// The methods a REQUEST can name (its `method` field), defined once for every service, client and test.
///
/// Which service answers which method, with its parameters and answers, is specified in `protocols/methods.md`.
public enum Method {
    // MARK: Every service

    /// Whether the service serves (each service says what it serves in its answer's parameters).
    public static let health = "health"

    // MARK: Router and inference

    /// Runs a model on the request's tensors (the router carries it through every stage).
    public static let infer = "infer"

    // MARK: Pipeline stages

    /// The preprocess stage's method: a model's inputs made ready for inference.
    public static let preprocess = "preprocess"
    /// The postprocess stage's method: a model's outputs made ready for the caller.
    public static let postprocess = "postprocess"

    // MARK: Echo

    /// Answers the request's tensors and parameters (`switchyard-echo`).
    public static let echo = "echo"

    // MARK: Inference administration

    /// The model versions an inference instance knows, with their states.
    public static let modelList = "model.list"
    /// Loads a model version (admin).
    public static let modelLoad = "model.load"
    /// Unloads a model version (admin).
    public static let modelUnload = "model.unload"
    /// Loads a model version again from its files (admin).
    public static let modelReload = "model.reload"

    // MARK: Router releases

    /// Starts a canary rollout (admin).
    public static let rolloutStart = "rollout.start"
    /// The release state of one model or of all.
    public static let rolloutStatus = "rollout.status"
    /// Pauses a rollout (admin).
    public static let rolloutPause = "rollout.pause"
    /// Resumes a paused rollout (admin).
    public static let rolloutResume = "rollout.resume"
    /// Promotes the candidate to stable at once (admin).
    public static let rolloutPromote = "rollout.promote"
    /// Aborts a rollout: the stable version takes all traffic again (admin).
    public static let rolloutAbort = "rollout.abort"
    /// Moves a rollout waiting at a pause of its plan on to its next step or to promotion (admin).
    public static let rolloutApprove = "rollout.approve"
    /// Pins the version that serves when no rollout runs (admin).
    public static let releasePin = "release.pin"
    /// The release state document, read by routers that follow a leader.
    public static let releaseState = "release.state"
    /// Starts an A/B comparison (admin).
    public static let abStart = "ab.start"
    /// The report of an A/B comparison.
    public static let abReport = "ab.report"
    /// Stops an A/B comparison (admin).
    public static let abStop = "ab.stop"
    /// True labels for earlier answers (one, or a batch), for the accuracy of rollouts and A/B comparisons.
    public static let feedback = "feedback"

    // MARK: Router batching

    /// A model's batching limits as the router applies them now.
    public static let batchingStatus = "batching.status"
    /// Changes a model's batching limits while the router serves (admin).
    public static let batchingSet = "batching.set"

    // MARK: Router pools

    /// Every stage pool's sources and instances.
    public static let poolList = "pool.list"
    /// Adds an instance to a stage pool (admin).
    public static let poolAdd = "pool.add"
    /// Drains an instance and takes it out of its pool (admin).
    public static let poolRemove = "pool.remove"
    /// Stops new requests to an instance; those in flight finish (admin).
    public static let poolDrain = "pool.drain"

    // MARK: Every service's administration

    /// Re-reads the config file and the certificate files, as SIGHUP does (admin).
    public static let adminReload = "admin.reload"

    // MARK: Monitor

    /// An instance's periodic report to the monitor.
    public static let report = "report"

    /// Every method above, for checks against `protocols/methods.md`.
    public static let all: [String] = [
        health,
        infer,
        preprocess,
        postprocess,
        echo,
        modelList,
        modelLoad,
        modelUnload,
        modelReload,
        rolloutStart,
        rolloutStatus,
        rolloutPause,
        rolloutResume,
        rolloutPromote,
        rolloutAbort,
        rolloutApprove,
        releasePin,
        releaseState,
        abStart,
        abReport,
        abStop,
        feedback,
        batchingStatus,
        batchingSet,
        poolList,
        poolAdd,
        poolRemove,
        poolDrain,
        adminReload,
        report,
    ]
}
