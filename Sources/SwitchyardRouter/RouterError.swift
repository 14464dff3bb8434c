public import SwitchyardWire

/// A request the router itself refuses, or a release decision it cannot make: an unknown model or method, a bad
/// release argument, an admin call without an admin certificate, a release that conflicts with the one running, an
/// unreadable state file. Failures of the stages and of batching are theirs (`Status`, ``RoutingError``).
///
/// Tests compare `code`; peers see `status`.
public struct RouterError: Error, Sendable, CustomStringConvertible, StatusConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case unknownModel, unknownMethod, notFound, invalidArgument, conflict, follower,
                notReady, releasesOff, stateUnreadable, stateUnwritable
        }
        private let wrapped: Wrapped
        /// The router serves no such model (`not found`).
        public static let unknownModel = Self(wrapped: .unknownModel)
        /// The router answers no such method (`not found`).
        public static let unknownMethod = Self(wrapped: .unknownMethod)
        /// No such rollout, comparison or remembered request (`not found`).
        public static let notFound = Self(wrapped: .notFound)
        /// A release method's argument is missing or malformed (`invalid argument`).
        public static let invalidArgument = Self(wrapped: .invalidArgument)
        /// The command does not apply now: a rollout or comparison runs, or the rollout is in another phase
        /// (`failed precondition`).
        public static let conflict = Self(wrapped: .conflict)
        /// This router follows another router's releases and takes no release commands (`failed precondition`).
        public static let follower = Self(wrapped: .follower)
        /// No instance of a stage passes its health checks (`unavailable`).
        public static let notReady = Self(wrapped: .notReady)
        /// This router runs no releases (`unimplemented`).
        public static let releasesOff = Self(wrapped: .releasesOff)
        /// The release state file exists but cannot be read (`failed precondition`).
        public static let stateUnreadable = Self(wrapped: .stateUnreadable)
        /// The release state file cannot be written (`internal`).
        public static let stateUnwritable = Self(wrapped: .stateUnwritable)
        /// The code's name, e.g. `unknownModel`.
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
        case .unknownModel, .unknownMethod, .notFound: Status(.notFound, self.message)
        case .invalidArgument: Status(.invalidArgument, self.message)
        case .conflict, .follower, .stateUnreadable: Status(.failedPrecondition, self.message)
        case .notReady: Status(.unavailable, self.message)
        case .releasesOff: Status(.unimplemented, self.message)
        default: Status(.internalError, self.message)
        }
    }

    /// The code and the message.
    public var description: String { "\(self.code): \(self.message)" }
}
