import NIOCore
import SwitchyardTransport
import SwitchyardWire
import Testing

/// The server connection's lifecycle decided by its state machine alone: no channel, time passed in.
struct ServerConnectionStateMachineTests {
    typealias Machine = ServerConnection.StateMachine

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func machine(maxInFlight: Int = 2, idle: TimeAmount = .seconds(30)) -> Machine {
        var machine = Machine(
            configuration: .init(
                maxInFlight: maxInFlight,
                handshakeTimeout: .seconds(5),
                idleTimeout: idle,
                keepaliveInterval: .seconds(10),
                keepaliveTimeout: .seconds(5)
            )
        )
        machine.connectionStarted(now: Self.start)
        return machine
    }

    /// A machine past TLS and HELLO.
    static func open(maxInFlight: Int = 2, idle: TimeAmount = .seconds(30)) -> Machine {
        var machine = Self.machine(maxInFlight: maxInFlight, idle: idle)
        _ = machine.tlsHandshakeCompleted(alpn: WireVersion.alpn)
        _ = machine.received(.hello(Self.hello), now: Self.start)
        return machine
    }

    static let hello = Hello(maxInFlight: 0, identity: "client")

    static func at(_ seconds: Int64) -> NIODeadline { Self.start + .seconds(seconds) }

    static func request(_ method: String = "echo") -> Request { Request(method: method) }

    @Test func helloAfterTLSOpensTheConnection() {
        var machine = Self.machine()
        let result1 = machine.tlsHandshakeCompleted(alpn: WireVersion.alpn)
        #expect(result1 == .readPeerCertificate)
        let result2 = machine.received(.hello(Self.hello), now: Self.start)
        #expect(result2 == .acceptHello(Self.hello))
        #expect(machine.phase == .open)
    }

    @Test func wrongALPNAndHelloBeforeTLSCloseWithoutGoAway() {
        var wrongALPN = Self.machine()
        guard case .abort(let abort) = wrongALPN.tlsHandshakeCompleted(alpn: "h2") else {
            Issue.record("expected an abort")
            return
        }
        #expect(abort.goAway == nil)
        #expect(wrongALPN.phase == .closed)

        var early = Self.machine()
        guard case .abort(let earlyAbort) = early.received(.hello(Self.hello), now: Self.start) else {
            Issue.record("expected an abort")
            return
        }
        #expect(earlyAbort.goAway == nil)  // before HELLO the peer cannot read a GOAWAY
        #expect(earlyAbort.detail?.contains("before the TLS handshake") == true)
    }

    @Test func helloWithNoCommonVersionGetsAGoAwayOfFailedPrecondition() {
        var machine = Self.machine()
        _ = machine.tlsHandshakeCompleted(alpn: WireVersion.alpn)
        let future = Hello(minVersion: 2, maxVersion: 3, maxInFlight: 0, identity: "future")
        guard case .abort(let abort) = machine.received(.hello(future), now: Self.start) else {
            Issue.record("expected an abort")
            return
        }
        #expect(abort.goAway?.status.code == .failedPrecondition)
        #expect(machine.phase == .closed)
    }

    @Test func handshakeTimesOutOnlyAfterItsTimeout() {
        var machine = Self.machine()
        let result3 = machine.checkKeepalive(now: Self.at(4))
        #expect(result3 == .none)
        guard case .abort(let abort) = machine.checkKeepalive(now: Self.at(5)) else {
            Issue.record("expected the handshake to time out")
            return
        }
        #expect(abort.goAway == nil)
        #expect(machine.phase == .closed)
    }

    @Test func requestsPastTheLimitAreRefusedAndEachIsAnsweredOnce() {
        var machine = Self.open(maxInFlight: 2)
        let result4 = machine.received(.request(id: 1, Self.request()), now: Self.start)
        #expect(result4 == .startRequest(1, Self.request()))
        let result5 = machine.received(.request(id: 2, Self.request()), now: Self.start)
        #expect(result5 == .startRequest(2, Self.request()))
        guard case .refuseRequest(3, let status) = machine.received(.request(id: 3, Self.request()), now: Self.start)
        else {
            Issue.record("expected request 3 to be refused")
            return
        }
        #expect(status.code == .resourceExhausted)
        let result6 = machine.requestEnded(1)
        #expect(result6 == AfterAnswer.none)
        let result7 = machine.requestEnded(1)
        #expect(result7 == nil)  // answered already: never twice
        let result8 = machine.received(.cancel(id: 2), now: Self.start)
        #expect(result8 == .cancelRequest(2, then: .none))
        let result9 = machine.requestEnded(2)
        #expect(result9 == nil)  // cancelled: its late result is dropped
        let result10 = machine.received(.cancel(id: 77), now: Self.start)
        #expect(result10 == .none)  // unknown: a benign race
        #expect(machine.inFlight.isEmpty)
    }

    typealias AfterAnswer = Machine.AfterAnswer

    @Test func requestIDsMustIncreaseAndRequestsNeedHello() {
        var machine = Self.open()
        _ = machine.received(.request(id: 5, Self.request()), now: Self.start)
        guard case .abort(let abort) = machine.received(.request(id: 5, Self.request()), now: Self.start) else {
            Issue.record("expected a protocol error")
            return
        }
        #expect(abort.goAway?.status.code == .invalidArgument)
        #expect(abort.goAway?.lastRequestID == 5)
        #expect(machine.phase == .closed)
        let result11 = machine.requestEnded(5)
        #expect(result11 == nil)  // after a protocol error nothing is answered

        var early = Self.machine()
        _ = early.tlsHandshakeCompleted(alpn: WireVersion.alpn)
        guard case .abort(let earlyAbort) = early.received(.request(id: 1, Self.request()), now: Self.start) else {
            Issue.record("expected a protocol error")
            return
        }
        #expect(earlyAbort.goAway == nil)
    }

