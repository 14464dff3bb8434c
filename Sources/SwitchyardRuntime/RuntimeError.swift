public import SwitchyardWire

/// A runtime-level refusal every service shares: a reload whose settings or certificates do not load, an
/// administration call without the right certificate.
///
/// Tests compare `code`; peers see `status`.
public struct RuntimeError: Error, Sendable, CustomStringConvertible, StatusConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable { case invalidSettings }
        private let wrapped: Wrapped
        /// The settings or certificates do not load (`invalid argument`); nothing changed.
        public static let invalidSettings = Self(wrapped: .invalidSettings)
        /// The code's name, e.g. `invalidSettings`.
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
    ///   - message: a sentence that tells the caller what happened.
    ///   - cause: the underlying error, if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The status a peer sees for this error.
    public var status: Status { Status(.invalidArgument, self.message) }

    /// The code and the message.
    public var description: String { "\(self.code): \(self.message)" }
}
