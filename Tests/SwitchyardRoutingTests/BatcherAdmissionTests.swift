import SwitchyardWire
import Testing

@testable import SwitchyardRouting

/// Admission by predicted queueing time, priorities at admission, and the upstream's concurrency limit.
struct BatcherAdmissionTests {
    /// One slot, batches of 4 rows learned to take 10 ms, one batch in flight: the queue drains 4 rows per 10 ms.
    static func saturated(_ configure: (inout BatcherConfiguration) -> Void = { _ in }) throws -> Machine {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchSize = 4
                $0.maxBatchesInFlight = 1
                $0.maxQueueDelay = .milliseconds(1)
                $0.maxQueueTime = nil
                configure(&$0)
            }
        )
        let learned = try #require(
            machine.enqueue(id: 100, request: makeRequest(rows: 4), deadline: nil, now: t0).dispatches.first
        )
        _ = machine.complete(batchID: learned.batchID, succeeded: true, now: at(10))
        let busy = machine.enqueue(id: 101, request: makeRequest(rows: 4), deadline: nil, now: at(10))
        precondition(busy.dispatches.count == 1 && machine.queue.isEmpty)
        return machine
    }

    static func request(priority: UInt8 = 0) -> Request {
        var request = makeRequest(rows: 1)
        request.priority = priority
        return request
    }

    @Test func theWaitIsTheBatchesAheadLeavingAsSlotsFree() throws {
        var machine = try Self.saturated()
        // the slot is busy: one batch time before anything leaves
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(10)).queue == .milliseconds(10))
        // halfway through the batch in flight, half of it is left
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(15)).queue == .milliseconds(5))
        for id in 1...8 as ClosedRange<UInt64> {
            let actions1 = machine.enqueue(id: id, request: Self.request(), deadline: nil, now: at(10))
            #expect(actions1.isEmpty)
        }
        // two full batches ahead, then the busy slot: 30 ms; its own batch runs 10 ms (4 rows learned, 1 borrows)
        let predicted = machine.predictedLatency(rows: 1, priority: 0, now: at(10))
        #expect(predicted.queue == .milliseconds(30))
        #expect(predicted.backlog == .milliseconds(20))  // behind the two full batches, after the slot frees
        #expect(predicted.execution == .milliseconds(10))
        // a second slot: one more batch leaves at once, and the rest drains twice as fast
        let sent = machine.update(
            configuration: .defaults {
                $0.maxBatchSize = 4
                $0.maxBatchesInFlight = 2
            },
            now: at(10)
        )
        #expect(sent.dispatches.count == 1)
        // both slots free at 20 ms: the full batch ahead leaves with one, the arrival with the other
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(10)).queue == .milliseconds(10))
    }

    @Test func aDeadlineThatCannotBeMetIsRefusedAtArrival() throws {
        var machine = try Self.saturated()
        for id in 1...8 as ClosedRange<UInt64> {
            _ = machine.enqueue(id: id, request: Self.request(), deadline: nil, now: at(10))
        }
        // 30 ms of queueing and 10 ms of execution do not fit in 25 ms: refused now, not after 25 ms in the queue
        let refused = machine.enqueue(id: 9, request: Self.request(), deadline: at(35), now: at(10))
        #expect(refused.failures.map(\.ids) == [[9]])
        #expect(refused.failures.map(\.code) == [.deadlineExceeded])
        #expect(!machine.queue.contains { $0.id == 9 })
        // 60 ms do
        let admitted = machine.enqueue(id: 10, request: Self.request(), deadline: at(70), now: at(10))
        #expect(admitted.isEmpty)
        #expect(machine.queue.last?.id == 10)
    }

    @Test func aWaitOverTheMostQueueTimeIsRefusedWithARetryAfterHint() throws {
        var machine = try Self.saturated { $0.maxQueueTime = .milliseconds(15) }
        // up to 7 rows ahead: one full batch (10 ms) behind the busy slot, within the 15 ms
        for id in 1...8 as ClosedRange<UInt64> {
            let admitted = machine.enqueue(id: id, request: Self.request(), deadline: nil, now: at(10))
            #expect(admitted.isEmpty)
        }
        // 8 rows ahead: two full batches, 20 ms
        var error: RoutingError? = nil
        if case .fail(_, let failure)? = machine.enqueue(id: 9, request: Self.request(), deadline: nil, now: at(10))
            .first
        {
            error = failure
        }
        let failure = try #require(error)
        #expect(failure.status.code == .resourceExhausted)
        #expect(failure.message.contains("retry after 5.0 ms"))
        #expect(failure.status.retryAfter == .milliseconds(5))
        #expect(machine.queue.map(\.id) == Array(1...8))
    }

    /// The wait for the next slot to free is no backlog: a limit below one batch time still lets the batch that
    /// leaves with it fill, instead of refusing every arrival while the slots are busy and sending batches of one.
    @Test func theBatchFormingAtTheHeadFillsUnderALimitBelowOneBatchTime() throws {
        var machine = try Self.saturated { $0.maxQueueTime = .milliseconds(2) }
        for id in 1...4 as ClosedRange<UInt64> {
            let admitted = machine.enqueue(id: id, request: Self.request(), deadline: nil, now: at(10))
            #expect(admitted.isEmpty, "request \(id)")
        }
        let refused = machine.enqueue(id: 5, request: Self.request(), deadline: nil, now: at(10))
        #expect(refused.failures.map(\.code) == [.queueFull])
        // the slot frees: the full batch leaves
        let sent = machine.complete(batchID: try #require(machine.inFlight.keys.first), succeeded: true, now: at(20))
        #expect(sent.dispatches.map(\.rows) == [4])
        // and a deadline is still judged on the whole wait
        let late = machine.enqueue(id: 6, request: Self.request(), deadline: at(35), now: at(20))
        #expect(late.failures.map(\.code) == [.deadlineExceeded])
    }

    /// A queue behind an upstream whose slots stay busy and are refilled from it is a standing queue: after the
    /// saturation interval and two rounds of the slots the upstream is saturated. A closed loop's standing queue only
    /// replaces what completes and never gets the saturated limit; a queue that grows — past `overloadQueueGrowth`
    /// rows, then, a saturation interval later, past it again — is overloaded, and the limit refuses at arrival what
    /// would wait behind a full batch (no `maxQueueTime` set). It ends when a slot is free again.
    @Test func aStandingQueueThatGrowsBehindASaturatedUpstreamGetsTheSaturatedLimit() throws {
        var machine = try Self.saturated {
            $0.saturatedQueueTime = .milliseconds(1)
            $0.saturationInterval = .milliseconds(100)
            $0.overloadQueueGrowth = 4
        }
        var nextID: UInt64 = 0
        var now = 10.0
        /// Every 10 ms the batch in flight comes back and the queue refills the slot; then `arrivals` requests come.
        func round(arrivals: Int) throws -> [(ids: [UInt64], code: RoutingError.Code)] {
            now += 10
            let batch = try #require(machine.inFlight.keys.first)
            var actions = machine.complete(batchID: batch, succeeded: true, now: at(now))
            for _ in 0..<arrivals {
                nextID += 1
                actions += machine.enqueue(id: nextID, request: Self.request(), deadline: nil, now: at(now))
            }
            return actions.failures
        }
        for _ in 0..<8 {
            nextID += 1
            #expect(machine.enqueue(id: nextID, request: Self.request(), deadline: nil, now: at(10)).isEmpty)
        }
        // a closed loop: each batch answered is replaced by as many arrivals; saturated from 110 ms, never overloaded
        for _ in 0..<30 {
            #expect(try round(arrivals: 4).isEmpty)
            #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(now)).limit == nil)
        }
        #expect(machine.isSaturated(now: at(now)) && !machine.isOverloaded)
        // an open loop: 6 arrivals a round against 4 answered; the queue grows 2 rows a round, and after the allowance,
        // an interval and the allowance again, it is overloaded: from then on the arrivals behind a full batch are
        // refused at once
        var refusedFrom: Double? = nil
        var refused = 0
        var queued = machine.queue.count
        for _ in 0..<30 {
            let failures = try round(arrivals: 6)
            #expect(failures.allSatisfy { $0.code == .queueFull })
            refused += failures.count
            if !failures.isEmpty, refusedFrom == nil { refusedFrom = now }
            // once refusing, the queue never grows again: it drains to a batch and stays there
            if refusedFrom != nil { #expect(machine.queue.count <= max(4, queued)) }
            queued = machine.queue.count
        }
        #expect(machine.isOverloaded)
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(now)).limit == .milliseconds(1))
        #expect(machine.queue.count <= 4)
        // outgrown in the first open round, at 320 ms (the closed loop's 4 arrivals a round took the allowance up to
        // its edge), measured afresh an interval later, at 420 ms, when that round's 6 arrivals outgrow it again
        #expect(refusedFrom == 420)
        #expect(refused >= 2 * 20)
        // the arrivals stop: the queue drains, and a slot free with nothing queued ends the saturation and the overload
        while !machine.queue.isEmpty { #expect(try round(arrivals: 0).isEmpty) }
        _ = try round(arrivals: 0)
        #expect(machine.inFlight.isEmpty && !machine.isOverloaded && !machine.isSaturated(now: at(now)))
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(now)).limit == nil)
        // soon after, two rounds of the slot refilled from the queue bring the saturation back without a new interval
        for _ in 0..<9 {  // the first goes alone to the idle slot, 8 rows queue
            nextID += 1
            _ = machine.enqueue(id: nextID, request: Self.request(), deadline: nil, now: at(now))
        }
        for _ in 0..<2 { #expect(try round(arrivals: 0).isEmpty) }
        #expect(machine.isSaturated(now: at(now)))
        // long after its end (16 intervals), a saturation needs the whole interval again
        _ = try round(arrivals: 0)
        #expect(machine.inFlight.isEmpty && machine.queue.isEmpty)
        now += 3_000
        for _ in 0..<9 {
            nextID += 1
            _ = machine.enqueue(id: nextID, request: Self.request(), deadline: nil, now: at(now))
        }
        for _ in 0..<2 { #expect(try round(arrivals: 0).isEmpty) }
        #expect(!machine.isSaturated(now: at(now)))
    }

    /// A long idle stretch is no saturation: the first arrival after it finds a slot free.
    @Test func anIdleUpstreamIsNotSaturatedHoweverLongItWasIdle() {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 1
                $0.saturatedQueueTime = .milliseconds(1)
            }
        )
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(10_000)).limit == nil)
        #expect(machine.enqueue(id: 1, request: Self.request(), deadline: nil, now: at(10_000)).dispatches.count == 1)
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(10_050)).limit == nil)
    }

    /// Off (`nil`), the configured limit holds however long the upstream is saturated; on, it only lowers it.
    @Test func theSaturatedLimitLowersTheMostQueueTimeAndIsOffWhenNil() throws {
        let machine = try Self.saturated {
            $0.maxQueueTime = .milliseconds(30)
            $0.saturatedQueueTime = nil
        }
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(500)).limit == .milliseconds(30))
        let configuration = BatcherConfiguration.defaults {
            $0.maxQueueTime = .microseconds(500)
            $0.saturatedQueueTime = .milliseconds(1)
        }
        #expect(configuration.queueTimeLimit(overloaded: true) == .microseconds(500))
        #expect(configuration.queueTimeLimit(overloaded: false) == .microseconds(500))
        let unlimited = BatcherConfiguration.defaults { $0.maxQueueTime = nil }
        #expect(unlimited.queueTimeLimit(overloaded: false) == nil)
        #expect(unlimited.queueTimeLimit(overloaded: true) == unlimited.saturatedQueueTime)
    }

    @Test func aMoreUrgentRequestGoesAheadAndTheLeastUrgentAreShedToKeepTheQueueTime() throws {
        var machine = try Self.saturated { $0.maxQueueTime = .milliseconds(15) }
        // low priority fills the queue to its time: 8 rows ahead would mean 20 ms behind full batches
        for id in 1...8 as ClosedRange<UInt64> {
            let actions3 = machine.enqueue(id: id, request: Self.request(priority: 1), deadline: nil, now: at(10))
            #expect(actions3.isEmpty)
        }
        let lowRefused = machine.enqueue(id: 9, request: Self.request(priority: 1), deadline: nil, now: at(10))
        #expect(lowRefused.failures.map(\.code) == [.queueFull])
        // a more urgent request does not wait behind them...
        #expect(machine.predictedLatency(rows: 1, priority: 5, now: at(10)).queue == .milliseconds(10))
        let urgent = machine.enqueue(id: 10, request: Self.request(priority: 5), deadline: nil, now: at(10))
        // ...and the newest of the least urgent, now past the queue time, is shed at once
        #expect(urgent.failures.map(\.ids) == [[8]])
        #expect(urgent.failures.map(\.code) == [.queueFull])
        #expect(machine.queue.map(\.id) == [10, 1, 2, 3, 4, 5, 6, 7])
        // priority 0 is shed before priority 1
        var mixed = try Self.saturated { $0.maxQueueTime = .milliseconds(15) }
        for (id, priority) in [(1, 1), (2, 0), (3, 1), (4, 0), (5, 1), (6, 0), (7, 1), (8, 1)] as [(UInt64, UInt8)] {
            let actions4 = mixed.enqueue(id: id, request: Self.request(priority: priority), deadline: nil, now: at(10))
            #expect(actions4.isEmpty)
        }
        let displacing = mixed.enqueue(id: 9, request: Self.request(priority: 9), deadline: nil, now: at(10))
        #expect(displacing.failures.flatMap(\.ids) == [6])  // the newest of priority 0, not 8 of priority 1
        #expect(mixed.queue.map(\.id) == [9, 1, 3, 5, 7, 8, 2, 4])
    }

    @Test func withOnePriorityAndTimeToSpareNothingIsShed() throws {
        var machine = try Self.saturated { $0.maxQueueTime = .milliseconds(1000) }
        for id in 1...40 as ClosedRange<UInt64> {
            let actions5 = machine.enqueue(id: id, request: Self.request(), deadline: at(1000), now: at(10))
            #expect(actions5.isEmpty)
        }
        #expect(machine.queue.count == 40)
    }

    @Test func theUpstreamsConcurrencyLimitKeepsBatchesInTheQueue() throws {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchSize = 8
                $0.maxBatchesInFlight = 4
                $0.maxQueueDelay = .milliseconds(1)
            }
        )
        machine.upstreamLimit = 1
        let actions6 = machine.enqueue(id: 1, request: Self.request(), deadline: nil, now: t0)
        #expect(actions6.dispatches.count == 1)
        let actions7 = machine.enqueue(id: 2, request: Self.request(), deadline: nil, now: t0)
        #expect(actions7.isEmpty)
        // the queue delay passes, but the upstream takes no second batch: no timer either
        let actions8 = machine.tick(now: at(5))
        #expect(actions8.isEmpty)
        #expect(machine.nextWakeUp == nil)
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(5)).queue > .zero)
        // the limit rises: the queued request leaves
        machine.upstreamLimit = 2
        let sent = machine.tick(now: at(6)).dispatches
        #expect(sent.map { $0.members.map(\.id) } == [[2]])
        #expect(sent.first?.reason == .queueDelay)
    }

    @Test func rowsQueuedAreKeptInStepWithTheQueue() throws {
        var machine = try Self.saturated()
        func inStep() -> Bool { machine.queuedRowCount == machine.queue.reduce(0) { $0 + $1.rows } }
        for id in 1...6 as ClosedRange<UInt64> {
            _ = machine.enqueue(id: id, request: makeRequest(rows: Int(id % 3) + 1), deadline: at(200), now: at(10))
        }
        #expect(machine.queuedRowCount == 12)
        let cancelled = machine.cancel(id: 3)
        #expect(cancelled)
        #expect(inStep())
        let expired = machine.enqueue(id: 7, request: Self.request(), deadline: at(60), now: at(10))
        #expect(expired.isEmpty)
        _ = machine.tick(now: at(60))  // 7 expires
        #expect(!machine.queue.contains { $0.id == 7 })
        #expect(inStep())
        // the batch in flight returns: the queue drains batch by batch, and the prediction follows
        var inFlight = Array(machine.inFlight.keys)
        var now = 60.0
        while let batch = inFlight.first {
            now += 10
            let actions = machine.complete(batchID: batch, succeeded: true, now: at(now))
            inFlight = actions.dispatches.map(\.batchID)
            #expect(inStep())
        }
        #expect(machine.queue.isEmpty)
        #expect(machine.queuedRowCount == 0)
        #expect(machine.predictedLatency(rows: 1, priority: 0, now: at(now)).queue == .zero)
        _ = machine.shutDown()
    }

    @Test func aStalePredictionNeverRefusesARequestThatWouldNotWait() throws {
        // learned: 4 rows take 10 ms; a request with 5 ms left at an idle upstream is sent all the same (its
        // answer teaches the predictor), while one that would queue behind a busy slot is refused
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchSize = 4
                $0.maxBatchesInFlight = 1
            }
        )
        let learned = try #require(
            machine.enqueue(id: 1, request: makeRequest(rows: 4), deadline: nil, now: t0).dispatches.first
        )
        _ = machine.complete(batchID: learned.batchID, succeeded: true, now: at(10))
        let idle = machine.enqueue(id: 2, request: Self.request(), deadline: at(15), now: at(10))
        #expect(idle.dispatches.map { $0.members.map(\.id) } == [[2]])
        let busy = machine.enqueue(id: 3, request: Self.request(), deadline: at(15), now: at(10))
        #expect(busy.failures.map(\.code) == [.deadlineExceeded])
    }

    @Test func oneOutlierMovesThePredictionByAFewTimesAtMost() {
        var predictor = ExecutionTimePredictor(initialEstimate: .milliseconds(10), smoothing: 0.2)
        predictor.observe(rows: 1, duration: .seconds(4))  // a cold start: counts as 4 × 10 ms
        #expect(predictor.predict(rows: 1) == .milliseconds(40))
        predictor.observe(rows: 1, duration: .milliseconds(2))
        #expect(predictor.predict(rows: 1) == .microseconds(32_400))
        predictor.observe(rows: 1, duration: .seconds(4))  // 0.8 × 32.4 + 0.2 × 4 × 32.4
        #expect(predictor.predict(rows: 1) == .microseconds(51_840))
    }
}
