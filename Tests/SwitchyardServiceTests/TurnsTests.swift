import Synchronization
@testable import SwitchyardRuntime
import Testing

/// The one-at-a-time turn reloads take: waiters resume in order when the holder releases, a cancelled waiter leaves.
struct TurnsTests {
    final class Log: Sendable {
        private let entries = Mutex<[Int]>([])
        func append(_ entry: Int) { self.entries.withLock { $0.append(entry) } }
        var all: [Int] { self.entries.withLock { $0 } }
    }

    @Test func waitersTakeTheirTurnsInOrder() async throws {
        let turns = Turns()
        let log = Log()
        try await turns.acquire()
        let second = Task {
            try await turns.acquire()
            log.append(2)
            turns.release()
        }
        try await Task.sleep(for: .milliseconds(50))  // the second waits behind the holder
        #expect(log.all.isEmpty)
        log.append(1)
        turns.release()
        try await second.value
        #expect(log.all == [1, 2])
        try await turns.acquire()  // free again
        turns.release()
    }

    @Test func aCancelledWaiterLeavesAndTheTurnPassesOn() async throws {
        let turns = Turns()
        try await turns.acquire()
        let cancelled = Task { try await turns.acquire() }
        try await Task.sleep(for: .milliseconds(20))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        turns.release()
        try await turns.acquire()  // the cancelled waiter did not keep the turn
        turns.release()
    }
}
