public import SwitchyardWire

/// A failure decided by the router itself: a full queue, a passed deadline, no instance to call.
///
/// Tests compare `code`; peers see `status`.
public struct RoutingError: Error, Sendable, CustomStringConvertible, StatusConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case queueFull, deadlineExceeded, cancelled, noInstance, malformedBatch, shutDown
        }
        private let wrapped: Wrapped
        /// The batch queue was full; the request was shed (`resource exhausted`).
        public static let queueFull = Self(wrapped: .queueFull)
        /// The deadline passed while the request was queued (`deadline exceeded`).
        public static let deadlineExceeded = Self(wrapped: .deadlineExceeded)
        /// The caller cancelled the request (`cancelled`).
        public static let cancelled = Self(wrapped: .cancelled)
        /// The pool has no instance to call (`unavailable`).
        public static let noInstance = Self(wrapped: .noInstance)
        /// The upstream's answer to a batch cannot be split back into its requests (`internal`).
        public static let malformedBatch = Self(wrapped: .malformedBatch)
        /// The batcher stopped before the request was sent (`unavailable`).
        public static let shutDown = Self(wrapped: .shutDown)
        /// The code's name, e.g. `queueFull`.
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
    ///   - message: a sentence for the caller and the log.
    ///   - cause: the underlying error, if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// The status a peer sees for this error.
    public var status: Status {
        switch self.code {
        case .queueFull: Status(.resourceExhausted, self.message)
        case .deadlineExceeded: Status(.deadlineExceeded, self.message)
        case .cancelled: Status(.cancelled, self.message)
        case .noInstance, .shutDown: Status(.unavailable, self.message)
        default: Status(.internalError, self.message)
        }
    }

    /// The code and the message.
    public var description: String { "\(self.code): \(self.message)" }

    /// The status a peer should see for any error: its own for a `StatusConvertible`, `cancelled` for a
    /// `CancellationError`, `internal` otherwise.
    /// - Parameter error: the error thrown by an upstream or a step of the router.
    public static func status(for error: any Error) -> Status {
        if let convertible = error as? any StatusConvertible { return convertible.status }
        if error is CancellationError { return Status(.cancelled, "the request was cancelled") }
        return Status(.internalError, "\(error)")
    }
}
