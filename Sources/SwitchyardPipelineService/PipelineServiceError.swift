public import SwitchyardWire

/// A request a pipeline stage refuses before running any step: an unknown method or a model it has no pipeline
/// for. A step's own failures are `PipelineError`s.
///
/// Tests compare `code`; peers see `status`.
public struct PipelineServiceError: Error, Sendable, CustomStringConvertible, StatusConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable { case unknownMethod, unknownModel }
        private let wrapped: Wrapped
        /// The stage answers no such method (`not found`).
        public static let unknownMethod = Self(wrapped: .unknownMethod)
        /// The stage has no pipeline for the model (`not found`).
        public static let unknownModel = Self(wrapped: .unknownModel)
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
        case .unknownMethod, .unknownModel: Status(.notFound, self.message)
        default: Status(.internalError, self.message)
        }
    }

    /// The code and the message.
    public var description: String { "\(self.code): \(self.message)" }
}
