@testable import SwitchyardRouter
import Testing

/// The wake-up the health checks and pool discovery sleep on between rounds.
struct WakeSignalTests {
    @Test func aSignalGivenBeforeTheWaitEndsItAtOnceAndCountsOnce() async {
        let signal = WakeSignal()
        signal.signal()
        #expect(await signal.wait(until: .now + .seconds(60)))
        #expect(await !signal.wait(until: .now + .milliseconds(10)))  // consumed: this wait runs to its deadline
    }

    @Test func aSignalDuringTheWaitEndsItBeforeItsDeadline() async {
        let signal = WakeSignal()
        async let woken = signal.wait(until: .now + .seconds(60))  // a wait that ran out would fail the test
        try? await Task.sleep(for: .milliseconds(20))
        signal.signal()
        #expect(await woken)
    }

    @Test func cancellingTheWaiterEndsTheWait() async {
        let signal = WakeSignal()
        let waiter = Task { await signal.wait(until: .now + .seconds(60)) }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        #expect(await !waiter.value)
    }
}
