import Logging
import NIOCore
import NIOEmbedded
import NIOTLS
@testable import SwitchyardTransport
import SwitchyardWire
import Testing

/// The client connection handler on an `EmbeddedChannel` with a manual clock: deadlines pass only when the test
/// advances time.
struct ClientConnectionHandlerTests {
    /// A connection past TLS and HELLO.
    static func connection() throws -> EmbeddedChannel {
        let loop = EmbeddedEventLoop()
        let handler = ClientConnectionHandler(
            identity: "embedded",
            keepaliveInterval: .seconds(300),
            keepaliveTimeout: .seconds(300),
            ready: loop.makePromise(),
            logger: Logger(label: "test"),
            onDrain: {}
        )
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        channel.pipeline.fireUserInboundEventTriggered(
            TLSUserEvent.handshakeCompleted(negotiatedProtocol: WireVersion.alpn)
        )
        guard case .hello? = try channel.readOutbound(as: Frame.self) else {
            Issue.record("no HELLO from the client")
            return channel
        }
        try channel.writeInbound(Frame.hello(Hello(maxInFlight: 16, identity: "server")))
        return channel
    }

    /// Calls with deadlines out of order share the connection's one timer: each fails `deadline exceeded` at its
    /// own deadline (its CANCEL goes to the server), one answered in time and one without a deadline are untouched.
    @Test func deadlinesOutOfOrderEachPassAtTheirTime() throws {
        let channel = try Self.connection()
        let loop = channel.embeddedEventLoop
        let start = loop.now
        var answers: [EventLoopPromise<Response>] = []
        var ids: [UInt32] = []
        for seconds in [3, 1, 2, nil] as [Int64?] {
            let answer = loop.makePromise(of: Response.self)
            answers.append(answer)
            let deadline = seconds.map { start + .seconds($0) }
            channel.write(
                ClientCommand.call(Request(method: "echo"), deadline: deadline, promise: answer),
                promise: nil
            )
            loop.run()  // the flush of a call written beside others
            guard case .request(let id, _)? = try channel.readOutbound(as: Frame.self) else {
                Issue.record("no request sent")
                return
            }
            ids.append(id)
        }
        func failed(_ index: Int) -> Status.Code? {
            var code: Status.Code?
            answers[index].futureResult.whenFailure { code = ($0 as? Status)?.code }
            return code
        }
        func cancelled() throws -> UInt32? {
            guard case .cancel(let id)? = try channel.readOutbound(as: Frame.self) else { return nil }
            return id
        }

        loop.advanceTime(by: .milliseconds(999))
        #expect(failed(1) == nil)
        loop.advanceTime(by: .milliseconds(1))
        #expect(failed(1) == .deadlineExceeded)
        #expect(try cancelled() == ids[1])
        #expect(failed(2) == nil)
        loop.advanceTime(by: .seconds(1))
        #expect(failed(2) == .deadlineExceeded)
        #expect(try cancelled() == ids[2])
        // the first call is answered before its deadline: nothing fails it later
        try channel.writeInbound(Frame.response(id: ids[0], Response()))
        var answered = false
        answers[0].futureResult.whenSuccess { _ in answered = true }
        #expect(answered)
        loop.advanceTime(by: .seconds(10))
        #expect(try cancelled() == nil)
        #expect(failed(3) == nil)
        answers[3].fail(Status(.cancelled, "test over"))
        #expect(try cancelled() == ids[3])
    }
}
