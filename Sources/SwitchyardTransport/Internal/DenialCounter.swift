import CoreMetrics
import Synchronization

/// `switchyard_requests_denied_total{service,method,role}`: one counter per method and role, made once.
///
/// Labels are bounded: a method outside the protocol's set is counted as `other`, and the role is the caller's first
/// role by name (`none` without one), so only the policy's own role names appear.
final class DenialCounter: Sendable {
    private struct Key: Hashable {
        var method: String
        var role: String
    }

    private let service: String
    private let factory: any MetricsFactory
    private let counters = Mutex<[Key: (counter: Counter, count: Int)]>([:])

    init(service: String, factory: any MetricsFactory) {
        self.service = service
        self.factory = factory
    }

    /// Counts one refusal and returns how many of its kind there were.
    func count(method: String, peer: PeerIdentity) -> Int {
        let key = Key(method: method, role: peer.roles.min()?.name ?? "none")
        let (counter, count) = self.counters.withLock { counters in
            var entry =
                counters[key]
                ?? (
                    Counter(
                        label: "switchyard_requests_denied_total",
                        dimensions: [("service", self.service), ("method", key.method), ("role", key.role)],
                        factory: self.factory
                    ), 0
                )
            entry.count += 1
            counters[key] = entry
            return entry
        }
        counter.increment()
        return count
    }
}
