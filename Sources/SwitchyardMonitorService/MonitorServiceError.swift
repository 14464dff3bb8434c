public import SwitchyardWire

/// A report or request the monitor service refuses: an unknown method, a report from an instance without a
/// certificate that names it, or a report whose tensors are malformed.
///
/// Tests compare `code`; peers see `status`.
public struct MonitorServiceError: Error, Sendable, CustomStringConvertible, StatusConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable { case unknownMethod, unauthenticated, invalidReport }
        private let wrapped: Wrapped
        /// The monitor answers no such method (`not found`).
        public static let unknownMethod = Self(wrapped: .unknownMethod)
        /// A report without a client certificate naming the instance (`unauthenticated`).
        public static let unauthenticated = Self(wrapped: .unauthenticated)
        /// A report's metrics or samples are malformed (`invalid argument`).
        public static let invalidReport = Self(wrapped: .invalidReport)
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
        case .unauthenticated: Status(.unauthenticated, self.message)
        case .invalidReport: Status(.invalidArgument, self.message)
        default: Status(.internalError, self.message)
        }
    }

    /// The code and the message.
    public var description: String { "\(self.code): \(self.message)" }
}
