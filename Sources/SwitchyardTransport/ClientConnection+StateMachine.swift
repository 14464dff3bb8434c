package import NIOCore
package import SwitchyardWire

/// The client side of one connection: its lifecycle as a value type.
package enum ClientConnection {}

extension ClientConnection {
    /// HELLO, request ids, matching answers, keepalive, the server's GOAWAY and protocol errors of one client
    /// connection. It does no I/O: each event returns an ``Action`` for the channel handler to carry out, and time
    /// comes in as an argument.
    ///
    /// It holds the ids of the calls waiting for an answer, so it alone decides that a call completes once: an
    /// answer, a failure of the connection or the call's own abandonment ends it only while it is still pending.
    package struct StateMachine {
        /// Where the connection is in its life.
        package typealias Phase = ConnectionPhase

        /// The connection ends: every pending call fails, the pool is told, the channel closes.
        package struct Failure: Equatable, Sendable {
            /// The error for calls that are not covered by ``processedUpTo``, and (as `connectFailed`) for a
            /// handshake that did not finish.
            package var error: TransportError
            /// Sent to the server before closing.
            package var goAway: GoAway?
            /// From a GOAWAY that is not graceful: calls up to this id may have been partly processed (`unavailable`),
            /// later ones were not (`notProcessed`).
            package var processedUpTo: (lastRequestID: UInt32, status: Status)?
            /// The handshake had not finished: the connection never became ready.
            package var duringHandshake: Bool

            package static func == (lhs: Self, rhs: Self) -> Bool {
                lhs.error.code == rhs.error.code && lhs.error.message == rhs.error.message && lhs.goAway == rhs.goAway
                    && lhs.processedUpTo?.lastRequestID == rhs.processedUpTo?.lastRequestID
                    && lhs.processedUpTo?.status == rhs.processedUpTo?.status
                    && lhs.duringHandshake == rhs.duringHandshake
            }
        }

        /// What the handler does next.
        package enum Action: Equatable, Sendable {
            case none
            /// TLS is done: send this client's HELLO and start the keepalive timer.
            case sendHello
            /// The server's HELLO arrived: the connection is ready with these limits.
            case ready(Hello)
            /// Write the frame and flush (PONG, PING).
            case write(Frame)
            /// Send CANCEL for an abandoned call; then close if `close` (a drained connection).
            case cancel(UInt32, close: Bool)
            /// Complete the call with its answer; then close if `close` (a drained connection).
            case complete(UInt32, Result<Response, Status>, close: Bool)
            /// The server sent a graceful GOAWAY: take the connection out of rotation (`serverDraining` when it was
            /// open: the server is going away), fail the pending calls above its last id as not processed, and
            /// close if `close`.
            case drain(lastRequestID: UInt32, serverDraining: Bool, beganDraining: Bool, close: Bool)
            /// See ``Failure``.
            case fail(Failure)
        }

        package private(set) var phase = Phase.handshaking
        /// Ids of the calls sent and not yet answered.
        package private(set) var pending: Set<UInt32> = []
        /// The id the next call takes; 0 once ids ran out.
        package private(set) var nextID: UInt32 = 1
        private let keepaliveInterval: TimeAmount
        private let keepaliveTimeout: TimeAmount
        private var lastFrameAt = NIODeadline.uptimeNanoseconds(0)
        private var pingSentAt: NIODeadline?

        package init(keepaliveInterval: TimeAmount, keepaliveTimeout: TimeAmount) {
            self.keepaliveInterval = keepaliveInterval
            self.keepaliveTimeout = keepaliveTimeout
        }

        // MARK: Connection

        /// TLS finished with `alpn` negotiated.
        package mutating func tlsHandshakeCompleted(alpn: String?, now: NIODeadline) -> Action {
            guard self.phase == .handshaking else { return .none }
            guard alpn == WireVersion.alpn else {
                return self.fail(
                    TransportError(
                        .connectFailed,
                        "server did not negotiate ALPN \(WireVersion.alpn) (got \(alpn ?? "none"))"
                    )
                )
            }
            self.lastFrameAt = now
            return .sendHello
        }

        /// The channel closed or failed.
        package mutating func connectionLost(_ error: TransportError) -> Action {
            self.fail(error)
        }

        /// An error came up the pipeline (decoder, TLS, socket).
        package mutating func errorCaught(_ error: any Error) -> Action {
            if let wireError = error as? WireError { return self.protocolError(wireError) }
            return self.fail(TransportError(.connectionClosed, "connection failed: \(error)"))
        }

        // MARK: Calls

        /// A call is about to be sent: its id, or why it cannot go on this connection.
        package func prepareCall(deadline: NIODeadline?, now: NIODeadline) -> Result<UInt32, any Error> {
            guard self.phase == .open else {
                let what = self.phase == .draining ? "draining" : "closed"
                return .failure(TransportError(.notProcessed, "the connection is \(what)"))
            }
            if let deadline, deadline <= now {
                return .failure(Status(.deadlineExceeded, "deadline passed before the request was sent"))
            }
            return .success(self.nextID)
        }

        /// The call prepared as `id` was written: `true` when ids ran out with it, so the connection drains and the
        /// pool opens another.
        package mutating func callSent(_ id: UInt32) -> Bool {
            self.pending.insert(id)
            self.nextID &+= 1
            guard self.nextID == 0 else { return false }
            self.phase = .draining
            return true
        }

        /// A call's promise completed (answered, or abandoned on its deadline or cancellation): CANCEL when the server
        /// still works on it.
        package mutating func callCompleted(_ id: UInt32) -> Action {
            guard self.phase != .closed, self.pending.remove(id) != nil else { return .none }
            return .cancel(id, close: self.closeIfDrained())
        }

        // MARK: Frames

        /// A frame arrived.
        package mutating func received(_ frame: Frame, now: NIODeadline) -> Action {
            guard self.phase != .closed else { return .none }
            self.lastFrameAt = now
            self.pingSentAt = nil
            switch frame {
            case .hello(let hello):
                guard self.phase == .handshaking else {
                    return self.protocolError(WireError(.unexpectedFrame, "second HELLO"))
                }
                guard hello.minVersion <= WireVersion.current, hello.maxVersion >= WireVersion.current else {
                    return self.fail(
                        TransportError(
                            .connectFailed,
                            "server speaks protocol \(hello.minVersion)...\(hello.maxVersion), "
                                + "this client \(WireVersion.current)"
                        )
                    )
                }
                self.phase = .open
                return .ready(hello)
            case .response(let id, let response):
                return self.answer(id, .success(response))
            case .error(let id, let status):
                guard id != 0 else {
                    return self.fail(TransportError(.connectionClosed, "server reported a connection error: \(status)"))
                }
                return self.answer(id, .failure(status))
            case .ping(let opaque):
                return .write(.pong(opaque))
            case .pong, .skipped:
                return .none
            case .goAway(let goAway):
                return self.receivedGoAway(goAway)
            case .request, .cancel:
                return self.protocolError(WireError(.unexpectedFrame, "\(frame.type) sent to a client"))
            }
        }

        private mutating func answer(_ id: UInt32, _ result: Result<Response, Status>) -> Action {
            guard self.pending.remove(id) != nil else {
                // ids below nextID were sent and already answered, cancelled or timed out: a benign race
                guard self.nextID != 0, id >= self.nextID else { return .none }
                return self.protocolError(WireError(.unknownRequest, "answer for request \(id), which was never sent"))
            }
            let close = self.closeIfDrained()
            return .complete(id, result, close: close)
        }

        private mutating func receivedGoAway(_ goAway: GoAway) -> Action {
            guard goAway.status.code == .ok else {
                // not graceful: nothing more comes for any request (wire-v1.md §6.5)
                var failure = self.failure(
                    TransportError(.connectionClosed, "the server ended the connection: \(goAway.status)")
                )
                failure.processedUpTo = (goAway.lastRequestID, goAway.status)
                return .fail(failure)
            }
            let wasOpen = self.phase == .open
            let began = self.phase == .open || self.phase == .handshaking
            if self.phase == .handshaking {
                return .fail(
                    self.failure(TransportError(.connectFailed, "server refused the connection: \(goAway.status)"))
                )
            }
            self.phase = .draining
            // requests above the last id were never processed: safe to retry anywhere
            self.pending = self.pending.filter { $0 <= goAway.lastRequestID }
            let close = self.closeIfDrained()
            return .drain(
                lastRequestID: goAway.lastRequestID,
                serverDraining: wasOpen,
                beganDraining: began,
                close: close
            )
        }

        // MARK: Timers

        /// The keepalive timer fired: PING a quiet server, fail the connection when a PING went unanswered.
        package mutating func checkKeepalive(now: NIODeadline) -> Action {
            guard self.phase != .closed else { return .none }
            if let sent = self.pingSentAt {
                guard now - sent >= self.keepaliveTimeout else { return .none }
                return self.fail(TransportError(.connectionClosed, "server stopped answering (keepalive timeout)"))
            }
            guard self.phase != .handshaking, now - self.lastFrameAt >= self.keepaliveInterval else { return .none }
            self.pingSentAt = now
            return .write(.ping(UInt64(truncatingIfNeeded: now.uptimeNanoseconds)))
        }

        // MARK: Errors

        /// The server broke the protocol: GOAWAY (once HELLO is done), fail everything, close.
        package mutating func protocolError(_ error: WireError) -> Action {
            guard self.phase != .closed else { return .none }
            var failure = self.failure(
                TransportError(.protocolViolation, "server broke the protocol: \(error.message)")
            )
            if !failure.duringHandshake {
                let status = Status(.invalidArgument, "protocol error: \(error.code): \(error.message)")
                failure.goAway = GoAway(lastRequestID: 0, status: status)
            }
            return .fail(failure)
        }

        private mutating func fail(_ error: TransportError) -> Action {
            guard self.phase != .closed else { return .none }
            return .fail(self.failure(error))
        }

        private mutating func failure(_ error: TransportError) -> Failure {
            let duringHandshake = self.phase == .handshaking
            self.phase = .closed
            self.pending.removeAll()
            return Failure(error: error, goAway: nil, processedUpTo: nil, duringHandshake: duringHandshake)
        }

        private mutating func closeIfDrained() -> Bool {
            guard self.phase == .draining, self.pending.isEmpty else { return false }
            self.phase = .closed
            return true
        }
    }
}
