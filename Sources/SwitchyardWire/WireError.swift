/// A violation of the wire protocol found while decoding or validating a frame.
///
/// A connection that sees one answers with GOAWAY (status `invalidArgument`, the message
/// `protocol error: <code>: <message>`) and closes; see `protocols/wire-v1.md` §3.1 (the order of checks) and §8.
public struct WireError: Error, Sendable, CustomStringConvertible {
    /// The kind of violation; tests compare codes, not messages.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: UInt16, Sendable {
            case truncatedFrame = 1
            case frameTooLarge, badMagic, badVersion, unknownFrameType, unknownFlags
            case reservedNotZero, malformedPayload, badTensor, limitExceeded, unexpectedFrame, unknownRequest
        }
        private let wrapped: Wrapped
        /// The bytes end before the frame or a field does.
        public static let truncatedFrame = Self(wrapped: .truncatedFrame)
        /// The payload length is over the negotiated maximum.
        public static let frameTooLarge = Self(wrapped: .frameTooLarge)
        /// The first two bytes are not `SY`.
        public static let badMagic = Self(wrapped: .badMagic)
        /// The header's version is not the negotiated one, or HELLO offers no common version.
        public static let badVersion = Self(wrapped: .badVersion)
        /// A critical frame type (below 0x80) this implementation does not know.
        public static let unknownFrameType = Self(wrapped: .unknownFrameType)
        /// A must-understand flag bit (low byte) this implementation does not know.
        public static let unknownFlags = Self(wrapped: .unknownFlags)
        /// A reserved field is not zero.
        public static let reservedNotZero = Self(wrapped: .reservedNotZero)
        /// The payload does not parse as its frame type says (bad string, trailing bytes, ...).
        public static let malformedPayload = Self(wrapped: .malformedPayload)
        /// A tensor descriptor is invalid: unknown dtype, data length not dtype × shape, bad offset.
        public static let badTensor = Self(wrapped: .badTensor)
        /// A count is over its fixed limit (rank, tensors, parameters).
        public static let limitExceeded = Self(wrapped: .limitExceeded)
        /// A known frame in a place the protocol does not allow (REQUEST to a client, data before HELLO, a second
        /// HELLO, a request id not above the previous one).
        public static let unexpectedFrame = Self(wrapped: .unexpectedFrame)
        /// A RESPONSE or ERROR for a request id the client never sent.
        public static let unknownRequest = Self(wrapped: .unknownRequest)

        public var description: String { "\(self.wrapped)" }
    }

    public var code: Code
    public var message: String

    /// Makes an error.
    /// - Parameters:
    ///   - code: the kind of violation.
    ///   - message: what was found, for the log and the peer.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}
