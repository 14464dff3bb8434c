public import SwitchyardWire

/// A failure of the transport itself: configuration, connecting, or a connection that ended.
public struct TransportError: Error, Sendable, CustomStringConvertible, StatusConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable { case configuration, connectFailed, connectionClosed, protocolViolation, nameResolution }
        private let wrapped: Wrapped
        /// Bad settings, e.g. a certificate file that does not load.
        public static let configuration = Self(wrapped: .configuration)
        /// TCP, TLS or HELLO did not complete.
        public static let connectFailed = Self(wrapped: .connectFailed)
        /// The connection ended before the answer came.
        public static let connectionClosed = Self(wrapped: .connectionClosed)
        /// The peer broke the protocol.
        public static let protocolViolation = Self(wrapped: .protocolViolation)
        /// A name could not be looked up now (the DNS server did not answer, or failed); not "no such name".
        public static let nameResolution = Self(wrapped: .nameResolution)
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

    /// Transport failures are `unavailable` to callers (retryable elsewhere), bad settings are `failedPrecondition`.
    public var status: Status {
        self.code == .configuration ? Status(.failedPrecondition, self.message) : Status(.unavailable, self.message)
    }
}
