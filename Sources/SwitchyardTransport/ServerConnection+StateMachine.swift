package import NIOCore
package import SwitchyardWire

/// The server side of one connection: its lifecycle as a value type.
package enum ServerConnection {}

extension ServerConnection {
    /// Handshake, HELLO, request admission, keepalive, idle close, GOAWAY drain, read pausing and protocol errors of
    /// one server connection. It does no I/O: each event returns an ``Action`` for the channel handler to carry out,
    /// and time comes in as an argument, so it runs the same on a real channel, an embedded one and in a fuzzer.
    ///
    /// It holds the ids of the requests in flight, so it alone decides that a request is answered exactly once:
    /// an answer, a CANCEL or a deadline ends a request only while it is still in flight.
    package struct StateMachine {
        /// The limits and timers it enforces.
        package struct Configuration: Sendable {
            package var maxInFlight: Int
            package var handshakeTimeout: TimeAmount
            package var idleTimeout: TimeAmount
            package var keepaliveInterval: TimeAmount
            package var keepaliveTimeout: TimeAmount

            package init(
                maxInFlight: Int,
                handshakeTimeout: TimeAmount,
                idleTimeout: TimeAmount,
                keepaliveInterval: TimeAmount,
                keepaliveTimeout: TimeAmount
            ) {
                self.maxInFlight = maxInFlight
                self.handshakeTimeout = handshakeTimeout
                self.idleTimeout = idleTimeout
                self.keepaliveInterval = keepaliveInterval
                self.keepaliveTimeout = keepaliveTimeout
            }

            init(_ configuration: WireServerConfiguration) {
                self.init(
                    maxInFlight: Int(configuration.maxInFlightPerConnection),
                    handshakeTimeout: TimeAmount(configuration.handshakeTimeout),
                    idleTimeout: TimeAmount(configuration.idleTimeout),
                    keepaliveInterval: TimeAmount(configuration.keepaliveInterval),
                    keepaliveTimeout: TimeAmount(configuration.keepaliveTimeout)
                )
            }
        }

        /// Where the connection is in its life.
        package typealias Phase = ConnectionPhase

        /// A close that answers nothing more: the handler stops every request in flight, sends ``goAway`` when there
        /// is one, then closes.
        package struct Abort: Hashable, Sendable {
            /// Sent before closing (not when the peer cannot take it: before HELLO, or when it ended things itself).
            package var goAway: GoAway?
            /// Why, for the log.
            package var reason: String
            /// The error or status behind it, for the log.
            package var detail: String?
        }

        /// What the handler does after a request ended.
        package enum AfterAnswer: Hashable, Sendable {
            case none
            /// Reading was paused and may go on.
            case resumeReading
            /// The connection drained its last request: flush and close.
            case close
        }

        /// What the handler does next.
        package enum Action: Equatable, Sendable {
            case none
            /// The TLS handshake is done and good: take the peer's certificate identity.
            case readPeerCertificate
            /// Record the peer's HELLO (identity, limits, dtypes) and send this server's.
            case acceptHello(Hello)
            /// Write the frame and flush (PONG, PING).
            case write(Frame)
            /// Run the request.
            case startRequest(UInt32, Request)
            /// Answer the request at once with an error; it never ran.
            case refuseRequest(UInt32, Status)
            /// Stop the request's work (the client cancelled it); it is not answered.
            case cancelRequest(UInt32, then: AfterAnswer)
            /// Send the GOAWAY; close at once when nothing is in flight.
            case drain(GoAway, closeNow: Bool)
            /// See ``Abort``.
            case abort(Abort)
        }

        package let configuration: Configuration
        package private(set) var phase = Phase.handshaking
        /// Ids of the requests running now.
        package private(set) var inFlight: Set<UInt32> = []
        /// The highest request id accepted (the last id a GOAWAY promises to answer).
        package private(set) var lastRequestID: UInt32 = 0
        private var tlsDone = false
        private var startedAt = NIODeadline.uptimeNanoseconds(0)
        private var lastFrameAt = NIODeadline.uptimeNanoseconds(0)
        private var lastRequestAt = NIODeadline.uptimeNanoseconds(0)
        private var pingSentAt: NIODeadline?
        private var readPending = false
        private var writable = true

        package init(configuration: Configuration) {
            self.configuration = configuration
        }

        // MARK: Connection

        /// The connection is up: the handshake timer starts now.
        package mutating func connectionStarted(now: NIODeadline) {
            self.startedAt = now
            self.lastFrameAt = now
            self.lastRequestAt = now
        }

        /// TLS finished with `alpn` negotiated.
        package mutating func tlsHandshakeCompleted(alpn: String?) -> Action {
            guard self.phase == .handshaking else { return .none }
            guard alpn == WireVersion.alpn else {
                return self.abort(reason: "closing: peer did not negotiate ALPN \(WireVersion.alpn)", alpn ?? "none")
            }
            self.tlsDone = true
            return .readPeerCertificate
        }

        /// The channel closed; returns how many requests were still in flight (their work is to be stopped).
        package mutating func channelInactive() -> Int {
            let count = self.inFlight.count
            self.markClosed()
            return count
        }

        /// An error came up the pipeline (decoder, TLS, socket).
        package mutating func errorCaught(_ error: any Error) -> Action {
            if let wireError = error as? WireError {
                return self.protocolError(wireError)
            }
            if let transport = error as? TransportError, transport.code == .bufferBudget {
                return self.abort(goAway: transport.status, reason: "closing: over a server limit", "\(transport)")
            }
            return self.abort(goAway: nil, reason: "connection failed", "\(error)")
        }

        /// Finish what is in flight, accept nothing new, then close (shutdown, idle, or the client's GOAWAY).
        package mutating func drain(reason: String) -> Action {
            switch self.phase {
            case .handshaking:
                self.markClosed()
                return .abort(Abort(goAway: nil, reason: "closing before HELLO: \(reason)"))
            case .open:
                self.phase = .draining
                let goAway = GoAway(lastRequestID: self.lastRequestID, status: Status(.ok, reason))
                if self.inFlight.isEmpty { self.markClosed() }
                return .drain(goAway, closeNow: self.inFlight.isEmpty)
            case .draining, .closed:
                return .none
            }
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
                guard self.tlsDone else {
                    return self.protocolError(WireError(.unexpectedFrame, "HELLO before the TLS handshake finished"))
                }
                guard hello.minVersion <= WireVersion.current, hello.maxVersion >= WireVersion.current else {
                    let status = Status(
                        .failedPrecondition,
                        "no common protocol version: peer speaks \(hello.minVersion)...\(hello.maxVersion), "
                            + "this server \(WireVersion.current)"
                    )
                    self.markClosed()
                    return .abort(
                        Abort(
                            goAway: GoAway(lastRequestID: 0, status: status),
                            reason: "closing: no common protocol version",
                            detail: "peer speaks \(hello.minVersion)...\(hello.maxVersion)"
                        )
                    )
                }
                self.phase = .open
                self.lastRequestAt = now
                return .acceptHello(hello)
            case .request(let id, let request):
                return self.receivedRequest(id, request, now: now)
            case .cancel(let id):
                guard self.inFlight.remove(id) != nil else { return .none }  // already answered: a benign race
                return .cancelRequest(id, then: self.afterAnswer())
            case .ping(let opaque):
                return .write(.pong(opaque))
            case .pong, .skipped:
                return .none
            case .goAway(let goAway):
                if goAway.status.code == .ok { return self.drain(reason: "client sent GOAWAY") }
                // the client gave up on the connection and failed its calls: nobody waits for answers
                self.markClosed()
                return .abort(
                    Abort(goAway: nil, reason: "closing: client ended the connection", detail: "\(goAway.status)")
                )
            case .error(let id, let status):
                guard id == 0 else {
                    return self.protocolError(WireError(.unexpectedFrame, "ERROR for request \(id) sent to a server"))
                }
                self.markClosed()
                return .abort(
                    Abort(goAway: nil, reason: "closing: client reported a connection error", detail: "\(status)")
                )
            case .response:
                return self.protocolError(WireError(.unexpectedFrame, "RESPONSE sent to a server"))
            }
        }

