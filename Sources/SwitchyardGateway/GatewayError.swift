public import SwitchyardWire

/// A request the gateway refuses before it reaches the router, or a gateway that cannot start.
///
/// Each code has the HTTP status the client sees; errors of the mesh itself travel as a wire `Status` and are
/// mapped by ``HTTPStatusMapping``.
public struct GatewayError: Error, Sendable, CustomStringConvertible {
    /// What went wrong. The set is open: tests compare codes, not messages.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: UInt8 {
            case malformedJSON = 1
            case invalidRequest, unsupported, bodyTooLarge, headersTooLarge, bodyTimeout, notFound,
                methodNotAllowed, unauthenticated, unsupportedMediaType, configuration, shuttingDown
        }

        private let wrapped: Wrapped

        /// The body is not valid JSON (or not valid UTF-8), with the byte offset in the message.
        public static let malformedJSON = Self(wrapped: .malformedJSON)
        /// Valid JSON that is not a valid request: a missing field, a wrong type, a shape that does not fit the data.
        public static let invalidRequest = Self(wrapped: .invalidRequest)
        /// A feature of the protocol this gateway does not offer (sequences, shared memory, a datatype).
        public static let unsupported = Self(wrapped: .unsupported)
        /// The body is over the configured limit.
        public static let bodyTooLarge = Self(wrapped: .bodyTooLarge)
        /// The request's headers are over the configured limit.
        public static let headersTooLarge = Self(wrapped: .headersTooLarge)
        /// The body did not arrive within the body timeout.
        public static let bodyTimeout = Self(wrapped: .bodyTimeout)
        /// No such endpoint.
        public static let notFound = Self(wrapped: .notFound)
        /// The endpoint exists but not for this HTTP method.
        public static let methodNotAllowed = Self(wrapped: .methodNotAllowed)
        /// No bearer token, or an unknown one.
        public static let unauthenticated = Self(wrapped: .unauthenticated)
        /// A `Content-Encoding` the gateway does not decode.
        public static let unsupportedMediaType = Self(wrapped: .unsupportedMediaType)
        /// The gateway's settings cannot be used (refused at start).
        public static let configuration = Self(wrapped: .configuration)
        /// The gateway is draining and takes no new requests.
        public static let shuttingDown = Self(wrapped: .shuttingDown)

        public var description: String { "\(self.wrapped)" }

        /// The HTTP status a client sees for this code.
        public var httpStatus: Int {
            switch self.wrapped {
            case .malformedJSON, .invalidRequest, .unsupported: 400
            case .bodyTooLarge: 413
            case .headersTooLarge: 431
            case .bodyTimeout: 408
            case .notFound: 404
            case .methodNotAllowed: 405
            case .unauthenticated: 401
            case .unsupportedMediaType: 415
            case .configuration: 500
            case .shuttingDown: 503
            }
        }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)? = nil

    /// Makes an error.
    /// - Parameters:
    ///   - code: what went wrong.
    ///   - message: a sentence for the caller: what was wrong and what was expected.
    ///   - cause: the underlying error, if any.
    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { "\(self.code): \(self.message)" }
}

/// HTTP statuses for the mesh's wire statuses, as the Open Inference Protocol and gRPC's HTTP mapping use them.
public enum HTTPStatusMapping {
    /// The HTTP status for a wire status code.
    /// - Parameter code: the status the router answered.
    /// - Returns: 400 for invalid argument and failed precondition, 404 not found, 429 resource exhausted, 503
    ///   unavailable, 504 deadline exceeded, 401/403 for credentials, 501 unimplemented, 499 cancelled, else 500.
    public static func httpStatus(for code: Status.Code) -> Int {
        switch code {
        case .ok: 200
        case .invalidArgument, .failedPrecondition: 400
        case .notFound: 404
        case .resourceExhausted: 429
        case .unavailable: 503
        case .deadlineExceeded: 504
        case .unauthenticated: 401
        case .permissionDenied: 403
        case .unimplemented: 501
        case .cancelled: 499
        default: 500
        }
    }
}
