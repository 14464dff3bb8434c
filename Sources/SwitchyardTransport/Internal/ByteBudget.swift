import Synchronization

/// Bytes a server may hold in frames still arriving, shared by all its connections: a frame that arrives in pieces
/// takes its declared length from here until it is complete, so that many slow senders cannot make the server
/// buffer without bound.
final class ByteBudget: Sendable {
    private let available: Atomic<Int>
    /// The budget's size.
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        self.available = Atomic(capacity)
    }

    /// Takes `count` bytes, or nothing when fewer are left.
    func reserve(_ count: Int) -> Reservation? {
        var current = self.available.load(ordering: .relaxed)
        while current >= count {
            let (exchanged, original) = self.available.compareExchange(
                expected: current,
                desired: current - count,
                ordering: .relaxed
            )
            if exchanged { return Reservation(budget: self, count: count) }
            current = original
        }
        return nil
    }

    /// Bytes taken now.
    var used: Int { self.capacity - self.available.load(ordering: .relaxed) }

    fileprivate func release(_ count: Int) { self.available.add(count, ordering: .relaxed) }

    /// Bytes held for one frame; given back when released or when the holder (a connection's decoder) goes away.
    final class Reservation {
        private let budget: ByteBudget
        private var count: Int

        fileprivate init(budget: ByteBudget, count: Int) {
            self.budget = budget
            self.count = count
        }

        func release() {
            self.budget.release(self.count)
            self.count = 0
        }

        deinit { self.budget.release(self.count) }
    }
}