        private mutating func receivedRequest(_ id: UInt32, _ request: Request, now: NIODeadline) -> Action {
            guard self.phase == .open || self.phase == .draining else {
                return self.protocolError(WireError(.unexpectedFrame, "REQUEST before HELLO"))
            }
            guard id > self.lastRequestID else {
                return self.protocolError(
                    WireError(.unexpectedFrame, "request id \(id) is not above the previous \(self.lastRequestID)")
                )
            }
            // above GOAWAY's last id: not processed, the client retries elsewhere
            if self.phase == .draining { return .none }
            self.lastRequestID = id
            self.lastRequestAt = now
            guard self.inFlight.count < self.configuration.maxInFlight else {
                let limit = self.configuration.maxInFlight
                return .refuseRequest(
                    id,
                    Status(.resourceExhausted, "\(limit) requests are in flight on this connection, the server's limit")
                )
            }
            self.inFlight.insert(id)
            return .startRequest(id, request)
        }

        /// Request `id` has its answer (a result, or its deadline passed): `nil` when it already ended and must not be
        /// answered again, otherwise what to do after sending the answer.
        package mutating func requestEnded(_ id: UInt32) -> AfterAnswer? {
            guard self.phase != .closed, self.inFlight.remove(id) != nil else { return nil }
            return self.afterAnswer()
        }

