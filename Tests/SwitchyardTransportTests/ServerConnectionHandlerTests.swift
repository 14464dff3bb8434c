import Logging
import NIOCore
import NIOEmbedded
import NIOTLS
import SwitchyardTensor
@testable import SwitchyardTransport
import SwitchyardWire
import Testing

/// The server connection handler on an `EmbeddedChannel` with a manual clock: timers fire only when the test
/// advances time, handlers run on the test's thread, nothing sleeps.
struct ServerConnectionHandlerTests {
    /// A service whose `wait` requests run until the test opens the gate (or the request is cancelled).
    final class Gate: @unchecked Sendable {
        private var waiters: [Int: UnsafeContinuation<Void, Never>] = [:]
        private(set) var started = 0
        private(set) var cancelled = 0

        /// Waits for the gate; a cancelled request stops waiting alone.
        func wait() async {
            self.started += 1
            let key = self.started
            await withTaskCancellationHandler {
                await withUnsafeContinuation { continuation in
                    if Task.isCancelled { continuation.resume() } else { self.waiters[key] = continuation }
                }
            } onCancel: {
                self.cancelled += 1
                self.waiters.removeValue(forKey: key)?.resume()
            }
        }

        func open() {
            let waiters = self.waiters.values
            self.waiters.removeAll()
            for waiter in waiters { waiter.resume() }
        }
    }

    struct Connection {
        let channel: EmbeddedChannel
        let gate: Gate

        var loop: EmbeddedEventLoop { self.channel.embeddedEventLoop }

        func send(_ frame: Frame) throws { try self.channel.writeInbound(frame) }

        func next() throws -> Frame? { try self.channel.readOutbound(as: Frame.self) }

        func tls() {
            self.channel.pipeline.fireUserInboundEventTriggered(
                TLSUserEvent.handshakeCompleted(negotiatedProtocol: WireVersion.alpn)
            )
        }

        /// TLS and HELLO; returns the server's HELLO.
        func handshake() throws -> Hello? {
            self.tls()
            try self.send(.hello(Hello(maxInFlight: 0, identity: "client")))
            guard case .hello(let hello)? = try self.next() else { return nil }
            return hello
        }
    }

