public import SwitchyardTensor
public import SwitchyardTransport
public import SwitchyardWire

/// What the gateway needs from the router it fronts: the router's own request handler, its readiness, and what it
/// knows of its models. The router conforms; tests use small fakes.
///
/// A gateway request becomes one call of ``handle(_:context:)``, exactly as a wire request does: the same
/// batching, rollouts, A/B splits, pinned versions, deadlines and metrics.
public protocol GatewayBackend: Sendable {
    /// Answers one request, as the wire server would call it. The task is cancelled when the HTTP client goes away.
    /// - Parameters:
    ///   - request: an `infer` request built from the HTTP request.
    ///   - context: the deadline, the caller's identity and a logger.
    /// - Throws: a `StatusConvertible` error whose status the client sees as an HTTP status.
    func handle(_ request: Request, context: RequestContext) async throws -> Response

    /// The status to refuse a request with at arrival, before its work starts (shedding under overload, a deadline
    /// that cannot be met), as the wire server asks the router; `nil` to handle it. Must not block.
    /// - Parameters:
    ///   - request: the decoded `infer` request.
    ///   - deadline: its deadline; `nil` for none.
    func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status?

    /// Why the backend cannot serve right now (no healthy instance of a stage, ...); `nil` when it can.
    var notReadyReason: String? { get }

    /// The names of the models served, sorted.
    var modelNames: [String] { get }

    /// What is known of one model, or `nil` when the router does not serve it.
    /// - Parameter name: the model's name.
    func model(named name: String) -> ModelMetadata?
}

extension GatewayBackend {
    /// `nil`: every request is handled.
    public func refusal(for request: Request, deadline: ContinuousClock.Instant?) -> Status? { nil }
}

/// A model as the gateway describes it: its metadata (inputs, outputs, versions) and its configuration.
public struct ModelMetadata: Sendable, Equatable {
    /// The model's name.
    public var name: String
    /// The versions the router knows of, ascending.
    public var versions: [String]
    /// The versions an inference instance has loaded and serves; `nil` when the router cannot tell.
    public var readyVersions: [String]?
    /// The model format, e.g. `onnx`.
    public var platform: String
    /// The tensors a request carries (after the router, the preprocess stage checks them).
    public var inputs: [TensorMetadata]
    /// The tensors an answer carries (after postprocessing).
    public var outputs: [TensorMetadata]
    /// The largest batch the model takes (0: no batching).
    public var maxBatchSize: Int
    /// The router's batching for this model.
    public var batching: Batching
    /// Which versions the inference service loads.
    public var versionPolicy: VersionPolicy

    /// The router's dynamic batching of a model, with Triton's names.
    public struct Batching: Sendable, Equatable {
        /// `preferred_batch_size`.
        public var preferredBatchSizes: [Int]
        /// `max_queue_delay_microseconds`.
        public var maxQueueDelayMicroseconds: Int
        /// `default_queue_policy.max_queue_size`.
        public var maxQueueSize: Int

        /// Describes a model's batching.
        public init(preferredBatchSizes: [Int] = [], maxQueueDelayMicroseconds: Int = 0, maxQueueSize: Int = 0) {
            self.preferredBatchSizes = preferredBatchSizes
            self.maxQueueDelayMicroseconds = maxQueueDelayMicroseconds
            self.maxQueueSize = maxQueueSize
        }
    }

    /// Triton's `version_policy`.
    public enum VersionPolicy: Sendable, Equatable {
        /// The newest `n` versions.
        case latest(Int)
        /// These versions.
        case specific([Int])
        /// Every version.
        case all
    }

    /// Describes a model.
    public init(
        name: String,
        versions: [String] = [],
        readyVersions: [String]? = nil,
        platform: String = "onnx",
        inputs: [TensorMetadata] = [],
        outputs: [TensorMetadata] = [],
        maxBatchSize: Int = 0,
        batching: Batching = Batching(),
        versionPolicy: VersionPolicy = .latest(1)
    ) {
        self.name = name
        self.versions = versions
        self.readyVersions = readyVersions
        self.platform = platform
        self.inputs = inputs
        self.outputs = outputs
        self.maxBatchSize = maxBatchSize
        self.batching = batching
        self.versionPolicy = versionPolicy
    }
}

/// An input or output of a model: name, element type and shape (`-1` for a dimension of any size).
public struct TensorMetadata: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]

    /// Describes a tensor.
    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
}
