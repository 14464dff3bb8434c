/// What the monitor knows about one reporting instance.
public struct InstanceRecord: Codable, Sendable, Equatable {
    /// The identity: its certificate's common name.
    public var name: String
    /// Its service (`router`, `inference`, ...).
    public var service: String
    /// The release it runs.
    public var version: String
    /// The address it serves on.
    public var address: String
    /// What it last said: `serving` or `draining`.
    public var state: String
    /// When it reported first and last, seconds since the epoch.
    public var firstSeen: Double
    public var lastSeen: Double
    /// Seconds between its reports.
    public var interval: Double
    /// Reports received from it.
    public var reports: Int
    /// Its process id and start time, to tell a restart.
    public var pid: String
    public var started: Double

    /// `up`; `draining` (it said it is shutting down); `stopped` (it drained and is gone); `down` (no report for
    /// three intervals without saying goodbye).
    public func status(at now: Double) -> String {
        let stale = now - self.lastSeen > 3 * max(self.interval, 0.1) + 1
        switch (stale, self.state == "draining") {
        case (false, false): return "up"
        case (false, true): return "draining"
        case (true, true): return "stopped"
        case (true, false): return "down"
        }
    }
}