    @Test func framesAServerMustNotReceiveAreProtocolErrors() {
        for frame in [
            Frame.response(id: 1, Response()), .error(id: 3, Status(.internalError, "x")), .hello(Self.hello),
        ] {
            var machine = Self.open()
            guard case .abort(let abort) = machine.received(frame, now: Self.start) else {
                Issue.record("expected a protocol error for \(frame.type)")
                continue
            }
            #expect(abort.goAway?.status.code == .invalidArgument)
        }
    }

    @Test func drainFinishesWhatIsInFlightIgnoresLaterRequestsThenCloses() {
        var machine = Self.open()
        _ = machine.received(.request(id: 1, Self.request()), now: Self.start)
        _ = machine.received(.request(id: 2, Self.request()), now: Self.start)
        guard case .drain(let goAway, let closeNow) = machine.drain(reason: "shutting down") else {
            Issue.record("expected a GOAWAY")
            return
        }
        #expect(goAway.lastRequestID == 2)
        #expect(goAway.status.code == .ok)
        #expect(!closeNow)
        let result12 = machine.drain(reason: "again")
        #expect(result12 == .none)
        let result13 = machine.received(.request(id: 3, Self.request()), now: Self.start)
        #expect(result13 == .none)  // above the last id
        let result14 = machine.received(.ping(9), now: Self.start)
        #expect(result14 == .write(.pong(9)))
        let result15 = machine.requestEnded(1)
        #expect(result15 == AfterAnswer.none)
        let result16 = machine.requestEnded(2)
        #expect(result16 == .close)
        #expect(machine.phase == .closed)
    }

    @Test func drainWithNothingInFlightClosesAtOnce() {
        var machine = Self.open()
        guard
            case .drain(_, let closeNow) = machine.received(
                .goAway(GoAway(lastRequestID: 0, status: Status(.ok, "bye"))),
                now: Self.start
            )
        else {
            Issue.record("expected a GOAWAY")
            return
        }
        #expect(closeNow)
        #expect(machine.phase == .closed)
    }

    @Test func keepalivePingsAQuietPeerAndClosesWhenItDoesNotAnswer() {
        var machine = Self.open(idle: .seconds(600))
        let result17 = machine.checkKeepalive(now: Self.at(9))
        #expect(result17 == .none)
        guard case .write(.ping) = machine.checkKeepalive(now: Self.at(10)) else {
            Issue.record("expected a PING")
            return
        }
        let result18 = machine.checkKeepalive(now: Self.at(14))
        #expect(result18 == .none)
        guard case .abort(let abort) = machine.checkKeepalive(now: Self.at(15)) else {
            Issue.record("expected a keepalive timeout")
            return
        }
        #expect(abort.goAway == nil)

        var answered = Self.open(idle: .seconds(600))
        _ = answered.checkKeepalive(now: Self.at(10))
        _ = answered.received(.pong(1), now: Self.at(11))
        let result19 = answered.checkKeepalive(now: Self.at(16))
        #expect(result19 == .none)  // the PONG counted
        #expect(answered.phase == .open)
    }

    @Test func idleConnectionDrainsButNotWhileARequestRuns() {
        var machine = Self.open(idle: .seconds(30))
        _ = machine.received(.request(id: 1, Self.request()), now: Self.at(1))
        let result20 = machine.checkIdle(now: Self.at(40))
        #expect(result20 == .none)  // in flight: not idle
        _ = machine.requestEnded(1)
        let result21 = machine.checkIdle(now: Self.at(30))
        #expect(result21 == .none)
        guard case .drain(let goAway, true) = machine.checkIdle(now: Self.at(31)) else {
            Issue.record("expected an idle GOAWAY")
            return
        }
        #expect(goAway.lastRequestID == 1)
    }

    @Test func readsPauseWhileAnswersCannotBeSent() {
        var machine = Self.open()
        let result22 = machine.readRequested()
        #expect(result22)
        let result23 = machine.writabilityChanged(isWritable: false)
        #expect(!result23)
        let result24 = machine.readRequested()
        #expect(!result24)  // held
        _ = machine.received(.request(id: 1, Self.request()), now: Self.start)
        let result25 = machine.requestEnded(1)
        #expect(result25 == AfterAnswer.none)  // still not writable
        let result26 = machine.writabilityChanged(isWritable: true)
        #expect(result26)  // the held read goes now
        let result27 = machine.writabilityChanged(isWritable: true)
        #expect(!result27)  // once
    }

    @Test func bufferBudgetAndPeerErrors() {
        var overBudget = Self.open()
        let error = TransportError(.bufferBudget, "full")
        guard case .abort(let abort) = overBudget.errorCaught(error) else {
            Issue.record("expected an abort")
            return
        }
        #expect(abort.goAway?.status.code == .resourceExhausted)

        var gaveUp = Self.open()
        _ = gaveUp.received(.request(id: 1, Self.request()), now: Self.start)
        let bad = GoAway(lastRequestID: 0, status: Status(.invalidArgument, "client saw garbage"))
        guard case .abort(let peerAbort) = gaveUp.received(.goAway(bad), now: Self.start) else {
            Issue.record("expected an abort")
            return
        }
        #expect(peerAbort.goAway == nil)  // the peer ended it: nothing more is sent
        let result28 = gaveUp.requestEnded(1)
        #expect(result28 == nil)
    }
}
