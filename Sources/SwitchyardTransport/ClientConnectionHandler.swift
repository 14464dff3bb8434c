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

/// One client-side connection. Its lifecycle (HELLO, request ids, answers, keepalive, GOAWAY, protocol errors) is
/// decided by ``ClientConnection/StateMachine``; this handler feeds it events and carries out its actions.
///
/// A request whose promise completes while it is still pending was abandoned (deadline or task cancellation): the
/// handler sends CANCEL so the server stops working on it.
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = ClientCommand
    typealias OutboundOut = Frame

    private let identity: String
    private let keepaliveInterval: Duration
    private let keepaliveTimeout: Duration
    private let ready: EventLoopPromise<ConnectionLimits>
    private let onDrain: @Sendable () -> Void
    private let onServerDraining: @Sendable () -> Void
    private var logger: Logger
    private var machine: ClientConnection.StateMachine
    private var pending: [UInt32: EventLoopPromise<Response>] = [:]
    private var peerMaxPayload = WireLimits.minimumPayload
    private var peerDTypes = AnnouncedDTypes.none
    private var peerIdentity = "the server"
    private var timer: Scheduled<Void>?
    private var flushScheduled = false
    /// The deadlines of calls pending, and the one timer armed for the earliest (a timer per call costs a scheduled
    /// task and its closure for deadlines that almost never pass).
    private var deadlines = RequestDeadlines()

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
        self.machine = ClientConnection.StateMachine(
            keepaliveInterval: TimeAmount(keepaliveInterval),
            keepaliveTimeout: TimeAmount(keepaliveTimeout)
        )
    }

    // MARK: Lifecycle

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            self.perform(
                self.machine.tlsHandshakeCompleted(alpn: negotiated, now: context.eventLoop.now),
                context: context
            )
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.perform(
            self.machine.connectionLost(TransportError(.connectionClosed, "connection to the server closed")),
            context: context
        )
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.perform(self.machine.errorCaught(error), context: context)
    }

    /// Carries out what the state machine decided.
    private func perform(_ action: ClientConnection.StateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .sendHello:
            let parameters = AnnouncedDTypes.all.parameter.map { [$0] } ?? []
            let hello = Hello(maxInFlight: 0, identity: self.identity, parameters: parameters)
            context.writeAndFlush(self.wrapOutboundOut(.hello(hello)), promise: nil)
            self.scheduleTick(context: context)
        case .ready(let hello):
            self.peerMaxPayload = hello.maxPayload
            self.peerDTypes = AnnouncedDTypes(hello: hello.parameters)
            if !hello.identity.isEmpty { self.peerIdentity = "server '\(hello.identity)'" }
            self.logger[metadataKey: "peer"] = "\(hello.identity)"
            self.ready.succeed(
                ConnectionLimits(maxInFlight: Int(max(1, hello.maxInFlight)), maxPayload: hello.maxPayload)
            )
        case .write(let frame):
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
        case .cancel(let id, let close):
            self.pending.removeValue(forKey: id)
            context.writeAndFlush(self.wrapOutboundOut(.cancel(id: id)), promise: nil)
            if close { self.close(context: context) }
        case .complete(let id, let result, let close):
            self.pending.removeValue(forKey: id)?.completeWith(result.mapError { $0 as any Error })
            if close { self.close(context: context) }
        case .drain(let lastRequestID, let serverDraining, let beganDraining, let close):
            if serverDraining { self.onServerDraining() }
            if beganDraining { self.onDrain() }
            // requests above the last id were never processed: safe to retry anywhere
            for id in self.pending.keys where id > lastRequestID {
                self.pending.removeValue(forKey: id)?.fail(
                    TransportError(.notProcessed, "server is draining and did not process the request")
                )
            }
            if close { self.close(context: context) }
        case .fail(let failure):
            self.fail(failure, context: context)
        }
    }

    /// Fails everything pending and closes.
    private func fail(_ failure: ClientConnection.StateMachine.Failure, context: ChannelHandlerContext) {
        if failure.error.code == .protocolViolation {
            self.logger.notice("closing: server broke the protocol", metadata: ["error": "\(failure.error)"])
        }
        if let goAway = failure.goAway {
            context.writeAndFlush(self.wrapOutboundOut(.goAway(goAway)), promise: nil)
        }
        if failure.duringHandshake {
            self.ready.fail(TransportError(.connectFailed, failure.error.message))
        }
        let pending = self.pending
        self.pending.removeAll()
        for (id, promise) in pending {
            guard let (lastRequestID, status) = failure.processedUpTo else {
                promise.fail(failure.error)
                continue
            }
            if id <= lastRequestID {
                promise.fail(
                    Status(
                        .unavailable,
                        "the server ended the connection (\(status)); the request may have been partly processed"
                    )
                )
            } else {
                promise.fail(
                    TransportError(
                        .notProcessed,
                        "the server ended the connection (\(status)); the request was not processed"
                    )
                )
            }
        }
        if failure.processedUpTo != nil {
            self.logger.notice("server closed the connection", metadata: ["error": "\(failure.error)"])
        }
        self.onDrain()
        self.close(context: context)
    }

    private func close(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.deadlines.cancelTimer()
        context.close(promise: nil)
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = self.unwrapOutboundIn(data)
        switch command {
        case .call(let request, let deadline, let answer):
            promise?.succeed()
            let now = context.eventLoop.now
            let id: UInt32
            switch self.machine.prepareCall(deadline: deadline, now: now) {
            case .failure(let error):
                answer.fail(error)
                return
            case .success(let next):
                id = next
            }
            if let refusal = self.peerDTypes.refusal(of: request.tensors, what: "tensor", peer: self.peerIdentity) {
                // A server of an earlier revision would take the dtype for a protocol error of the connection.
                answer.fail(Status(.failedPrecondition, refusal))
                return
            }
            var request = request
            if let deadline { request.timeout = .nanoseconds(max(1, (deadline - now).nanoseconds)) }
            let frame = Frame.request(id: id, request)
            do {
                try frame.validateForSending(maxPayload: self.peerMaxPayload)
            } catch {
                answer.fail(Status(.invalidArgument, "request cannot be sent: \(error.message)"))
                return
            }
            if self.machine.callSent(id) {  // ids are exhausted: finish this connection, the pool opens another
                self.onDrain()
            }
            self.pending[id] = answer
            context.write(self.wrapOutboundOut(frame), promise: nil)
            if self.pending.count == 1 {
                context.flush()  // a lone request goes out at once
            } else {
                self.scheduleFlush(context: context)
            }
            if let deadline {
                // call ids only grow on a connection (the state machine hands them out): an id names one call
                self.deadlines.insert(.init(deadline: deadline, id: id))
                self.armDeadlineTimer(context: context)
            }
            answer.futureResult.assumeIsolated().whenComplete { _ in
                self.perform(self.machine.callCompleted(id), context: context)
                if deadline != nil { self.dropEndedDeadlines() }
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

    // MARK: Deadlines

    /// Arms the connection's one deadline timer for the earliest deadline, unless it is armed for that or sooner
    /// (a timer that fires early finds nothing due and arms again).
    private func armDeadlineTimer(context: ChannelHandlerContext) {
        self.deadlines.armTimer { earliest in
            context.eventLoop.assumeIsolated().scheduleTask(deadline: earliest) {
                self.deadlines.timerFired()
                self.expireDeadlines(context: context)
            }
        }
    }

    /// Fails every pending call whose deadline has passed (their completion sends CANCEL), then arms for the next.
    private func expireDeadlines(context: ChannelHandlerContext) {
        let expired = self.deadlines.popExpired(now: context.eventLoop.now) { self.pending[$0.id] != nil }
        for entry in expired {
            self.pending[entry.id]?.fail(Status(.deadlineExceeded, "no answer within the deadline"))
        }
        if self.machine.phase != .closed { self.armDeadlineTimer(context: context) }
    }

    /// Drops the deadlines of ended calls from the front of the queue (they mostly end in order).
    private func dropEndedDeadlines() {
        _ = self.deadlines.popExpired(now: nil) { self.pending[$0.id] != nil }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.perform(self.machine.received(self.unwrapInboundIn(data), now: context.eventLoop.now), context: context)
    }

    // MARK: Keepalive

    private func scheduleTick(context: ChannelHandlerContext) {
        let interval = TimeAmount(min(self.keepaliveTimeout, self.keepaliveInterval, .seconds(1)))
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard self.machine.phase != .closed else { return }
            let action = self.machine.checkKeepalive(now: context.eventLoop.now)
            if case .fail = action { self.logger.notice("closing: server did not answer PING") }
            self.perform(action, context: context)
            self.scheduleTick(context: context)
        }
    }
}

@available(*, unavailable)
extension ClientConnectionHandler: Sendable {}
