import Logging
import NIOCore
import NIOSSL
import NIOTLS
import SwitchyardTensor
import SwitchyardTracing
import SwitchyardWire

/// Tells a server connection to drain: GOAWAY, finish what is in flight, close.
struct DrainEvent: Sendable {
    /// The GOAWAY's message.
    var reason = "server is shutting down"
}

/// One server-side connection. Its lifecycle (HELLO, admission, keepalive, idle, drain, read pausing, protocol errors)
/// is decided by ``ServerConnection/StateMachine``; this handler feeds it events and carries out its actions: it runs
/// requests, sends answers, arms timers and closes.
///
/// Every answer goes through ``finish(_:with:context:)``, which asks the state machine first, so each accepted
/// request is answered exactly once whatever races (deadline, cancel, handler result).
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = Never
    typealias OutboundOut = Frame

    /// The resources of a request the state machine has in flight.
    private struct Work {
        var task: Task<Void, Never>?
        var timeout: Duration?
        var trace = TraceID.none
        /// The request's tensor bytes, held of the server's in-flight budget until it ends.
        var bytes: ByteBudget.Reservation?
    }

    private let configuration: WireServerConfiguration
    private let service: any WireService
    /// The server's budget for tensor bytes of requests being served; `nil`: unbounded.
    private let inFlightBudget: ByteBudget?
    /// What the server's accept path reads of this connection (idle or not) at the connection cap.
    private let activity: ConnectionActivity?
    private var logger: Logger
    private var machine: ServerConnection.StateMachine
    private var connection = ServerConnection.Context()
    private var work: [UInt32: Work] = [:]
    private var timer: Scheduled<Void>?
    /// The deadlines of requests in flight, and the one timer armed for the earliest.
    private var deadlines = RequestDeadlines()
    private var context: ChannelHandlerContext?
    private var executor: EventLoopTaskExecutor?
    private var flushScheduled = false
    private var inReadBurst = false
    private var flushAfterRead = false

    init(
        configuration: WireServerConfiguration,
        service: any WireService,
        inFlightBudget: ByteBudget? = nil,
        activity: ConnectionActivity? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.service = service
        self.inFlightBudget = inFlightBudget
        self.activity = activity
        self.logger = logger
        self.machine = ServerConnection.StateMachine(configuration: .init(configuration))
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if self.configuration.handlerPlacement == .eventLoop {
            self.executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
        }
        self.logger[metadataKey: "peer.address"] = "\(context.channel.remoteAddress?.description ?? "?")"
        if context.channel.isActive { self.startTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.startTimer(context: context)
        context.fireChannelActive()
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard self.timer == nil else { return }
        self.machine.connectionStarted(now: context.eventLoop.now)
        self.scheduleTick(context: context)
    }

    private func scheduleTick(context: ChannelHandlerContext) {
        let interval = TimeAmount(
            min(self.configuration.keepaliveTimeout, self.configuration.keepaliveInterval, .seconds(1))
        )
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard self.machine.phase != .closed else { return }
            let now = context.eventLoop.now
            self.perform(self.machine.checkKeepalive(now: now), context: context)
            self.perform(self.machine.checkIdle(now: now), context: context)
            self.scheduleTick(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        let count = self.machine.channelInactive()
        if count > 0 {  // the client is gone: stop the work, nobody can be answered
            self.logger.debug("connection closed with requests in flight", metadata: ["requests": "\(count)"])
        }
        self.stopAllWork()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.perform(self.machine.errorCaught(error), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            self.perform(self.machine.tlsHandshakeCompleted(alpn: negotiated), context: context)
        } else if let drain = event as? DrainEvent {
            self.perform(self.machine.drain(reason: drain.reason), context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Back-pressure

    func read(context: ChannelHandlerContext) {
        if self.machine.readRequested() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if self.machine.writabilityChanged(isWritable: context.channel.isWritable) { context.read() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Frames

    func channelReadComplete(context: ChannelHandlerContext) {
        self.inReadBurst = false
        if self.flushAfterRead {
            self.flushAfterRead = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.inReadBurst = true
        let now = context.eventLoop.now
        let frame = self.unwrapInboundIn(data)
        self.perform(self.machine.received(frame, now: now), context: context)
        // requests make a connection active; keepalive PINGs and PONGs do not
        if case .request = frame { self.activity?.touched(inFlight: self.machine.inFlight.count, now: now) }
    }

    /// Carries out what the state machine decided.
    private func perform(_ action: ServerConnection.StateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .readPeerCertificate:
            if let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
                let certificate = handler.peerCertificate
            {
                self.connection.peer = PeerIdentity(certificate: certificate)
                self.logger[metadataKey: "peer"] = "\(self.connection.peer)"
            }
            if let policy = self.configuration.authorization {
                self.connection.peer = policy.resolve(self.connection.peer)
            }
        case .acceptHello(let hello):
            self.connection.helloReceived(hello)
            let reply = Hello(
                maxPayload: self.configuration.maxPayload,
                maxInFlight: self.configuration.maxInFlightPerConnection,
                idleTimeoutMilliseconds: UInt32(clamping: self.configuration.idleTimeout.milliseconds),
                identity: self.configuration.identity,
                parameters: AnnouncedDTypes.all.parameter.map { [$0] } ?? []
            )
            context.writeAndFlush(self.wrapOutboundOut(.hello(reply)), promise: nil)
        case .write(let frame):
            context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
        case .startRequest(let id, let request):
            self.start(id, request, context: context)
        case .refuseRequest(let id, let status):
            self.send(.error(id: id, status), context: context)
        case .cancelRequest(let id, let then):
            if let work = self.work.removeValue(forKey: id) {
                work.task?.cancel()
                self.dropEndedDeadlines()
            }
            self.afterAnswer(then, context: context)
        case .drain(let goAway, let closeNow):
            context.writeAndFlush(self.wrapOutboundOut(.goAway(goAway)), promise: nil)
            if closeNow { context.close(promise: nil) }
        case .abort(let abort):
            var metadata: Logger.Metadata = [:]
            if let detail = abort.detail { metadata["error"] = "\(detail)" }
            self.logger.notice("\(abort.reason)", metadata: metadata)
            self.stopAllWork()
            if let goAway = abort.goAway {
                context.writeAndFlush(self.wrapOutboundOut(.goAway(goAway))).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            } else {
                context.close(promise: nil)
            }
        }
    }

    private func start(_ id: UInt32, _ received: Request, context: ChannelHandlerContext) {
        var request = received
        // a caller that speaks W3C trace context but not our header: its trace id goes on from here
        if request.traceID == .none, let traceparent = request[parameter: ParameterKey.traceparent],
            let traceID = TraceID(traceparent: traceparent)
        {
            request.traceID = traceID
        }
        if let refusal = self.configuration.authorization?.refusal(
            of: request.method,
            by: self.connection.peer,
            logger: self.logger
        ) {
            return self.finish(id, with: .failure(refusal), context: context)
        }
        let deadline = request.timeout.map { ContinuousClock.now.advanced(by: $0) }
        // shedding costs no task and no timer; the answer ends the request in the state machine like any other, so
        // that refused requests do not count against the connection's in-flight limit
        if let refusal = self.service.refusal(for: request, deadline: deadline) {
            guard let then = self.machine.requestEnded(id) else { return }
            self.send(.error(id: id, refusal), context: context)
            return self.afterAnswer(then, context: context)
        }
        var work = Work(trace: request.traceID)
        if let budget = self.inFlightBudget {
            let bytes = request.tensors.reduce(0) { $0 + $1.tensor.byteCount }
            guard let reservation = budget.reserve(bytes) else {
                guard let then = self.machine.requestEnded(id) else { return }
                let status = Status(
                    .resourceExhausted,
                    "the server is serving its limit of \(budget.capacity) bytes of requests; a request of \(bytes) "
                        + "bytes is refused"
                )
                self.send(.error(id: id, status), context: context)
                return self.afterAnswer(then, context: context)
            }
            work.bytes = reservation
        }
        // a server span only when tracing is on (one flag check otherwise); it gives an untraced request its trace id
        let span = RequestTracing.startServerSpan(for: &request, service: self.configuration.identity)
        let requestContext = RequestContext(
            requestID: id,
            deadline: deadline,
            peer: self.connection.peer,
            traceID: request.traceID,
            logger: self.logger
        )
        if let timeout = request.timeout {
            work.timeout = timeout
            // request ids only grow on a connection (the state machine enforces it): an id names one request
            self.deadlines.insert(.init(deadline: context.eventLoop.now + TimeAmount(timeout), id: id))
            self.armDeadlineTimer(context: context)
        }
        self.work[id] = work
        let service = self.service
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let started = request
        @Sendable func body() async {
            let result: Result<Response, any Error>
            if let span {
                result = await span.run { try await service.handle(started, context: requestContext) }
            } else {
                do {
                    result = .success(try await service.handle(started, context: requestContext))
                } catch {
                    result = .failure(error)
                }
            }
            let complete: @Sendable () -> Void = {
                guard let context = bound.value.context else { return }
                bound.value.finish(id, with: result, context: context)
            }
            if loop.inEventLoop { complete() } else { loop.execute(complete) }  // handlers on the loop finish in place
        }
        // On the loop, the handler starts at once, right here, and only suspensions cost a hop.
        let task =
            self.executor == nil
            ? Task { await body() } : Task.immediate(executorPreference: self.executor) { await body() }
        if self.work[id] != nil {
            self.work[id]?.task = task
        } else {
            task.cancel()
        }
    }

    /// Answers request `id` unless it was already answered or cancelled.
    private func finish(_ id: UInt32, with result: Result<Response, any Error>, context: ChannelHandlerContext) {
        guard let then = self.machine.requestEnded(id) else { return }
        let work = self.work.removeValue(forKey: id) ?? Work()
        if work.timeout != nil { self.dropEndedDeadlines() }
        if case .failure(let error) = result, (error as? Status)?.code == .deadlineExceeded { work.task?.cancel() }
        var frame: Frame
        switch result {
        case .success(let response):
            frame = .response(id: id, response)
            do {
                if let refusal = self.connection.peerDTypes.refusal(
                    of: response.tensors,
                    what: "output",
                    peer: "this client"
                ) {
                    // A client of an earlier revision would take the dtype for a protocol error of the connection.
                    frame = .error(id: id, Status(.failedPrecondition, refusal))
                }
                try frame.validateForSending(maxPayload: self.connection.peerMaxPayload)
            } catch {
                self.logger.error(
                    "response cannot be sent",
                    metadata: ["request.id": "\(id)", "trace.id": "\(work.trace)", "error": "\(error)"]
                )
                frame = .error(id: id, Status(.internalError, "the response cannot be sent: \(error.message)"))
            }
        case .failure(let error):
            let status = self.status(for: error, id: id, trace: work.trace)
            self.logger.debug(
                "answered with an error",
                metadata: ["request.id": "\(id)", "trace.id": "\(work.trace)", "status": "\(status)"]
            )
            frame = .error(id: id, status)
        }
        self.send(frame, context: context)
        self.afterAnswer(then, context: context)
    }

    /// Writes an answer; answers of one read burst or one event-loop tick share a flush.
    private func send(_ frame: Frame, context: ChannelHandlerContext) {
        context.write(self.wrapOutboundOut(frame), promise: nil)
        if !self.inReadBurst {
            self.activity?.touched(inFlight: self.machine.inFlight.count, now: context.eventLoop.now)
        }
        if self.inReadBurst {
            self.flushAfterRead = true  // answered while reading: one flush when the read burst ends
        } else if self.machine.inFlight.isEmpty {
            context.flush()  // a lone answer goes out at once
        } else {
            self.scheduleFlush(context: context)
        }
    }

    /// Under load, answers finished in the same event-loop tick share one flush: one TLS record and one syscall.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !self.flushScheduled else { return }
        self.flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            context.flush()
        }
    }

    private func status(for error: any Error, id: UInt32, trace: TraceID) -> Status {
        if let convertible = error as? any StatusConvertible { return convertible.status }
        if error is CancellationError { return Status(.cancelled, "the request was cancelled") }
        self.logger.error(
            "request failed",
            metadata: ["request.id": "\(id)", "trace.id": "\(trace)", "error": "\(error)"]
        )
        return Status(.internalError, "internal error in \(self.configuration.identity)")
    }

    private func afterAnswer(_ then: ServerConnection.StateMachine.AfterAnswer, context: ChannelHandlerContext) {
        switch then {
        case .none:
            break
        case .resumeReading:
            context.read()
        case .close:
            context.flush()
            context.close(promise: nil)
        }
    }

    private func stopAllWork() {
        for (_, work) in self.work {
            work.task?.cancel()
        }
        self.work.removeAll()
        self.deadlines.removeAll()
        self.deadlines.cancelTimer()
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

    /// Answers `deadline exceeded` to every request whose deadline has passed.
    private func expireDeadlines(context: ChannelHandlerContext) {
        let expired = self.deadlines.popExpired(now: context.eventLoop.now) { self.isLive($0) }
        for entry in expired {
            let timeout = self.work[entry.id]?.timeout ?? .zero
            let status = Status(.deadlineExceeded, "deadline of \(timeout) passed in \(self.configuration.identity)")
            self.finish(entry.id, with: .failure(status), context: context)
        }
        if self.machine.phase != .closed { self.armDeadlineTimer(context: context) }
    }

    /// Drops the deadlines of ended requests from the front of the queue (they mostly end in order).
    private func dropEndedDeadlines() {
        _ = self.deadlines.popExpired(now: nil) { self.isLive($0) }
    }

    private func isLive(_ entry: RequestDeadlines.Entry) -> Bool {
        self.work[entry.id] != nil
    }
}

@available(*, unavailable)
extension ServerConnectionHandler: Sendable {}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
