public import SwitchyardModelConfig

/// An error loading a model, planning it, or running an inference.
///
/// Tests compare ``code``; the ``message`` is one line for a person (it names the file, node,
/// operator, input or dimension at fault).
public struct EngineError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, as an open-ended set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case invalidModel, unsupportedOperator, unsupportedModel, shapeMismatch, invalidInput, notFound, io,
                invalidConfig, unavailable, deadlineExceeded
        }
        private let wrapped: Wrapped
        /// The file is not a readable ONNX model (empty, truncated, not protobuf, no graph, dangling names).
        public static let invalidModel = Self(wrapped: .invalidModel)
        /// The graph uses an operator (or operator form) the engine does not implement.
        public static let unsupportedOperator = Self(wrapped: .unsupportedOperator)
        /// The model is valid ONNX but uses a feature the engine refuses (external data, an opset, a dtype).
        public static let unsupportedModel = Self(wrapped: .unsupportedModel)
        /// The graph's shapes or element types do not agree.
        public static let shapeMismatch = Self(wrapped: .shapeMismatch)
        /// A request's inputs do not fit the model (name, dtype, rank, dimension, batch limit).
        public static let invalidInput = Self(wrapped: .invalidInput)
        /// A model, version or output name that does not exist.
        public static let notFound = Self(wrapped: .notFound)
        /// A file could not be read or written.
        public static let io = Self(wrapped: .io)
        /// A repository config file is malformed or disagrees with its model.
        public static let invalidConfig = Self(wrapped: .invalidConfig)
        /// The model version exists but is not loaded (loading, unloading or failed).
        public static let unavailable = Self(wrapped: .unavailable)
        /// The request's deadline passed before its inference started; it was not run.
        public static let deadlineExceeded = Self(wrapped: .deadlineExceeded)
        public var description: String { "\(self.wrapped)" }
    }

    /// The kind of failure.
    public var code: Code
    /// One line for a person.
    public var message: String
    /// The underlying error, when there is one.
    public var cause: (any Error)? = nil

    /// Makes an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: one line naming what is at fault.
    ///   - cause: the underlying error, if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The engine's error for a config that cannot be read: the same code (`invalidConfig` or `io`) and message.
    /// - Parameter error: the config's error.
    public init(_ error: ModelConfigError) {
        self.init(error.code == .io ? .io : .invalidConfig, error.message, cause: error.cause)
    }

    public var description: String { self.message }
}
