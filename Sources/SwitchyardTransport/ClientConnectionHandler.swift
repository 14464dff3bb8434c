import Logging
import NIOCore
import NIOSSL
import NIOTLS
import SwitchyardWire

/// What the client side asks its connection handler to do.
enum ClientCommand {
    /// Send a request; complete `promise` with its answer. The deadline is enforced here.
    case call(Request, deadline: NIODeadline?, promise: EventLoopPromise<Response>)
}

/// The state a connection reports to its pool.
struct ConnectionLimits: Sendable {
    var maxInFlight: Int
    var maxPayload: UInt32
}

/// One client-side connection: HELLO, request ids, matching answers, deadlines, CANCEL, keepalive, GOAWAY.
///
/// A request whose promise completes while it is still in the table was abandoned (deadline or task
/// cancellation): the handler sends CANCEL so the server stops working on it.
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = ClientCommand
    typealias OutboundOut = Frame

    private enum State { case handshaking, open, draining, closed }

    private let identity: String
    private let keepaliveInterval: Duration
    private let keepaliveTimeout: Duration
    private let ready: EventLoopPromise<ConnectionLimits>
    private let onDrain: @Sendable () -> Void
    private let onServerDraining: @Sendable () -> Void
    private var logger: Logger
    private var state = State.handshaking
    private var pending: [UInt32: EventLoopPromise<Response>] = [:]
    private var nextID: UInt32 = 1
    private var peerMaxPayload = WireLimits.minimumPayload
    private var peerDTypes = AnnouncedDTypes.none
    private var peerIdentity = "the server"
    private var lastFrameAt = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    private var timer: Scheduled<Void>?
    private var flushScheduled = false

    init(
        identity: String,
        keepaliveInterval: Duration,
        keepaliveTimeout: Duration,
        ready: EventLoopPromise<ConnectionLimits>,
        logger: Logger,
        onDrain: @escaping @Sendable () -> Void,
        onServerDraining: @escaping @Sendable () -> Void = {}
    ) {
        self.identity = identity
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveTimeout = keepaliveTimeout
        self.ready = ready
        self.logger = logger
        self.onDrain = onDrain
        self.onServerDraining = onServerDraining
    }

    // MARK: Lifecycle

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            guard negotiated == WireVersion.alpn else {
                self.fail(
                    context: context,
                    TransportError(
                        .connectFailed,
                        "server did not negotiate ALPN \(WireVersion.alpn) (got \(negotiated ?? "none"))"
                    )
                )
                return
            }
            let parameters = AnnouncedDTypes.all.parameter.map { [$0] } ?? []
            let hello = Hello(maxInFlight: 0, identity: self.identity, parameters: parameters)
            context.writeAndFlush(self.wrapOutboundOut(.hello(hello)), promise: nil)
            self.scheduleTick(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(context: context, TransportError(.connectionClosed, "connection to the server closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let wireError = error as? WireError {
            self.protocolError(context: context, wireError)
        } else {
            self.fail(context: context, TransportError(.connectionClosed, "connection failed: \(error)"))
        }
    }

    /// Fails everything in flight and closes.
    private func fail(context: ChannelHandlerContext, _ error: TransportError) {
        if self.state == .closed { return }
        if self.state == .handshaking {
            self.ready.fail(TransportError(.connectFailed, error.message))
        }
        self.state = .closed
        self.timer?.cancel()
        let pending = self.pending
        self.pending.removeAll()
        for (_, promise) in pending { promise.fail(error) }
        self.onDrain()
        context.close(promise: nil)
    }

    private func protocolError(context: ChannelHandlerContext, _ error: WireError) {
        guard self.state != .closed else { return }
        self.logger.notice("closing: server broke the protocol", metadata: ["error": "\(error)"])
        if self.state != .handshaking {
            let status = Status(.invalidArgument, "protocol error: \(error.code): \(error.message)")
            let goAway = GoAway(lastRequestID: 0, status: status)
            context.writeAndFlush(self.wrapOutboundOut(.goAway(goAway)), promise: nil)
        }
        self.fail(context: context, TransportError(.protocolViolation, "server broke the protocol: \(error.message)"))
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = self.unwrapOutboundIn(data)
        switch command {
        case .call(let request, let deadline, let answer):
            promise?.succeed()
            guard self.state == .open else {
                answer.fail(
                    TransportError(
                        .notProcessed,
                        "the connection is \(self.state == .draining ? "draining" : "closed")"
                    )
                )
                return
            }
            if let deadline, deadline <= .now() {
                answer.fail(Status(.deadlineExceeded, "deadline passed before the request was sent"))
                return
            }
            if let refusal = self.peerDTypes.refusal(of: request.tensors, what: "tensor", peer: self.peerIdentity) {
                // A server of an earlier revision would take the dtype for a protocol error of the connection.
                answer.fail(Status(.failedPrecondition, refusal))
                return
            }
            let id = self.nextID
            var request = request
            if let deadline { request.timeout = .nanoseconds(max(1, (deadline - .now()).nanoseconds)) }
            let frame = Frame.request(id: id, request)
            do {
                try frame.validateForSending(maxPayload: self.peerMaxPayload)
            } catch {
                answer.fail(Status(.invalidArgument, "request cannot be sent: \(error.message)"))
                return
            }
            self.nextID &+= 1
            if self.nextID == 0 {  // ids are exhausted: finish this connection, the pool opens another
                self.state = .draining
                self.onDrain()
            }
            self.pending[id] = answer
            context.write(self.wrapOutboundOut(frame), promise: nil)
            if self.pending.count == 1 {
                context.flush()  // a lone request goes out at once
            } else {
                self.scheduleFlush(context: context)
            }
            var timer: Scheduled<Void>?
            if let deadline {
                timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                    answer.fail(Status(.deadlineExceeded, "no answer within the deadline"))
                }
            }
            answer.futureResult.assumeIsolated().whenComplete { _ in
                timer?.cancel()
                if self.pending.removeValue(forKey: id) != nil, self.state != .closed {  // abandoned before its answer
                    context.writeAndFlush(self.wrapOutboundOut(.cancel(id: id)), promise: nil)
                    self.closeIfDrained(context: context)
                }
            }
        }
    }

    /// Under load, requests written in the same event-loop tick share one flush: one TLS record and one syscall.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            context.flush()
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        self.lastFrameAt = .now()
        self.pingSentAt = nil
        switch frame {
        case .hello(let hello):
            guard self.state == .handshaking else {
                return self.protocolError(context: context, WireError(.unexpectedFrame, "second HELLO"))
            }
            guard hello.minVersion <= WireVersion.current, hello.maxVersion >= WireVersion.current else {
                return self.fail(
                    context: context,
                    TransportError(
                        .connectFailed,
                        "server speaks protocol \(hello.minVersion)...\(hello.maxVersion), this client \(WireVersion.current)"
                    )
                )
            }
            self.peerMaxPayload = hello.maxPayload
            self.peerDTypes = AnnouncedDTypes(hello: hello.parameters)
            if !hello.identity.isEmpty { self.peerIdentity = "server '\(hello.identity)'" }
            self.state = .open
            self.logger[metadataKey: "peer"] = "\(hello.identity)"
            self.ready.succeed(
                ConnectionLimits(maxInFlight: Int(max(1, hello.maxInFlight)), maxPayload: hello.maxPayload)
            )
        case .response(let id, let response):
            self.answer(context: context, id: id, .success(response))
        case .error(let id, let status):
            if id == 0 {
                self.fail(
                    context: context,
                    TransportError(.connectionClosed, "server reported a connection error: \(status)")
                )
            } else {
                self.answer(context: context, id: id, .failure(status))
            }
        case .ping(let opaque):
            context.writeAndFlush(self.wrapOutboundOut(.pong(opaque)), promise: nil)
        case .pong, .skipped:
            break
        case .goAway(let goAway):
            self.goAway(context: context, goAway)
        case .request, .cancel:
            self.protocolError(context: context, WireError(.unexpectedFrame, "\(frame.type) sent to a client"))
        }
    }

    private func answer(context: ChannelHandlerContext, id: UInt32, _ result: Result<Response, Status>) {
        guard let promise = self.pending.removeValue(forKey: id) else {
            // ids below nextID were sent and already answered, cancelled or timed out: a benign race
            if self.nextID != 0, id >= self.nextID {
                self.protocolError(
                    context: context,
                    WireError(.unknownRequest, "answer for request \(id), which was never sent")
                )
            }
            return
        }
        promise.completeWith(result.mapError { $0 as any Error })
        self.closeIfDrained(context: context)
    }

    private func goAway(context: ChannelHandlerContext, _ goAway: GoAway) {
        if goAway.status.code != .ok {
            // not graceful: nothing more comes for any request (wire-v1.md §6.5)
            self.logger.notice("server closed the connection", metadata: ["status": "\(goAway.status)"])
            let pending = self.pending
            self.pending.removeAll()
            for (id, promise) in pending {
                if id <= goAway.lastRequestID {
                    promise.fail(
                        Status(
                            .unavailable,
                            "the server ended the connection (\(goAway.status)); the request may have been partly processed"
                        )
                    )
                } else {
                    promise.fail(
                        TransportError(
                            .notProcessed,
                            "the server ended the connection (\(goAway.status)); the request was not processed"
                        )
                    )
                }
            }
            return self.fail(
                context: context,
                TransportError(.connectionClosed, "the server ended the connection: \(goAway.status)")
            )
        }
        if self.state == .open || self.state == .handshaking {
            if self.state == .open { self.onServerDraining() }
            if self.state == .handshaking {
                self.ready.fail(TransportError(.connectFailed, "server refused the connection: \(goAway.status)"))
            }
            self.state = .draining
            self.onDrain()
        }
        // requests above the last id were never processed: safe to retry anywhere
        for id in self.pending.keys where id > goAway.lastRequestID {
            self.pending.removeValue(forKey: id)?.fail(
                TransportError(.notProcessed, "server is draining and did not process the request")
            )
        }
        self.closeIfDrained(context: context)
    }

    private func closeIfDrained(context: ChannelHandlerContext) {
        if self.state == .draining, self.pending.isEmpty {
            self.state = .closed
            self.timer?.cancel()
            context.close(promise: nil)
        }
    }

    // MARK: Keepalive

    private func scheduleTick(context: ChannelHandlerContext) {
        let interval = TimeAmount(min(self.keepaliveTimeout, self.keepaliveInterval, .seconds(1)))
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard self.state != .closed else { return }
            let now = NIODeadline.now()
            if let sent = self.pingSentAt {
                if now - sent >= TimeAmount(self.keepaliveTimeout) {
                    self.logger.notice("closing: server did not answer PING")
                    return self.fail(
                        context: context,
                        TransportError(.connectionClosed, "server stopped answering (keepalive timeout)")
                    )
                }
            } else if now - self.lastFrameAt >= TimeAmount(self.keepaliveInterval), self.state != .handshaking {
                self.pingSentAt = now
                context.writeAndFlush(self.wrapOutboundOut(.ping(UInt64(now.uptimeNanoseconds))), promise: nil)
            }
            self.scheduleTick(context: context)
        }
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}
