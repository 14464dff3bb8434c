/// One decoded frame of wire protocol version 1.
public enum Frame: Equatable, Sendable {
    /// Sent by each side first; request id 0.
    case hello(Hello)
    case request(id: UInt32, Request)
    case response(id: UInt32, Response)
    /// The request failed; `id` 0 is a connection-level error.
    case error(id: UInt32, Status)
    /// The client no longer wants the answer to `id`; the server stops work and sends nothing more for it.
    case cancel(id: UInt32)
    case ping(UInt64)
    case pong(UInt64)
    case goAway(GoAway)
    /// An extension frame (type 0x80 and above) this build does not know; its payload was skipped.
    case skipped(type: FrameType, id: UInt32)

    /// The frame type.
    public var type: FrameType {
        switch self {
        case .hello: .hello
        case .request: .request
        case .response: .response
        case .error: .error
        case .cancel: .cancel
        case .ping: .ping
        case .pong: .pong
        case .goAway: .goAway
        case .skipped(let type, _): type
        }
    }

    /// The request id in the header (0 for connection-level frames).
    public var requestID: UInt32 {
        switch self {
        case .request(let id, _), .response(let id, _), .error(let id, _), .cancel(let id), .skipped(_, let id): id
        case .hello, .ping, .pong, .goAway: 0
        }
    }
}
