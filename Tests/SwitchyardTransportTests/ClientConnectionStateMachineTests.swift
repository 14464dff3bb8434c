import NIOCore
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The client connection's lifecycle decided by its state machine alone: no channel, time passed in.
struct ClientConnectionStateMachineTests {
    typealias Machine = ClientConnection.StateMachine

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static func at(_ seconds: Int64) -> NIODeadline { Self.start + .seconds(seconds) }
    static let hello = Hello(maxInFlight: 8, identity: "server")

    static func open() -> Machine {
        var machine = Machine(keepaliveInterval: .seconds(10), keepaliveTimeout: .seconds(5))
        _ = machine.tlsHandshakeCompleted(alpn: WireVersion.alpn, now: Self.start)
        _ = machine.received(.hello(Self.hello), now: Self.start)
        return machine
    }

    /// Sends a call and returns its id.
    static func send(_ machine: inout Machine) throws -> UInt32 {
        let id = try machine.prepareCall(deadline: nil, now: Self.start).get()
        let result1 = machine.callSent(id)
        #expect(!result1)
        return id
    }

    @Test func tlsThenHelloMakesTheConnectionReady() {
        var machine = Machine(keepaliveInterval: .seconds(10), keepaliveTimeout: .seconds(5))
        let result2 = machine.tlsHandshakeCompleted(alpn: WireVersion.alpn, now: Self.start)
        #expect(result2 == .sendHello)
        #expect(throws: TransportError.self) { try machine.prepareCall(deadline: nil, now: Self.start).get() }
        let result3 = machine.received(.hello(Self.hello), now: Self.start)
        #expect(result3 == .ready(Self.hello))
        #expect(machine.phase == .open)
    }

    @Test func wrongALPNOrVersionFailsTheHandshake() {
        var wrongALPN = Machine(keepaliveInterval: .seconds(10), keepaliveTimeout: .seconds(5))
        guard case .fail(let failure) = wrongALPN.tlsHandshakeCompleted(alpn: nil, now: Self.start) else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.duringHandshake)
        #expect(failure.error.code == .connectFailed)

        var wrongVersion = Machine(keepaliveInterval: .seconds(10), keepaliveTimeout: .seconds(5))
        _ = wrongVersion.tlsHandshakeCompleted(alpn: WireVersion.alpn, now: Self.start)
        let future = Hello(minVersion: 2, maxVersion: 3, maxInFlight: 1, identity: "future")
        guard case .fail(let versionFailure) = wrongVersion.received(.hello(future), now: Self.start) else {
            Issue.record("expected a failure")
            return
        }
        #expect(versionFailure.goAway == nil)
    }

    @Test func answersCompleteOnceAndAbandonedCallsAreCancelled() throws {
        var machine = Self.open()
        let first = try Self.send(&machine)
        let second = try Self.send(&machine)
        let result4 = machine.received(.response(id: first, Response()), now: Self.start)
        #expect(result4 == .complete(first, .success(Response()), close: false))
        let result5 = machine.callCompleted(first)
        #expect(result5 == .none)  // answered: no CANCEL
        let result6 = machine.callCompleted(second)
        #expect(result6 == .cancel(second, close: false))  // abandoned
        let result7 = machine.received(.response(id: second, Response()), now: Self.start)
        #expect(result7 == .none)  // late: a benign race
        guard case .fail(let failure) = machine.received(.response(id: 99, Response()), now: Self.start) else {
            Issue.record("an answer for a request never sent is a protocol error")
            return
        }
        #expect(failure.error.code == .protocolViolation)
        #expect(failure.goAway?.status.code == .invalidArgument)
    }

    @Test func gracefulGoAwayFailsOnlyCallsAboveItsLastIDThenCloses() throws {
        var machine = Self.open()
        let first = try Self.send(&machine)
        _ = try Self.send(&machine)
        let action = machine.received(
            .goAway(GoAway(lastRequestID: first, status: Status(.ok, "bye"))),
            now: Self.start
        )
        #expect(action == .drain(lastRequestID: first, serverDraining: true, beganDraining: true, close: false))
        #expect(machine.pending == [first])
        #expect(throws: TransportError.self) { try machine.prepareCall(deadline: nil, now: Self.start).get() }
        let result8 = machine.received(.response(id: first, Response()), now: Self.start)
        #expect(result8 == .complete(first, .success(Response()), close: true))
        #expect(machine.phase == .closed)
    }

    @Test func goAwayWithAnErrorTellsWhichCallsMayHaveRun() throws {
        var machine = Self.open()
        _ = try Self.send(&machine)
        _ = try Self.send(&machine)
        let status = Status(.invalidArgument, "bad")
        guard
            case .fail(let failure) = machine.received(
                .goAway(GoAway(lastRequestID: 1, status: status)),
                now: Self.start
            )
        else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.processedUpTo?.lastRequestID == 1)
        #expect(machine.pending.isEmpty)
        #expect(machine.phase == .closed)
    }

    @Test func keepalivePingsAQuietServerAndFailsWhenItDoesNotAnswer() {
        var machine = Self.open()
        let result9 = machine.checkKeepalive(now: Self.at(9))
        #expect(result9 == .none)
        guard case .write(.ping) = machine.checkKeepalive(now: Self.at(10)) else {
            Issue.record("expected PING")
            return
        }
        guard case .fail(let failure) = machine.checkKeepalive(now: Self.at(15)) else {
            Issue.record("expected a keepalive failure")
            return
        }
        #expect(failure.error.code == .connectionClosed)
    }

    @Test func aPassedDeadlineIsRefusedBeforeSending() {
        let machine = Self.open()
        #expect(throws: Status.self) { try machine.prepareCall(deadline: Self.start, now: Self.at(1)).get() }
    }

    @Test func requestsAndCancelsSentToAClientAreProtocolErrors() {
        for frame in [Frame.request(id: 1, Request(method: "x")), .cancel(id: 1)] {
            var machine = Self.open()
            guard case .fail(let failure) = machine.received(frame, now: Self.start) else {
                Issue.record("expected a protocol error")
                continue
            }
            #expect(failure.error.code == .protocolViolation)
        }
    }
}
