import NIOCore

/// The deadlines of a connection's requests, kept in order so that one event-loop timer serves them all: a timer per
/// request costs a scheduled task (allocations and the loop's heap) for deadlines that almost never pass.
///
/// A connection's requests mostly share one timeout, so deadlines mostly arrive in order and insertion is at the end.
/// Ended requests leave lazily: the caller drops entries from the front that no longer match a request in flight.
struct RequestDeadlines {
    struct Entry {
        var deadline: NIODeadline
        var id: UInt32
    }

    private var entries: [Entry] = []
    private var head = 0
    /// The one event-loop timer, armed for ``earliest`` or sooner.
    private var timer: (at: NIODeadline, scheduled: Scheduled<Void>)?

    var isEmpty: Bool { self.head == self.entries.count }

    /// The earliest deadline still queued.
    var earliest: NIODeadline? { self.isEmpty ? nil : self.entries[self.head].deadline }

    /// Queues a deadline in order.
    mutating func insert(_ entry: Entry) {
        var index = self.entries.count
        while index > self.head, self.entries[index - 1].deadline > entry.deadline { index -= 1 }
        self.entries.insert(entry, at: index)
    }

    /// Removes the entries at the front that `isLive` rejects (requests that ended) and those whose deadline is not
    /// after `now`, returning the latter that are live.
    mutating func popExpired(now: NIODeadline?, isLive: (Entry) -> Bool) -> [Entry] {
        var expired: [Entry] = []
        while self.head < self.entries.count {
            let entry = self.entries[self.head]
            let live = isLive(entry)
            if live, now.map({ entry.deadline > $0 }) ?? true { break }
            if live { expired.append(entry) }
            self.head += 1
        }
        if self.head == self.entries.count {
            self.entries.removeAll(keepingCapacity: true)
            self.head = 0
        } else if self.head > 64, self.head * 2 > self.entries.count {
            self.entries.removeFirst(self.head)
            self.head = 0
        }
        return expired
    }

    mutating func removeAll() {
        self.entries.removeAll()
        self.head = 0
    }

    /// Arms the one timer for the earliest deadline unless it is armed for that or sooner (a timer that fires early
    /// finds nothing due, and its handler arms again).
    /// - Parameter schedule: schedules the timer's task at the deadline given; the task calls ``timerFired()`` first.
    mutating func armTimer(_ schedule: (NIODeadline) -> Scheduled<Void>) {
        guard let earliest = self.earliest else { return }
        if let armed = self.timer, armed.at <= earliest { return }
        self.timer?.scheduled.cancel()
        self.timer = (earliest, schedule(earliest))
    }

    /// Notes that the timer fired: the next ``armTimer(_:)`` schedules a new one.
    mutating func timerFired() { self.timer = nil }

    /// Cancels the timer (the connection closes).
    mutating func cancelTimer() {
        self.timer?.scheduled.cancel()
        self.timer = nil
    }
}
