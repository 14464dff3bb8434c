import SwitchyardWire
import Testing

@testable import SwitchyardRouting

/// The saturated queue-time limit applies to an overload (arrivals outgrowing completions), not to a closed-loop
/// client's standing queue: the state machine driven in virtual time by a closed and an open loop.
struct BatcherOverloadTests {
    /// A stage of `slots` one-row batch slots, each batch taking `execution`, with the defaults' saturated limit.
    struct Simulation {
        var machine: Machine
        let execution: Duration
        var now: Duration = .zero
        /// Batches in flight and when each comes back.
        var returns: [(at: Duration, batchID: UInt64, members: [UInt64])] = []
        /// When each request queued or was sent, to measure its wait.
        var arrived: [UInt64: Duration] = [:]
        /// Requests answered by the stage, with the time from arrival to the batch leaving.
        var answered: [(id: UInt64, at: Duration, wait: Duration)] = []
        /// Requests refused or failed, with the message.
        var failed: [(id: UInt64, at: Duration, error: RoutingError)] = []

        init(slots: Int, execution: Duration, configure: (inout BatcherConfiguration) -> Void = { _ in }) {
            self.machine = Machine(
                configuration: .defaults {
                    $0.maxBatchSize = 1
                    $0.maxBatchesInFlight = slots
                    $0.idleBatchesInFlight = slots
                    $0.initialExecutionEstimate = execution
                    configure(&$0)
                }
            )
            self.execution = execution
        }

        mutating func carryOut(_ actions: [Machine.Action]) {
            for action in actions {
                switch action {
                case .send(let dispatch):
                    let ids = dispatch.members.map(\.id)
                    for id in ids {
                        self.answered.append((id, self.now + self.execution, self.now - self.arrived[id]!))
                    }
                    self.returns.append((self.now + self.execution, dispatch.batchID, ids))
                case .fail(let ids, let error):
                    for id in ids { self.failed.append((id, self.now, error)) }
                }
            }
        }

        mutating func arrive(_ id: UInt64) {
            self.arrived[id] = self.now
            self.carryOut(self.machine.enqueue(id: id, request: makeRequest(rows: 1), deadline: nil, now: self.now))
        }

        /// Moves time to `time`, bringing back every batch due by then (and waking the machine when it asked to).
        /// - Returns: the requests answered meanwhile, in order.
        mutating func advance(to time: Duration) -> [(id: UInt64, at: Duration)] {
            var done: [(id: UInt64, at: Duration)] = []
            while true {
                let next = self.returns.indices.min { self.returns[$0].at < self.returns[$1].at }
                let wakeUp = self.machine.nextWakeUp
                if let wakeUp, wakeUp <= time, next.map({ wakeUp < self.returns[$0].at }) ?? true {
                    self.now = max(self.now, wakeUp)
                    self.carryOut(self.machine.tick(now: self.now))
                    continue
                }
                guard let next, self.returns[next].at <= time else { break }
                let back = self.returns.remove(at: next)
                self.now = back.at
                done += back.members.map { ($0, back.at) }
                self.carryOut(self.machine.complete(batchID: back.batchID, succeeded: true, now: self.now))
            }
            self.now = time
            return done
        }
    }

    /// The bench's unbatched router under a closed loop with 64 requests in flight: one-row batches and fewer slots
    /// than requests, so every slot stays busy and refilled from a standing queue of ~60 requests for the whole run,
    /// and the slots shrink halfway (an upstream's adaptive limit). Nothing is refused: the queue never grows past
    /// the client's requests in flight. Before, the saturated limit refused nearly all of them.
    @Test(arguments: [4, 8])
    func aClosedLoopWithMoreInFlightThanSlotsIsNeverRefused(slots: Int) {
        var simulation = Simulation(slots: slots, execution: .milliseconds(1))
        let inFlight: UInt64 = 64
        let think = Duration.microseconds(100)  // the client's round trip between an answer and its next request
        var nextID = inFlight
        for id in 0..<inFlight { simulation.arrive(id) }
        var sends: [(at: Duration, id: UInt64)] = []
        var time = Duration.zero
        while time < .seconds(2) {
            time += .microseconds(50)
            if time == .seconds(1) { simulation.machine.upstreamLimit = slots / 2 }
            for done in simulation.advance(to: time) { sends.append((done.at + think, done.id)) }
            let failed = simulation.failed.count
            while let first = sends.first, first.at <= time {
                sends.removeFirst()
                nextID += 1
                simulation.arrive(nextID)
            }
            if simulation.failed.count > failed { break }
        }
        #expect(simulation.failed.isEmpty, "\(simulation.failed.prefix(3).map(\.error))")
        // every slot stayed busy: the stage answered its capacity, and the limit never applied
        #expect(simulation.answered.count > 2_000 * slots / 2)
        #expect(!simulation.machine.isOverloaded)
        #expect(simulation.machine.isSaturated(now: simulation.now))
    }