        private mutating func afterAnswer() -> AfterAnswer {
            if self.phase == .draining, self.inFlight.isEmpty {
                self.markClosed()
                return .close
            }
            if self.readPending, self.writable {
                self.readPending = false
                return .resumeReading
            }
            return .none
        }

        // MARK: Back-pressure

        /// The pipeline asks for more bytes: `true` to read now, `false` to hold the read until answers can be sent.
        /// At `max_in_flight` the connection is still read, so that PING, CANCEL and GOAWAY get through and excess
        /// requests are refused at once (wire-v1.md §6.2).
        package mutating func readRequested() -> Bool {
            if self.writable { return true }
            self.readPending = true
            return false
        }

        /// The channel's writability changed: `true` to issue the read that was held.
        package mutating func writabilityChanged(isWritable: Bool) -> Bool {
            self.writable = isWritable
            guard self.readPending, isWritable else { return false }
            self.readPending = false
            return true
        }

        // MARK: Timers

        /// The periodic timer fired: handshake timeout, keepalive PING and its timeout.
        package mutating func checkKeepalive(now: NIODeadline) -> Action {
            switch self.phase {
            case .handshaking:
                guard now - self.startedAt >= self.configuration.handshakeTimeout else { return .none }
                self.markClosed()
                return .abort(Abort(goAway: nil, reason: "closing: TLS handshake and HELLO did not finish in time"))
            case .closed:
                return .none
            case .open, .draining:
                if let sent = self.pingSentAt {
                    guard now - sent >= self.configuration.keepaliveTimeout else { return .none }
                    self.markClosed()
                    return .abort(
                        Abort(goAway: nil, reason: "closing: peer did not answer PING (dead, or stalled mid-frame)")
                    )
                }
                guard now - self.lastFrameAt >= self.configuration.keepaliveInterval else { return .none }
                self.pingSentAt = now
                return .write(.ping(UInt64(truncatingIfNeeded: now.uptimeNanoseconds)))
            }
        }

        /// The periodic timer fired: an open connection with no request for the idle timeout drains.
        package mutating func checkIdle(now: NIODeadline) -> Action {
            guard self.phase == .open, self.inFlight.isEmpty,
                now - self.lastRequestAt >= self.configuration.idleTimeout
            else { return .none }
            return self.drain(reason: "idle for \(self.configuration.idleTimeout.nanoseconds / 1_000_000) ms")
        }

        // MARK: Errors

        /// A GOAWAY that is not graceful (wire-v1.md §6.5): no request of the connection is answered after it.
        package mutating func protocolError(_ error: WireError) -> Action {
            let status = Status(.invalidArgument, "protocol error: \(error.code): \(error.message)")
            return self.abort(goAway: status, reason: "closing: protocol error", "\(error)")
        }

        private mutating func abort(goAway status: Status?, reason: String, _ detail: String) -> Action {
            guard self.phase != .closed else { return .none }
            let wasOpen = self.phase != .handshaking
            self.markClosed()
            let goAway = wasOpen ? status.map { GoAway(lastRequestID: self.lastRequestID, status: $0) } : nil
            return .abort(Abort(goAway: goAway, reason: reason, detail: detail))
        }

        /// Closed: nothing in flight is answered any more.
        private mutating func markClosed() {
            self.phase = .closed
            self.inFlight.removeAll()
        }

        private mutating func abort(reason: String, _ detail: String) -> Action {
            self.abort(goAway: nil, reason: reason, detail)
        }
    }
}

extension ServerConnection.StateMachine.Abort {
    package init(goAway: GoAway?, reason: String) {
        self.init(goAway: goAway, reason: reason, detail: nil)
    }
}
