import CFuzzDriver
import NIOCore
import SwitchyardTransport
import SwitchyardWire

// Drives the server connection's state machine with an arbitrary sequence of events (frames, decode errors, timers,
// answers, cancels, back-pressure, drains, TLS outcomes, close) and checks the promises the handler relies on:
// a request starts at most once and ends at most once, a refused one never ran, nothing happens after close,
// request ids only grow, and a drain closes at once only when nothing is in flight.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    var input = Input(bytes: UnsafeBufferPointer(start: data, count: size))
    var machine = ServerConnection.StateMachine(
        configuration: .init(
            maxInFlight: 1 + Int(input.byte() % 8),
            handshakeTimeout: .milliseconds(500),
            idleTimeout: .milliseconds(2000),
            keepaliveInterval: .milliseconds(300),
            keepaliveTimeout: .milliseconds(200)
        )
    )
    var model = Model()
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    machine.connectionStarted(now: now)
    while !input.isEmpty {
        let op = input.byte()
        switch op % 10 {
        case 0, 1, 2, 3:
            let length = Int(input.byte()) | Int(input.byte()) << 8
            let bytes = input.take(length)
            let action: ServerConnection.StateMachine.Action
            do {
                action = machine.received(try Frame(decoding: bytes, maxPayload: 1 << 16), now: now)
            } catch {
                action = machine.protocolError(error)
            }
            model.check(action, machine)
        case 4:
            now = now + .milliseconds(Int64(input.byte()) * 10)
            model.check(machine.checkKeepalive(now: now), machine)
            model.check(machine.checkIdle(now: now), machine)
        case 5:
            let id = model.pick(input.byte())
            let after = machine.requestEnded(id)
            model.ended(id, after: after, machine)
        case 6:
            let reading = machine.readRequested()
            let resumed = machine.writabilityChanged(isWritable: input.byte() & 1 == 0)
            precondition(!(reading && resumed), "a held read was resumed though reading was never held")
        case 7:
            model.check(machine.drain(reason: "fuzz"), machine)
        case 8:
            let alpn: String? = [WireVersion.alpn, nil, "h2", ""][Int(input.byte() % 4)]
            model.check(machine.tlsHandshakeCompleted(alpn: alpn), machine)
        default:
            model.check(machine.errorCaught(WireError(.unexpectedFrame, "fuzz")), machine)
        }
    }
    _ = machine.channelInactive()
    precondition(machine.phase == .closed && machine.inFlight.isEmpty, "a closed connection keeps requests")
    return 0
}

/// The fuzzer's bytes, read front to back; reads past the end give zeros.
struct Input {
    var bytes: UnsafeBufferPointer<UInt8>
    var offset = 0
    var isEmpty: Bool { self.offset >= self.bytes.count }

    mutating func byte() -> UInt8 {
        guard self.offset < self.bytes.count else { return 0 }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    mutating func take(_ count: Int) -> [UInt8] {
        let end = min(self.bytes.count, self.offset + count)
        defer { self.offset = end }
        return Array(self.bytes[self.offset..<end])
    }
}

/// What the handler would know from the actions alone: the requests it started and which of them ended.
struct Model {
    var running: Set<UInt32> = []
    var finished: Set<UInt32> = []
    var lastStarted: UInt32 = 0
    var closed = false

    /// An id to end: one running, one finished, or one never seen.
    func pick(_ byte: UInt8) -> UInt32 {
        let known = Array(self.running.sorted()) + Array(self.finished.sorted())
        guard !known.isEmpty, byte < 200 else { return UInt32(byte) &+ 1 }
        return known[Int(byte) % known.count]
    }

    mutating func check(_ action: ServerConnection.StateMachine.Action, _ machine: ServerConnection.StateMachine) {
        if self.closed { precondition(action == .none, "an action after close: \(action)") }
        switch action {
        case .startRequest(let id, _):
            precondition(id > self.lastStarted, "request \(id) started after \(self.lastStarted)")
            precondition(!self.running.contains(id) && !self.finished.contains(id), "request \(id) started twice")
            self.lastStarted = id
            self.running.insert(id)
        case .refuseRequest(let id, _):
            precondition(!self.running.contains(id) && !self.finished.contains(id), "a running request refused")
            self.finished.insert(id)
        case .cancelRequest(let id, let after):
            precondition(self.running.remove(id) != nil, "request \(id) cancelled though not running")
            self.finished.insert(id)
            if after == .close { self.markClosed() }
        case .drain(_, let closeNow):
            precondition(closeNow == self.running.isEmpty, "drain closes now with \(self.running.count) running")
            if closeNow { self.markClosed() }
        case .abort:
            self.markClosed()
        case .none, .readPeerCertificate, .acceptHello, .write:
            break
        }
        self.agree(with: machine)
    }

    mutating func ended(
        _ id: UInt32,
        after: ServerConnection.StateMachine.AfterAnswer?,
        _ machine: ServerConnection.StateMachine
    ) {
        if after != nil {
            precondition(self.running.remove(id) != nil, "request \(id) ended though not running")
            self.finished.insert(id)
            if after == .close { self.markClosed() }
        } else {
            precondition(self.closed || !self.running.contains(id), "a running request \(id) could not end")
        }
        self.agree(with: machine)
    }

    private mutating func markClosed() {
        self.closed = true
        self.running.removeAll()
    }

    private func agree(with machine: ServerConnection.StateMachine) {
        precondition(
            self.closed == (machine.phase == .closed),
            "closed: model \(self.closed), machine \(machine.phase)"
        )
        precondition(machine.inFlight == self.running, "in flight: machine \(machine.inFlight), model \(self.running)")
    }
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
_ = LLVMFuzzerRunDriver(&argc, &argv) { fuzz($0, $1) }
