import SwitchyardTensor
import SwitchyardWire
import Testing

@testable import SwitchyardRouting

struct BatcherStateMachineTests {
    /// Busy when one batch is in flight, room for a second: the window where batches form.
    static func busy(_ configure: (inout BatcherConfiguration) -> Void = { _ in }) -> Machine {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchSize = 8
                $0.maxQueueDelay = .milliseconds(1)
                $0.maxBatchesInFlight = 2
                $0.idleBatchesInFlight = 1
                configure(&$0)
            }
        )
        let first = machine.enqueue(id: 1000, request: makeRequest(rows: 1), deadline: nil, now: t0)
        precondition(first.dispatches.count == 1)
        return machine
    }

    @Test func loneRequestIsSentAtOnceWhenIdle() throws {
        var machine = Machine(configuration: .defaults { $0.maxQueueDelay = .seconds(1) })
        let actions = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0)
        let dispatch = try #require(actions.dispatches.first)
        #expect(dispatch.members.map(\.id) == [1])
        #expect(dispatch.reason == .idle)
        #expect(machine.queue.isEmpty)
        #expect(machine.nextWakeUp == nil)
    }

    @Test func aBurstAtAnIdleUpstreamIsGatheredIntoOneBatch() throws {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchSize = 8
                $0.maxQueueDelay = .seconds(1)
            }
        )
        let gathers = machine.startGathering()
        let second = machine.startGathering()
        #expect(gathers)
        #expect(!second)  // one gatherer at a time: the rest of the burst queues
        let joined =
            machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0)
            + machine.enqueue(id: 3, request: makeRequest(rows: 2), deadline: nil, now: t0)
        #expect(joined.isEmpty)
        let wakeUp = machine.nextWakeUp
        #expect(wakeUp == nil)  // gathering takes no timer
        // the gatherer comes back: it arrived first, so it leads the batch
        let alone = machine.sendAloneIfIdle(id: 1, request: makeRequest(rows: 1), deadline: nil, now: at(0.01))
        #expect(alone == nil)
        let actions = machine.enqueue(
            id: 1,
            request: makeRequest(rows: 1),
            deadline: nil,
            now: at(0.01),
            gathered: true
        )
        let dispatch = try #require(actions.dispatches.first)
        #expect(actions.dispatches.count == 1)
        #expect(dispatch.members.map(\.id) == [1, 2, 3])
        #expect(dispatch.rows == 4)
        #expect(dispatch.reason == .idle)
        #expect(!machine.gathering)
    }

    @Test func aGatheringThatFindsNoCompanySendsAlone() throws {
        var machine = Machine(configuration: .defaults { $0.maxQueueDelay = .seconds(1) })
        let gathers = machine.startGathering()
        #expect(gathers)
        let sent = machine.sendAloneIfIdle(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0)
        let alone = try #require(sent)
        #expect(alone.members.map(\.id) == [1])
        #expect(!machine.gathering)
        let again = machine.startGathering()
        #expect(!again)  // busy now: arrivals queue
    }

    @Test func aGathererRefusedAtTheDoorStillReleasesTheBurst() throws {
        var machine = Machine(configuration: .defaults { $0.maxQueueDelay = .seconds(1) })
        let gathers = machine.startGathering()
        #expect(gathers)
        let joined = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0)
        #expect(joined.isEmpty)
        let actions = machine.enqueue(
            id: 1,
            request: makeRequest(rows: 1),
            deadline: at(0.5),
            now: at(1),
            gathered: true
        )
        #expect(actions.failures.map(\.ids) == [[1]])
        #expect(actions.dispatches.map { $0.members.map(\.id) } == [[2]])
    }

    @Test func aFullBatchLeavesEvenWhileGathering() throws {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchSize = 2
                $0.maxBatchesInFlight = 2
            }
        )
        let gathers = machine.startGathering()
        #expect(gathers)
        let joined = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0)
        #expect(joined.isEmpty)
        let actions = machine.enqueue(id: 3, request: makeRequest(rows: 1), deadline: nil, now: t0)
        #expect(actions.dispatches.map { $0.members.map(\.id) } == [[2, 3]])
    }

    @Test func whileBusyRequestsWaitUntilTheQueueDelay() throws {
        var machine = Self.busy()
        let result1 = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: at(0.1))
        #expect(result1.isEmpty)
        let result2 = machine.enqueue(id: 2, request: makeRequest(rows: 2), deadline: nil, now: at(0.5))
        #expect(result2.isEmpty)
        // the oldest arrived at 0.1 ms and may wait 1 ms
        #expect(machine.nextWakeUp == at(1.1))
        let result3 = machine.tick(now: at(1.0))
        #expect(result3.isEmpty)
        let dispatch = try #require(machine.tick(now: at(1.1)).dispatches.first)
        #expect(dispatch.reason == .queueDelay)
        #expect(dispatch.members.map(\.id) == [1, 2])
        #expect(dispatch.rows == 3)
        #expect(machine.inFlight.count == 2)
    }

    @Test func aFullBatchLeavesAtOnce() throws {
        var machine = Self.busy { $0.maxBatchSize = 4 }
        let result4 = machine.enqueue(id: 1, request: makeRequest(rows: 3), deadline: nil, now: t0)
        #expect(result4.isEmpty)
        // 3 + 2 would overflow, so 2 waits; then 1 row fills the batch with request 3
        let result5 = machine.enqueue(id: 2, request: makeRequest(rows: 2), deadline: nil, now: t0)
        #expect(result5.isEmpty)
        let dispatch = try #require(
            machine.enqueue(id: 3, request: makeRequest(rows: 1), deadline: nil, now: t0).dispatches.first
        )
        #expect(dispatch.reason == .full)
        #expect(dispatch.members.map(\.id) == [1, 3])
        #expect(machine.queue.map(\.id) == [2])
    }

    @Test func aPreferredSizeLeavesAtOnce() throws {
        var machine = Self.busy { $0.preferredBatchSizes = [3, 6] }
        let result6 = machine.enqueue(id: 1, request: makeRequest(rows: 2), deadline: nil, now: t0)
        #expect(result6.isEmpty)
        let dispatch = try #require(
            machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0).dispatches.first
        )
        #expect(dispatch.reason == .preferredSize)
        #expect(dispatch.rows == 3)
    }

    @Test func noSlotNoSendEvenAfterTheDelay() throws {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 1
                $0.maxQueueDelay = .milliseconds(1)
            }
        )
        let first = try #require(
            machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0).dispatches.first
        )
        let result7 = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0)
        #expect(result7.isEmpty)
        let result8 = machine.enqueue(id: 3, request: makeRequest(rows: 1), deadline: nil, now: t0)
        #expect(result8.isEmpty)
        #expect(machine.nextWakeUp == nil)  // no deadline and no free slot: nothing to wake for
        let result9 = machine.tick(now: at(50))
        #expect(result9.isEmpty)
        // the slot frees: everything queued leaves together, at once
        let next = try #require(machine.complete(batchID: first.batchID, succeeded: true, now: at(60)).dispatches.first)
        #expect(next.members.map(\.id) == [2, 3])
        #expect(next.reason == .idle)
    }

    @Test func queuedRequestsPastTheirDeadlineAreNeverSent() throws {
        // predicted fast enough that 5 ms look enough at arrival (BatcherAdmissionTests refuse what is not)
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 1
                $0.initialExecutionEstimate = .microseconds(100)
            }
        )
        let first = try #require(
            machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0).dispatches.first
        )
        let result10 = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: at(5), now: t0)
        #expect(result10.isEmpty)
        let result11 = machine.enqueue(id: 3, request: makeRequest(rows: 1), deadline: at(20), now: t0)
        #expect(result11.isEmpty)
        #expect(machine.nextWakeUp == at(5))
        let expired = machine.tick(now: at(5))
        #expect(expired.failures.map(\.ids) == [[2]])
        #expect(expired.failures.map(\.code) == [.deadlineExceeded])
        let next = try #require(machine.complete(batchID: first.batchID, succeeded: true, now: at(6)).dispatches.first)
        #expect(next.members.map(\.id) == [3])
    }

    @Test func aPassedDeadlineIsRefusedAtTheDoor() {
        var machine = Machine(configuration: BatcherConfiguration())
        let actions = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: t0, now: t0)
        #expect(actions.failures.map(\.code) == [.deadlineExceeded])
        #expect(machine.inFlight.isEmpty)
    }

    @Test func theDeadlineClosesABatchBeforeTheQueueDelay() throws {
        // predicted execution 10 ms (initial estimate); deadline 12 ms after arrival: leave by 2 ms, not 100 ms
        var machine = Self.busy {
            $0.maxQueueDelay = .milliseconds(100)
            $0.initialExecutionEstimate = .milliseconds(10)
        }
        let result12 = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: at(12), now: t0)
        #expect(result12.isEmpty)
        #expect(machine.nextWakeUp == at(2))
        let result13 = machine.tick(now: at(1.9))
        #expect(result13.isEmpty)
        let dispatch = try #require(machine.tick(now: at(2)).dispatches.first)
        #expect(dispatch.reason == .deadline)
    }

    @Test func theDeadlineReserveIsKeptForLaterStages() {
        var machine = Self.busy {
            $0.maxQueueDelay = .milliseconds(100)
            $0.initialExecutionEstimate = .milliseconds(10)
            $0.deadlineReserve = .milliseconds(1)
        }
        _ = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: at(12), now: t0)
        #expect(machine.nextWakeUp == at(1))
    }

    @Test func predictionsAreLearnedFromFinishedBatches() throws {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 2
                $0.maxQueueDelay = .milliseconds(100)
                $0.initialExecutionEstimate = .milliseconds(10)
            }
        )
        let first = try #require(
            machine.enqueue(id: 1, request: makeRequest(rows: 2), deadline: nil, now: t0).dispatches.first
        )
        _ = machine.complete(batchID: first.batchID, succeeded: true, now: at(3))
        #expect(machine.predictor.predict(rows: 2) == .milliseconds(3))
        // a failed batch teaches nothing
        let second = try #require(
            machine.enqueue(id: 2, request: makeRequest(rows: 4), deadline: nil, now: at(3)).dispatches.first
        )
        _ = machine.complete(batchID: second.batchID, succeeded: false, now: at(50))
        #expect(machine.predictor.averages[4] == nil)
        // busy again; a 2-row batch now leaves 3 ms before its deadline instead of 10 ms
        let busy = try #require(
            machine.enqueue(id: 3, request: makeRequest(rows: 1), deadline: nil, now: at(50)).dispatches.first
        )
        #expect(busy.reason == .idle)
        let result14 = machine.enqueue(id: 4, request: makeRequest(rows: 2), deadline: at(70), now: at(50))
        #expect(result14.isEmpty)
        #expect(machine.nextWakeUp == at(67))
    }

    @Test func aFullQueueSheds() {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 1
                $0.maxQueueSize = 2
            }
        )
        _ = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0)
        let result15 = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0)
        #expect(result15.isEmpty)
        let result16 = machine.enqueue(id: 3, request: makeRequest(rows: 1), deadline: nil, now: t0)
        #expect(result16.isEmpty)
        let shed = machine.enqueue(id: 4, request: makeRequest(rows: 1), deadline: nil, now: t0)
        #expect(shed.failures.map(\.ids) == [[4]])
        #expect(shed.failures.map(\.code) == [.queueFull])
        #expect(RoutingError(.queueFull, "").status.code == .resourceExhausted)
        #expect(machine.queue.map(\.id) == [2, 3])
    }

    /// A request of `rows` rows with the given priority.
    static func urgent(_ priority: UInt8, rows: Int = 1) -> Request {
        var request = makeRequest(rows: rows)
        request.priority = priority
        return request
    }

    @Test func moreUrgentRequestsLeaveFirstAndEqualOnesInArrivalOrder() throws {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 1
                $0.maxBatchSize = 2
                $0.maxQueueDelay = .seconds(1)
            }
        )
        let first = try #require(
            machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0).dispatches.first
        )
        for (id, priority) in [(2, 0), (3, 5), (4, 0), (5, 9), (6, 5)] as [(UInt64, UInt8)] {
            #expect(machine.enqueue(id: id, request: Self.urgent(priority), deadline: nil, now: at(Double(id))).isEmpty)
        }
        #expect(machine.queue.map(\.id) == [5, 3, 6, 2, 4])
        let next = machine.complete(batchID: first.batchID, succeeded: true, now: at(10)).dispatches
        #expect(next.map { $0.members.map(\.id) } == [[5, 3]])
        #expect(machine.queue.map(\.id) == [6, 2, 4])
    }

    @Test func aFullQueueShedsItsLeastUrgentRequestForAMoreUrgentOne() {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 1
                $0.maxQueueSize = 3
            }
        )
        _ = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0)
        for (id, priority) in [(2, 1), (3, 0), (4, 0)] as [(UInt64, UInt8)] {
            _ = machine.enqueue(id: id, request: Self.urgent(priority), deadline: nil, now: t0)
        }
        // the newest of the least urgent goes
        let admitted = machine.enqueue(id: 5, request: Self.urgent(1), deadline: nil, now: t0)
        #expect(admitted.failures.map(\.ids) == [[4]])
        #expect(admitted.failures.map(\.code) == [.queueFull])
        #expect(machine.queue.map(\.id) == [2, 5, 3])
        // a newcomer no more urgent than anything queued is shed itself
        let refused = machine.enqueue(id: 6, request: Self.urgent(0), deadline: nil, now: t0)
        #expect(refused.failures.map(\.ids) == [[6]])
        let alsoRefused = machine.enqueue(id: 7, request: Self.urgent(1), deadline: nil, now: t0)
        #expect(alsoRefused.failures.map(\.ids) == [[3]])  // 3 (priority 0) is still less urgent
        #expect(machine.queue.map(\.id) == [2, 5, 7])
        #expect(machine.enqueue(id: 8, request: Self.urgent(1), deadline: nil, now: t0).failures.map(\.ids) == [[8]])
    }

    @Test func requestsOfAnotherLayoutGoInAnotherBatch() throws {
        var machine = Machine(configuration: .defaults { $0.maxBatchesInFlight = 1 })
        let first = try #require(
            machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0).dispatches.first
        )
        _ = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0)
        // other row shape
        _ = machine.enqueue(id: 3, request: makeRequest(rows: 1, columns: 3), deadline: nil, now: t0)
        _ = machine.enqueue(id: 4, request: makeRequest(rows: 1, input: "z"), deadline: nil, now: t0)  // other name
        _ = machine.enqueue(id: 5, request: makeRequest(rows: 2), deadline: nil, now: t0)
        var other = makeRequest(rows: 1)
        other.parameters = [Parameter("top_k", "3")]
        _ = machine.enqueue(id: 6, request: other, deadline: nil, now: t0)
        var order: [[UInt64]] = []
        var batch = first
        for _ in 0..<4 {
            batch = try #require(machine.complete(batchID: batch.batchID, succeeded: true, now: t0).dispatches.first)
            order.append(batch.members.map(\.id))
        }
        #expect(order == [[2, 5], [3], [4], [6]])
        #expect(machine.queue.isEmpty)
    }

    /// The machine keeps the head's batch between arrivals instead of rescanning the queue; whatever happened, a
    /// copy made to rescan (a configuration update does) must find nothing more to send and the same wake-up.
    @Test func theKeptBatchDecidesAsAFreshScanWould() {
        var random = SystemRandomNumberGenerator()
        for round in 0..<200 {
            var machine = Machine(
                configuration: .defaults {
                    $0.maxBatchSize = 6
                    $0.maxQueueDelay = .milliseconds(1)
                    $0.maxBatchesInFlight = 2
                    $0.preferredBatchSizes = round % 2 == 0 ? [] : [4]
                }
            )
            var now = t0
            var sent: [UInt64] = []
            var nextID: UInt64 = 1
            for _ in 0..<60 {
                var actions: [Machine.Action] = []
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<6:
                    let rows = Int.random(in: 1...4, using: &random)
                    let request =
                        Bool.random(using: &random) ? makeRequest(rows: rows) : makeRequest(rows: rows, columns: 3)
                    let deadline =
                        Bool.random(using: &random)
                        ? nil : now + .microseconds(Int64.random(in: 1...3000, using: &random))
                    actions = machine.enqueue(id: nextID, request: request, deadline: deadline, now: now)
                    nextID += 1
                case 6:  // the batcher re-arms its timer after a cancel; the wake-up is due now at the latest
                    _ = machine.cancel(id: UInt64.random(in: 1...nextID, using: &random))
                    actions = machine.tick(now: now)
                case 7, 8:
                    if let batch = sent.randomElement(using: &random) {
                        sent.removeAll { $0 == batch }
                        actions = machine.complete(batchID: batch, succeeded: true, now: now)
                    }
                default:
                    now += .microseconds(Int64.random(in: 0...700, using: &random))
                    actions = machine.tick(now: now)
                }
                sent += actions.dispatches.map(\.batchID)
                for dispatch in actions.dispatches {
                    #expect(dispatch.rows <= 6 || dispatch.members.count == 1)
                }
                var fresh = machine
                #expect(fresh.update(configuration: fresh.configuration, now: now).isEmpty)
                #expect(fresh.nextWakeUp == machine.nextWakeUp)
            }
        }
    }

    @Test func requestsThatCannotBeBatchedGoAlone() throws {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 1
                $0.maxBatchSize = 4
            }
        )
        let first = try #require(
            machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0).dispatches.first
        )
        _ = machine.enqueue(id: 2, request: Request(model: "m"), deadline: nil, now: t0)  // no tensors
        _ = machine.enqueue(id: 3, request: Request(model: "m"), deadline: nil, now: t0)
        _ = machine.enqueue(id: 4, request: makeRequest(rows: 9), deadline: nil, now: t0)  // more rows than a batch
        _ = machine.enqueue(id: 5, request: makeRequest(rows: 1), deadline: nil, now: t0)
        var order: [[UInt64]] = []
        var batch = first
        for _ in 0..<4 {
            batch = try #require(machine.complete(batchID: batch.batchID, succeeded: true, now: t0).dispatches.first)
            order.append(batch.members.map(\.id))
        }
        #expect(order == [[2], [3], [4], [5]])
    }

    @Test func aBatchDeadlineIsTheLatestOfItsMembers() throws {
        var machine = Self.busy { $0.maxBatchSize = 3 }
        _ = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: at(50), now: t0)
        _ = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: at(80), now: t0)
        let withDeadlines = try #require(
            machine.enqueue(id: 3, request: makeRequest(rows: 1), deadline: at(60), now: t0).dispatches.first
        )
        #expect(withDeadlines.deadline == at(80))
        var open = Self.busy { $0.maxBatchSize = 2 }
        _ = open.enqueue(id: 1, request: makeRequest(rows: 1), deadline: at(50), now: t0)
        let withoutDeadline = try #require(
            open.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0).dispatches.first
        )
        #expect(withoutDeadline.deadline == nil)
    }

    @Test func cancelRemovesAQueuedRequest() {
        var machine = Self.busy()
        _ = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: at(90), now: t0)
        _ = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0)
        let result17 = machine.cancel(id: 1)
        #expect(result17)
        let result18 = machine.cancel(id: 1)
        #expect(!result18)
        let inFlight = machine.cancel(id: 1000)
        #expect(!inFlight)  // in flight: the owner answers it
        #expect(machine.queue.map(\.id) == [2])
    }

    @Test func limitsChangeWhileRunning() throws {
        var machine = Machine(
            configuration: .defaults {
                $0.maxBatchesInFlight = 1
                $0.maxBatchSize = 2
            }
        )
        _ = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0)
        for id in 2...5 { _ = machine.enqueue(id: UInt64(id), request: makeRequest(rows: 1), deadline: nil, now: t0) }
        let actions = machine.update(
            configuration: .defaults {
                $0.maxBatchesInFlight = 3
                $0.idleBatchesInFlight = 3
                $0.maxBatchSize = 2
            },
            now: t0
        )
        #expect(actions.dispatches.map { $0.members.map(\.id) } == [[2, 3], [4, 5]])
        #expect(machine.inFlight.count == 3)
    }

    @Test func configurationIsNormalized() {
        let normalized = BatcherConfiguration.defaults {
            $0.maxBatchSize = 0
            $0.preferredBatchSizes = [4, 1, 1, 0]
            $0.maxBatchesInFlight = 0
            $0.idleBatchesInFlight = 5
        }.normalized
        #expect(normalized.maxBatchSize == 1)
        #expect(normalized.preferredBatchSizes == [1])
        #expect(normalized.maxBatchesInFlight == 1)
        #expect(normalized.idleBatchesInFlight == 1)
    }

    @Test func shutDownFailsEverythingQueued() {
        var machine = Self.busy()
        _ = machine.enqueue(id: 1, request: makeRequest(rows: 1), deadline: nil, now: t0)
        _ = machine.enqueue(id: 2, request: makeRequest(rows: 1), deadline: nil, now: t0)
        let actions = machine.shutDown()
        #expect(actions.failures.map(\.ids) == [[1, 2]])
        #expect(actions.failures.map(\.code) == [.shutDown])
    }
}