    static func connection(
        decoding: Bool = false,
        budget: Int = 1 << 20,
        configure: (inout WireServerConfiguration) -> Void = { _ in }
    ) throws -> Connection {
        var configuration = WireServerConfiguration(
            tls: TLSSettings(caPath: "/unused", certificatePath: nil, keyPath: nil),
            identity: "embedded"
        )
        configuration.idleTimeout = .seconds(300)
        configure(&configuration)
        let gate = Gate()
        let service = ClosureService { request, _ in
            if request.method == "wait" { await gate.wait() }
            return Response(parameters: [Parameter("method", request.method)])
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let channel = EmbeddedChannel()
        let sync = channel.pipeline.syncOperations
        if decoding {
            try sync.addHandler(
                ByteToMessageHandler(
                    FrameDecoder(maxPayload: configuration.maxPayload, budget: ByteBudget(capacity: budget))
                )
            )
        }
        try sync.addHandler(ServerConnectionHandler(configuration: configuration, service: service, logger: logger))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return Connection(channel: channel, gate: gate)
    }

    @Test func helloIsAnsweredAndRequestsRunOnTheLoop() throws {
        let connection = try Self.connection()
        let hello = try #require(try connection.handshake())
        #expect(hello.identity == "embedded")
        try connection.send(.request(id: 1, Request(method: "echo")))
        guard case .response(1, let response)? = try connection.next() else {
            Issue.record("expected a RESPONSE")
            return
        }
        #expect(response[parameter: "method"] == "echo")
    }

    @Test func handshakeThatDoesNotFinishTimesOut() throws {
        let connection = try Self.connection { $0.handshakeTimeout = .seconds(5) }
        connection.loop.advanceTime(by: .seconds(4))
        #expect(connection.channel.isActive)
        connection.tls()  // TLS done, but no HELLO
        connection.loop.advanceTime(by: .seconds(1))
        #expect(!connection.channel.isActive)
        #expect(try connection.next() == nil)  // nothing sent to a peer that never said HELLO
    }

    @Test func idleConnectionGetsAGoAwayAndCloses() throws {
        let connection = try Self.connection {
            $0.idleTimeout = .seconds(30)
            $0.keepaliveInterval = .seconds(60)
        }
        #expect(try connection.handshake()?.idleTimeoutMilliseconds == 30_000)
        try connection.send(.request(id: 1, Request(method: "echo")))
        _ = try connection.next()
        connection.loop.advanceTime(by: .seconds(29))
        #expect(try connection.next() == nil)
        #expect(connection.channel.isActive)
        connection.loop.advanceTime(by: .seconds(1))
        guard case .goAway(let goAway)? = try connection.next() else {
            Issue.record("expected GOAWAY")
            return
        }
        #expect(goAway.status.code == .ok)
        #expect(goAway.lastRequestID == 1)
        #expect(!connection.channel.isActive)
    }

    @Test func silentPeerIsPingedThenClosed() throws {
        let connection = try Self.connection {
            $0.keepaliveInterval = .seconds(10)
            $0.keepaliveTimeout = .seconds(5)
        }
        _ = try connection.handshake()
        connection.loop.advanceTime(by: .seconds(10))
        guard case .ping(let opaque)? = try connection.next() else {
            Issue.record("expected PING")
            return
        }
        try connection.send(.pong(opaque))  // answered: stays open
        connection.loop.advanceTime(by: .seconds(9))
        #expect(connection.channel.isActive)
        connection.loop.advanceTime(by: .seconds(1))
        guard case .ping? = try connection.next() else {
            Issue.record("expected a second PING")
            return
        }
        connection.loop.advanceTime(by: .seconds(5))  // not answered
        #expect(!connection.channel.isActive)
    }

    @Test func drainAnswersRequestsInFlightIgnoresNewOnesThenCloses() throws {
        let connection = try Self.connection()
        _ = try connection.handshake()
        try connection.send(.request(id: 1, Request(method: "wait")))
        try connection.send(.request(id: 2, Request(method: "wait")))
        #expect(connection.gate.started == 2)
        connection.channel.pipeline.fireUserInboundEventTriggered(DrainEvent())
        guard case .goAway(let goAway)? = try connection.next() else {
            Issue.record("expected GOAWAY")
            return
        }
        #expect(goAway.status.code == .ok)
        #expect(goAway.lastRequestID == 2)
        try connection.send(.request(id: 3, Request(method: "echo")))  // above the last id: not processed
        #expect(connection.channel.isActive)
        connection.gate.open()
        connection.loop.run()
        var answered: [UInt32] = []
        while let frame = try connection.next() {
            if case .response(let id, _) = frame { answered.append(id) }
        }
        #expect(answered.sorted() == [1, 2])
        #expect(!connection.channel.isActive)
    }

    @Test func deadlineAnswersOnceAndStopsTheWork() throws {
        let connection = try Self.connection()
        _ = try connection.handshake()
        var request = Request(method: "wait")
        request.timeout = .seconds(2)
        try connection.send(.request(id: 1, request))
        connection.loop.advanceTime(by: .seconds(1))
        #expect(try connection.next() == nil)
        connection.loop.advanceTime(by: .seconds(1))
        guard case .error(1, let status)? = try connection.next() else {
            Issue.record("expected ERROR")
            return
        }
        #expect(status.code == .deadlineExceeded)
        #expect(connection.gate.cancelled == 1)
        connection.loop.run()  // the cancelled handler returns: its late answer is dropped
        #expect(try connection.next() == nil)
    }

    /// One timer serves the connection's deadlines: a shorter deadline behind a longer one still passes first, and
    /// the deadline of a request that ended passes without an answer.
    @Test func deadlinesPassInTheirOwnOrderOnOneTimer() throws {
        let connection = try Self.connection()
        _ = try connection.handshake()
        func wait(_ timeout: Duration) -> Request {
            var request = Request(method: "wait")
            request.timeout = timeout
            return request
        }
        func advance(by seconds: Int64) {
            connection.loop.advanceTime(by: .seconds(seconds))
            connection.loop.run()  // the flush of answers while other requests are in flight
        }
        func deadlineExceeded() throws -> UInt32? {
            guard case .error(let id, let status)? = try connection.next(), status.code == .deadlineExceeded else {
                return nil
            }
            return id
        }
        try connection.send(.request(id: 1, wait(.seconds(4))))
        try connection.send(.request(id: 2, wait(.seconds(1))))
        try connection.send(.request(id: 3, wait(.seconds(2))))
        try connection.send(.cancel(id: 3))
        try connection.send(.request(id: 4, wait(.seconds(6))))  // all within the keepalive interval (10 s)
        advance(by: 1)
        #expect(try deadlineExceeded() == 2)
        advance(by: 1)  // request 3's deadline: it ended
        #expect(try connection.next() == nil)
        advance(by: 2)
        #expect(try deadlineExceeded() == 1)
        advance(by: 1)
        #expect(try connection.next() == nil)
        advance(by: 1)
        #expect(try deadlineExceeded() == 4)
        #expect(connection.gate.cancelled == 4)
    }

    @Test func cancelStopsTheWorkAndNothingIsAnswered() throws {
        let connection = try Self.connection()
        _ = try connection.handshake()
        try connection.send(.request(id: 1, Request(method: "wait")))
        try connection.send(.cancel(id: 1))
        #expect(connection.gate.cancelled == 1)
        connection.loop.run()
        #expect(try connection.next() == nil)
        try connection.send(.request(id: 2, Request(method: "echo")))
        guard case .response(2, _)? = try connection.next() else {
            Issue.record("expected RESPONSE")
            return
        }
    }

    /// Counts the reads that reach the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            self.reads += 1
            context.read()
        }
    }

    @Test func readingPausesWhileAnswersCannotBeSent() throws {
        let connection = try Self.connection()
        let counter = ReadCounter()
        try connection.channel.pipeline.syncOperations.addHandler(counter, position: .first)
        _ = try connection.handshake()
        connection.channel.read()
        #expect(counter.reads == 1)
        connection.channel.isWritable = false
        connection.channel.pipeline.fireChannelWritabilityChanged()
        connection.channel.read()
        #expect(counter.reads == 1)  // held
        connection.channel.isWritable = true
        connection.channel.pipeline.fireChannelWritabilityChanged()
        #expect(counter.reads == 2)  // the held read goes once writable again
    }

    @Test func requestsPastTheInFlightLimitAreRefused() throws {
        let connection = try Self.connection { $0.maxInFlightPerConnection = 1 }
        #expect(try connection.handshake()?.maxInFlight == 1)
        try connection.send(.request(id: 1, Request(method: "wait")))
        try connection.send(.request(id: 2, Request(method: "wait")))
        guard case .error(2, let status)? = try connection.next() else {
            Issue.record("expected ERROR")
            return
        }
        #expect(status.code == .resourceExhausted)
        connection.gate.open()
        connection.loop.run()
        guard case .response(1, _)? = try connection.next() else {
            Issue.record("expected RESPONSE")
            return
        }
    }

    /// Bytes through the frame decoder: a malformed frame after HELLO gets GOAWAY `invalid argument` and a close.
    @Test(arguments: [(0, UInt8(0x47), "magic"), (2, UInt8(9), "version"), (3, UInt8(0x33), "unknown critical")])
    func malformedBytesAreAProtocolError(offset: Int, value: UInt8, mentioning: String) throws {
        let connection = try Self.connection(decoding: true)
        connection.tls()
        try connection.channel.writeInbound(
            ByteBuffer(bytes: Frame.hello(Hello(maxInFlight: 0, identity: "c")).encoded())
        )
        guard case .hello? = try connection.next() else {
            Issue.record("expected HELLO")
            return
        }
        var ping = Frame.ping(1).encoded()
        ping[offset] = value
        try connection.channel.writeInbound(ByteBuffer(bytes: ping))
        guard case .goAway(let goAway)? = try connection.next() else {
            Issue.record("expected GOAWAY")
            return
        }
        #expect(goAway.status.code == .invalidArgument)
        #expect(goAway.status.message.contains(mentioning), "\(goAway.status.message)")
        connection.loop.run()
        #expect(!connection.channel.isActive)
    }

    @Test func aFrameStillArrivingPastTheBufferBudgetClosesWithResourceExhausted() throws {
        let connection = try Self.connection(decoding: true, budget: 1000)
        connection.tls()
        try connection.channel.writeInbound(
            ByteBuffer(bytes: Frame.hello(Hello(maxInFlight: 0, identity: "c")).encoded())
        )
        _ = try connection.next()
        let big = Frame.request(
            id: 1,
            Request(method: "echo", tensors: [NamedTensor("x", try Tensor([Float](repeating: 1, count: 1000)))])
        ).encoded()
        try connection.channel.writeInbound(ByteBuffer(bytes: big[..<100]))
        guard case .goAway(let goAway)? = try connection.next() else {
            Issue.record("expected GOAWAY")
            return
        }
        #expect(goAway.status.code == .resourceExhausted)
        connection.loop.run()
        #expect(!connection.channel.isActive)
    }
}
