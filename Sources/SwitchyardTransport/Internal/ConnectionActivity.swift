import NIOCore
import Synchronization

/// What the server's accept path may read of one connection from any thread: whether it has requests in flight and
/// when it was last active, so that at the connection cap the longest-idle connection can make room.
final class ConnectionActivity: Sendable {
    let channel: any Channel
    /// The peer's IP address (`nil` when it has none, e.g. a Unix socket).
    let peer: String?
    private let inFlight = Atomic<Int>(0)
    /// `NIODeadline.uptimeNanoseconds` of the last request received or answer sent (the accept, before any).
    private let lastActive: Atomic<UInt64>
    /// Chosen to make room: draining, not to be chosen again.
    private let evicted = Atomic<Bool>(false)

    /// Who is over a connection limit: the whole server, or one peer address.
    enum Crowding {
        case server
        case peer(String)
    }

    init(channel: any Channel, peer: String? = nil, now: NIODeadline = .now()) {
        self.channel = channel
        self.peer = peer
        self.lastActive = Atomic(now.uptimeNanoseconds)
    }

    /// The connection did something (a request arrived, an answer left); `inFlight` requests are unanswered now.
    func touched(inFlight: Int, now: NIODeadline) {
        self.inFlight.store(inFlight, ordering: .relaxed)
        self.lastActive.store(now.uptimeNanoseconds, ordering: .relaxed)
    }

    /// Chosen to make room (under the server's connections lock).
    func markEvicted() { self.evicted.store(true, ordering: .relaxed) }

    var isEvicted: Bool { self.evicted.load(ordering: .relaxed) }

    /// Since when the connection has been idle (nothing in flight), or `nil` while it has requests in flight.
    var idleSince: UInt64? {
        self.inFlight.load(ordering: .relaxed) == 0 ? self.lastActive.load(ordering: .relaxed) : nil
    }
}

extension Collection where Element == ConnectionActivity {
    /// The connection idle the longest, if it has been idle for at least `age` at `now` and was not chosen before;
    /// among one peer's connections when that peer is over its limit.
    func longestIdle(
        atLeast age: Duration,
        now: NIODeadline,
        among crowding: ConnectionActivity.Crowding = .server
    ) -> ConnectionActivity? {
        let nanoseconds = UInt64(
            clamping: age.components.seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue
                + age.components.attoseconds / 1_000_000_000
        )
        guard now.uptimeNanoseconds >= nanoseconds else { return nil }
        let cutoff = now.uptimeNanoseconds - nanoseconds
        var victim: (activity: ConnectionActivity, since: UInt64)? = nil
        for activity in self where !activity.isEvicted {
            if case .peer(let peer) = crowding, activity.peer != peer { continue }
            guard let since = activity.idleSince, since <= cutoff else { continue }
            if victim.map({ since < $0.since }) ?? true { victim = (activity, since) }
        }
        return victim?.activity
    }
}
