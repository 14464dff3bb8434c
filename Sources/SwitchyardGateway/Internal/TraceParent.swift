import SwitchyardWire

/// The W3C `traceparent` header (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`), so that a request keeps
/// the trace id its caller gave it.
enum TraceParent {
    /// The trace id in a `traceparent` value, or `nil` when absent, malformed or all zeros.
    static func traceID(_ header: String?) -> TraceID? {
        guard let header else { return nil }
        let parts = header.split(separator: "-")
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16 else {
            return nil
        }
        let id = parts[1]
        guard let high = UInt64(id.prefix(16), radix: 16), let low = UInt64(id.suffix(16), radix: 16), high | low != 0
        else {
            return nil
        }
        return TraceID(high: high, low: low)
    }
}
