public import SwitchyardWire

/// A request the inference service refuses before the engine runs it: an unknown method, a malformed model or
/// version, an admin call without an admin certificate, no model loaded yet, or a full compute queue. The engine's
/// own failures are `EngineError`s.
///
/// Tests compare `code`; peers see `status`.
public struct InferenceServiceError: Error, Sendable, CustomStringConvertible, StatusConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case unknownMethod, invalidArgument, notReady, overloaded
        }
        private let wrapped: Wrapped
        /// The service answers no such method (`not found`).
        public static let unknownMethod = Self(wrapped: .unknownMethod)
        /// The model name or version is missing or malformed (`invalid argument`).
        public static let invalidArgument = Self(wrapped: .invalidArgument)
        /// No model is loaded yet (`unavailable`).
        public static let notReady = Self(wrapped: .notReady)
        /// The compute queue is full; the request was shed (`resource exhausted`).
        public static let overloaded = Self(wrapped: .overloaded)
        /// The code's name, e.g. `unknownMethod`.
        public var description: String { "\(self.wrapped)" }
    }

    /// What went wrong.
    public var code: Code
    /// A sentence for the caller and the log.
    public var message: String
    /// The underlying error, if any.
    public var cause: (any Error)?

    /// Makes an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: a sentence that tells the caller what happened and what was expected.
    ///   - cause: the underlying error, if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The status a peer sees for this error.
    public var status: Status {
        switch self.code {
        case .unknownMethod: Status(.notFound, self.message)
        case .invalidArgument: Status(.invalidArgument, self.message)
        case .notReady: Status(.unavailable, self.message)
        case .overloaded: Status(.resourceExhausted, self.message)
        default: Status(.internalError, self.message)
        }
    }

    /// The code and the message.
    public var description: String { "\(self.code): \(self.message)" }
}