    /// An open loop at 2.5 times the stage's capacity: the saturated limit applies once the queue has grown by the
    /// allowance and, a saturation interval later, by as much again; from then on the excess is refused at arrival
    /// ("overloaded", with a retry-after hint), never by the queue's count; the stage keeps answering at capacity and
    /// what it admits waits a few batch times.
    @Test func anOpenLoopOverloadIsRefusedAtArrival() throws {
        var simulation = Simulation(slots: 4, execution: .milliseconds(1))
        var id: UInt64 = 0
        var time = Duration.zero
        while time < .seconds(3) {
            time += .microseconds(100)  // 10 requests per ms against 4 per ms
            _ = simulation.advance(to: time)
            id += 1
            simulation.arrive(id)
            // a refusal is at arrival: the request that just came
            if let last = simulation.failed.last, last.at == time { #expect(last.id == id) }
        }
        #expect(simulation.failed.allSatisfy { $0.error.code == .queueFull })
        // until the overload is confirmed the queue fills to its count; from then on every refusal is by the limit
        let first = try #require(simulation.failed.firstIndex { $0.error.message.hasPrefix("overloaded: ") })
        let since = simulation.failed[first].at
        let byLimit = simulation.failed[first...]
        #expect(since < .milliseconds(500))
        #expect(byLimit.count > 15_000)
        #expect(byLimit.allSatisfy { $0.error.message.hasPrefix("overloaded: ") }, "\(byLimit.map(\.error.message))")
        #expect(byLimit.allSatisfy { $0.error.message.contains("retry after") })
        // capacity is 4 answers a ms: the stage answers at it throughout
        let answered = simulation.answered.filter { $0.at > since && $0.at <= time }
        let span = Double((time - since) / .milliseconds(1))
        #expect(Double(answered.count) >= 3.9 * span)
        // what arrives from then on and is admitted waits for a slot, the 1 ms limit and its share of a round of the
        // slots, except after each probe (every 1.6 s) the allowance of 128 rows: 32 ms at 4 rows a ms
        let waits = simulation.answered.filter { simulation.arrived[$0.id]! > since }.map(\.wait).sorted()
        #expect(waits.count > 8_000)
        #expect(waits[waits.count * 98 / 100] <= .milliseconds(5), "\(waits[waits.count * 98 / 100])")
        #expect(waits.last! <= .milliseconds(40), "\(waits.last!)")
    }

    /// An overload is tested afresh every 16 saturation intervals (here 20 ms), so that one that ended while the
    /// slots stay busy lets go: an open-loop overload gives way to a closed loop of 64 requests in flight (each refused
    /// one sent again a millisecond later). Until the probe the closed loop is refused as the overload was; after it,
    /// never again.
    @Test func anOverloadIsProbedAfreshAndEndsWhenTheQueueStopsGrowing() throws {
        var simulation = Simulation(slots: 4, execution: .milliseconds(1)) { $0.saturationInterval = .milliseconds(20) }
        var id: UInt64 = 0
        var time = Duration.zero
        while !simulation.machine.isOverloaded, time < .seconds(1) {
            time += .microseconds(100)
            _ = simulation.advance(to: time)
            id += 1
            simulation.arrive(id)
        }
        guard case .overloaded(let since) = simulation.machine.overload else {
            Issue.record("not overloaded: \(simulation.machine.overload)")
            return
        }
        // the closed loop: the answered are sent again at once, the refused a millisecond later
        var handled = simulation.failed.count
        var retries: [Duration] = []
        let firstClosed = id + 1
        for _ in 0..<64 {
            id += 1
            simulation.arrive(id)
        }
        let probe = since + .milliseconds(20 * 16)
        var refusedAfterProbe = 0
        while time < probe + .milliseconds(200) {
            time += .microseconds(100)
            let answered = simulation.advance(to: time).filter { $0.id >= firstClosed }.count
            retries += simulation.failed[handled...].map { _ in time + .milliseconds(1) }
            handled = simulation.failed.count
            let due = retries.prefix { $0 <= time }.count
            retries.removeFirst(due)
            for _ in 0..<(answered + due) {
                id += 1
                simulation.arrive(id)
            }
            if time > probe + .milliseconds(1) { refusedAfterProbe += simulation.failed.count - handled }
        }
        #expect(handled > 64)  // refused until the probe
        #expect(refusedAfterProbe == 0)
        #expect(!simulation.machine.isOverloaded)
        #expect(simulation.machine.isSaturated(now: time))
    }
}
