/// Where a wire connection is in its life, on either side.
package enum ConnectionPhase: Hashable, Sendable {
    /// TLS and HELLO are not done yet.
    case handshaking
    /// Requests are sent and accepted.
    case open
    /// After a GOAWAY (or, on a client, when request ids ran out): what is in flight finishes, nothing new starts,
    /// then the connection closes.
    case draining
    /// Nothing more is sent or answered.
    case closed
}
