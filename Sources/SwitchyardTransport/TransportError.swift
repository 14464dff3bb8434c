public import SwitchyardWire

/// A failure of the transport itself: configuration, connecting, or a connection that ended.
public struct TransportError: Error, Sendable, CustomStringConvertible, StatusConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case configuration, connectFailed, connectionClosed, protocolViolation, notProcessed, clientLimit
            case bufferBudget, nameResolution, throttled
        }
        private let wrapped: Wrapped
        /// Bad settings, e.g. a certificate file that does not load.
        public static let configuration = Self(wrapped: .configuration)
        /// TCP, TLS or HELLO did not complete.
        public static let connectFailed = Self(wrapped: .connectFailed)
        /// The connection ended before the answer came.
        public static let connectionClosed = Self(wrapped: .connectionClosed)
        /// The peer broke the protocol.
        public static let protocolViolation = Self(wrapped: .protocolViolation)
        /// The server never read the request: it was draining (above its GOAWAY's last id) or the connection ended
        /// before the request was written.
        public static let notProcessed = Self(wrapped: .notProcessed)
        /// Refused by this client, unsent: every connection is at the server's in-flight limit
        /// (`resource exhausted`).
        public static let clientLimit = Self(wrapped: .clientLimit)
        /// A server holds its limit of bytes in frames still arriving: the connection sending one more is closed
        /// (`resource exhausted`).
        public static let bufferBudget = Self(wrapped: .bufferBudget)
        /// A name could not be looked up now (the DNS server did not answer, or failed); not "no such name".
        public static let nameResolution = Self(wrapped: .nameResolution)
        /// Refused by this client, unsent: its ``AdaptiveThrottle`` saw the service refuse most recent requests
        /// (`resource exhausted`).
        public static let throttled = Self(wrapped: .throttled)
        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    public var message: String

    /// Makes an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    /// A request that failed to connect, or that the server never read, may go to another instance even when it is
    /// not idempotent.
    public var requestWasNotProcessed: Bool { self.code == .connectFailed || self.code == .notProcessed }

    /// Transport failures are `unavailable` to callers (retryable elsewhere), the client's own in-flight limit and
    /// its throttle are `resource exhausted`, bad settings are `failedPrecondition`.
    public var status: Status {
        switch self.code {
        case .configuration: Status(.failedPrecondition, self.message)
        case .clientLimit, .bufferBudget, .throttled: Status(.resourceExhausted, self.message)
        default: Status(.unavailable, self.message)
        }
    }
}
