import Logging
import NIOCore
import NIOSSL
import NIOTLS
import SwitchyardWire

/// Tells a server connection to drain: GOAWAY, finish what is in flight, close.
struct DrainEvent: Sendable {}

/// One server-side connection: HELLO, request dispatch, deadlines, CANCEL, keepalive, drain, back-pressure.
///
/// Every answer goes through ``finish(_:with:context:)``, which removes the request from the table first,
/// so each accepted request is answered exactly once whatever races (deadline, cancel, handler result).
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = Never
    typealias OutboundOut = Frame

    private struct InFlight {
        var task: Task<Void, Never>?
        var timer: Scheduled<Void>?
        var trace = TraceID.none
    }

    private enum State { case handshaking, open, draining, closed }

    private let configuration: WireServerConfiguration
    private let service: any WireService
    private var logger: Logger
    private var state = State.handshaking
    private var inFlight: [UInt32: InFlight] = [:]
    private var lastRequestID: UInt32 = 0
    private var peer = PeerIdentity()
    private var peerMaxPayload = WireLimits.minimumPayload
    private var peerDTypes = AnnouncedDTypes.none
    private var alpnChecked = false
    private var pendingRead = false
    private var lastFrameAt = NIODeadline.now()
    private var lastRequestAt = NIODeadline.now()
    private var pingSentAt: NIODeadline?
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var executor: EventLoopTaskExecutor?
    private var flushScheduled = false
    private var inReadBurst = false
    private var flushAfterRead = false

    init(configuration: WireServerConfiguration, service: any WireService, logger: Logger) {
        self.configuration = configuration
        self.service = service
        self.logger = logger
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if self.configuration.handlerPlacement == .eventLoop {
            self.executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
        }
        self.logger[metadataKey: "peer.address"] = "\(context.channel.remoteAddress?.description ?? "?")"
        if context.channel.isActive { self.startTimers(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        self.startTimers(context: context)
        context.fireChannelActive()
    }

    private func startTimers(context: ChannelHandlerContext) {
        guard self.timer == nil else { return }
        self.scheduleTick(context: context, started: .now())
    }

    private func scheduleTick(context: ChannelHandlerContext, started: NIODeadline) {
        let interval = TimeAmount(
            min(self.configuration.keepaliveTimeout, self.configuration.keepaliveInterval, .seconds(1))
        )
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard self.state != .closed else { return }
            self.tick(context: context, started: started)
            self.scheduleTick(context: context, started: started)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.state = .closed
        self.timer?.cancel()
        for (_, entry) in self.inFlight {  // the client is gone: stop the work, nobody can be answered
            entry.task?.cancel()
            entry.timer?.cancel()
        }
        if !self.inFlight.isEmpty {
            self.logger.debug(
                "connection closed with requests in flight",
                metadata: ["requests": "\(self.inFlight.count)"]
            )
        }
        self.inFlight.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let wireError = error as? WireError {
            self.protocolError(context: context, wireError)
        } else if let transport = error as? TransportError, transport.code == .bufferBudget {
            self.refuse(context: context, transport.status)
        } else {
            self.logger.notice("connection failed", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted(let negotiated) = event {
            guard negotiated == WireVersion.alpn else {
                self.logger.notice(
                    "closing: peer did not negotiate ALPN \(WireVersion.alpn)",
                    metadata: ["alpn": "\(negotiated ?? "none")"]
                )
                context.close(promise: nil)
                return
            }
            self.alpnChecked = true
            if let handler = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
                let certificate = handler.peerCertificate
            {
                self.peer = PeerIdentity(certificate: certificate)
                self.logger[metadataKey: "peer"] = "\(self.peer)"
            }
            if let policy = self.configuration.authorization { self.peer = policy.resolve(self.peer) }
        } else if event is DrainEvent {
            self.drain(context: context, reason: "server is shutting down")
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: Back-pressure

    /// Reading stops only while answers cannot be sent. At `max_in_flight` the connection is still read, so that
    /// PING, CANCEL and GOAWAY get through and excess requests are refused at once (wire-v1.md §6.2).
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            self.pendingRead = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.resumeReadingIfPossible(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func resumeReadingIfPossible(context: ChannelHandlerContext) {
        if self.pendingRead, context.channel.isWritable {
            self.pendingRead = false
            context.read()
        }
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
        let frame = self.unwrapInboundIn(data)
        self.lastFrameAt = .now()
        self.pingSentAt = nil
        switch frame {
        case .hello(let hello):
            guard self.state == .handshaking else {
                return self.protocolError(context: context, WireError(.unexpectedFrame, "second HELLO"))
            }
            guard self.alpnChecked else {
                return self.protocolError(
                    context: context,
                    WireError(.unexpectedFrame, "HELLO before the TLS handshake finished")
                )
            }
            guard hello.minVersion <= WireVersion.current, hello.maxVersion >= WireVersion.current else {
                let answer = Frame.goAway(
                    GoAway(
                        lastRequestID: 0,
                        status: Status(
                            .failedPrecondition,
                            "no common protocol version: peer speaks \(hello.minVersion)...\(hello.maxVersion), this server \(WireVersion.current)"
                        )
                    )
                )
                self.logger.notice(
                    "closing: no common protocol version",
                    metadata: ["peer.versions": "\(hello.minVersion)...\(hello.maxVersion)"]
                )
                context.writeAndFlush(self.wrapOutboundOut(answer)).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
                return
            }
            self.peerMaxPayload = hello.maxPayload
            self.peer.announced = hello.identity
            self.peerDTypes = AnnouncedDTypes(hello: hello.parameters)
            self.state = .open
            let reply = Hello(
                maxPayload: self.configuration.maxPayload,
                maxInFlight: self.configuration.maxInFlightPerConnection,
                idleTimeoutMilliseconds: UInt32(clamping: self.configuration.idleTimeout.milliseconds),
                identity: self.configuration.identity,
                parameters: AnnouncedDTypes.all.parameter.map { [$0] } ?? []
            )
            context.writeAndFlush(self.wrapOutboundOut(.hello(reply)), promise: nil)
        case .request(let id, let request):
            self.accept(context: context, id: id, request: request)
        case .cancel(let id):
            guard let entry = self.inFlight.removeValue(forKey: id) else { return }  // already answered: a benign race
            entry.task?.cancel()
            entry.timer?.cancel()
            self.afterAnswer(context: context)
        case .ping(let opaque):
            context.writeAndFlush(self.wrapOutboundOut(.pong(opaque)), promise: nil)
        case .pong:
            break
        case .goAway(let goAway):
            if goAway.status.code == .ok {
                self.drain(context: context, reason: "client sent GOAWAY")
            } else {  // the client gave up on the connection and failed its calls: nobody waits for answers
                self.logger.notice("closing: client ended the connection", metadata: ["status": "\(goAway.status)"])
                self.abort(context: context)
            }
        case .error(let id, let status):
            if id == 0 {
                self.logger.notice("closing: client reported a connection error", metadata: ["status": "\(status)"])
                self.abort(context: context)
            } else {
                self.protocolError(
                    context: context,
                    WireError(.unexpectedFrame, "ERROR for request \(id) sent to a server")
                )
            }
        case .response:
            self.protocolError(context: context, WireError(.unexpectedFrame, "RESPONSE sent to a server"))
        case .skipped:
            break
        }
    }

    private func accept(context: ChannelHandlerContext, id: UInt32, request received: Request) {
        var traced = received
        // a caller that speaks W3C trace context but not our header: its trace id goes on from here
        if traced.traceID == .none, let traceparent = traced[parameter: ParameterKey.traceparent],
            let traceID = TraceID(traceparent: traceparent)
        {
            traced.traceID = traceID
        }
        let request = traced
        guard self.state == .open || self.state == .draining else {
            return self.protocolError(context: context, WireError(.unexpectedFrame, "REQUEST before HELLO"))
        }
        guard id > self.lastRequestID else {
            return self.protocolError(
                context: context,
                WireError(.unexpectedFrame, "request id \(id) is not above the previous \(self.lastRequestID)")
            )
        }
        if self.state == .draining { return }  // above GOAWAY's last id: not processed, the client retries elsewhere
        self.lastRequestID = id
        self.lastRequestAt = .now()
        if let refusal = self.configuration.authorization?.refusal(
            of: request.method,
            by: self.peer,
            logger: self.logger
        ) {
            return self.send(.error(id: id, refusal), context: context)
        }
        guard self.inFlight.count < Int(self.configuration.maxInFlightPerConnection) else {
            let limit = self.configuration.maxInFlightPerConnection
            let status = Status(
                .resourceExhausted,
                "\(limit) requests are in flight on this connection, the server's limit"
            )
            return self.send(.error(id: id, status), context: context)
        }
        let deadline = request.timeout.map { ContinuousClock.now.advanced(by: $0) }
        let requestContext = RequestContext(
            requestID: id,
            deadline: deadline,
            peer: self.peer,
            traceID: request.traceID,
            logger: self.logger
        )
        var entry = InFlight(trace: request.traceID)
        if let timeout = request.timeout {
            entry.timer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
                let status = Status(
                    .deadlineExceeded,
                    "deadline of \(timeout) passed in \(self.configuration.identity)"
                )
                self.finish(id, with: .failure(status), context: context)
            }
        }
        self.inFlight[id] = entry
        let service = self.service
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        @Sendable func body() async {
            let result: Result<Response, any Error>
            do {
                result = .success(try await service.handle(request, context: requestContext))
            } catch {
                result = .failure(error)
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
        if self.inFlight[id] != nil {
            self.inFlight[id]?.task = task
        } else {
            task.cancel()
        }
    }

    /// Answers request `id` unless it was already answered or cancelled.
    private func finish(_ id: UInt32, with result: Result<Response, any Error>, context: ChannelHandlerContext) {
        guard let entry = self.inFlight.removeValue(forKey: id) else { return }
        entry.timer?.cancel()
        if case .failure(let error) = result, (error as? Status)?.code == .deadlineExceeded { entry.task?.cancel() }
        guard self.state != .closed else { return }
        var frame: Frame
        switch result {
        case .success(let response):
            frame = .response(id: id, response)
            do {
                if let refusal = self.peerDTypes.refusal(of: response.tensors, what: "output", peer: "this client") {
                    // A client of an earlier revision would take the dtype for a protocol error of the connection.
                    frame = .error(id: id, Status(.failedPrecondition, refusal))
                }
                try frame.validateForSending(maxPayload: self.peerMaxPayload)
            } catch {
                self.logger.error(
                    "response cannot be sent",
                    metadata: ["request.id": "\(id)", "trace.id": "\(entry.trace)", "error": "\(error)"]
                )
                frame = .error(id: id, Status(.internalError, "the response cannot be sent: \(error.message)"))
            }
        case .failure(let error):
            let status = self.status(for: error, id: id, trace: entry.trace)
            self.logger.debug(
                "answered with an error",
                metadata: ["request.id": "\(id)", "trace.id": "\(entry.trace)", "status": "\(status)"]
            )
            frame = .error(id: id, status)
        }
        self.send(frame, context: context)
        self.afterAnswer(context: context)
    }

    /// Writes an answer; answers of one read burst or one event-loop tick share a flush.
    private func send(_ frame: Frame, context: ChannelHandlerContext) {
        context.write(self.wrapOutboundOut(frame), promise: nil)
        if self.inReadBurst {
            self.flushAfterRead = true  // answered while reading: one flush when the read burst ends
        } else if self.inFlight.isEmpty {
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

    private func afterAnswer(context: ChannelHandlerContext) {
        if self.state == .draining, self.inFlight.isEmpty {
            context.flush()
            context.close(promise: nil)
        } else {
            self.resumeReadingIfPossible(context: context)
        }
    }

    // MARK: Drain, errors, timers

    private func drain(context: ChannelHandlerContext, reason: String) {
        switch self.state {
        case .handshaking:
            self.state = .closed
            context.close(promise: nil)
        case .open:
            self.state = .draining
            let goAway = GoAway(lastRequestID: self.lastRequestID, status: Status(.ok, reason))
            context.writeAndFlush(self.wrapOutboundOut(.goAway(goAway)), promise: nil)
            if self.inFlight.isEmpty { context.close(promise: nil) }
        case .draining, .closed:
            break
        }
    }

    /// A GOAWAY that is not graceful (wire-v1.md §6.5): no request of the connection is answered after it.
    private func protocolError(context: ChannelHandlerContext, _ error: WireError) {
        guard self.state != .closed else { return }
        self.logger.notice("closing: protocol error", metadata: ["error": "\(error)"])
        let wasOpen = self.state != .handshaking
        self.stopAll()
        guard wasOpen else {
            context.close(promise: nil)
            return
        }
        let status = Status(.invalidArgument, "protocol error: \(error.code): \(error.message)")
        let goAway = GoAway(lastRequestID: self.lastRequestID, status: status)
        context.writeAndFlush(self.wrapOutboundOut(.goAway(goAway))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// The server cannot take more from this connection: GOAWAY with `status`, nothing more is answered, close.
    private func refuse(context: ChannelHandlerContext, _ status: Status) {
        guard self.state != .closed else { return }
        self.logger.notice("closing: over a server limit", metadata: ["error": "\(status)"])
        let wasOpen = self.state != .handshaking
        self.stopAll()
        guard wasOpen else {
            context.close(promise: nil)
            return
        }
        let goAway = GoAway(lastRequestID: self.lastRequestID, status: status)
        context.writeAndFlush(self.wrapOutboundOut(.goAway(goAway))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// The peer ended the connection and answers nothing more: stop the work, send nothing, close.
    private func abort(context: ChannelHandlerContext) {
        guard self.state != .closed else { return }
        self.stopAll()
        context.close(promise: nil)
    }

    private func stopAll() {
        self.state = .closed
        for (_, entry) in self.inFlight {
            entry.task?.cancel()
            entry.timer?.cancel()
        }
        self.inFlight.removeAll()
    }

    private func tick(context: ChannelHandlerContext, started: NIODeadline) {
        let now = NIODeadline.now()
        switch self.state {
        case .handshaking:
            if now - started >= TimeAmount(self.configuration.handshakeTimeout) {
                self.logger.notice("closing: TLS handshake and HELLO did not finish in time")
                self.state = .closed
                context.close(promise: nil)
            }
            return
        case .closed:
            return
        case .open, .draining:
            break
        }
        if let sent = self.pingSentAt {
            if now - sent >= TimeAmount(self.configuration.keepaliveTimeout) {
                self.logger.notice("closing: peer did not answer PING (dead, or stalled mid-frame)")
                self.state = .closed
                context.close(promise: nil)
            }
        } else if now - self.lastFrameAt >= TimeAmount(self.configuration.keepaliveInterval) {
            self.pingSentAt = now
            context.writeAndFlush(self.wrapOutboundOut(.ping(UInt64(now.uptimeNanoseconds))), promise: nil)
        }
        if self.state == .open, self.inFlight.isEmpty,
            now - self.lastRequestAt >= TimeAmount(self.configuration.idleTimeout)
        {
            self.drain(context: context, reason: "idle for \(self.configuration.idleTimeout)")
        }
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
