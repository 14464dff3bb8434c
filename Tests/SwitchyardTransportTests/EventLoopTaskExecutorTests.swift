import NIOCore
import NIOEmbedded
import Synchronization
import SwitchyardTransport
import Testing

/// The executor's wake-ups on an embedded loop: they fire when its time passes theirs, on the loop, unless cancelled.
struct EventLoopTaskExecutorTests {
    @Test func aWakeUpFiresOnceItsTimeHasPassed() {
        let loop = EmbeddedEventLoop()
        let executor = EventLoopTaskExecutor(eventLoop: loop)
        let fired = Atomic(0)
        let cancel = executor.scheduleWakeUp(after: .milliseconds(5)) { fired.add(1, ordering: .relaxed) }
        loop.advanceTime(by: .milliseconds(4))
        #expect(fired.load(ordering: .relaxed) == 0)
        loop.advanceTime(by: .milliseconds(1))
        #expect(fired.load(ordering: .relaxed) == 1)
        cancel()  // after it ran: nothing happens
        loop.advanceTime(by: .seconds(1))
        #expect(fired.load(ordering: .relaxed) == 1)
    }

    @Test func aCancelledWakeUpNeverFires() {
        let loop = EmbeddedEventLoop()
        let executor = EventLoopTaskExecutor(eventLoop: loop)
        let fired = Atomic(0)
        let cancel = executor.scheduleWakeUp(after: .milliseconds(5)) { fired.add(1, ordering: .relaxed) }
        loop.advanceTime(by: .milliseconds(2))
        cancel()
        loop.advanceTime(by: .seconds(1))
        #expect(fired.load(ordering: .relaxed) == 0)
    }
}
