import SwitchyardWire

/// The W3C `traceparent` header (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`), so that a request keeps
/// the trace id its caller gave it.
enum TraceParent {
    /// The trace id in a `traceparent` value, or `nil` when absent, malformed or all zeros.
    static func traceID(_ header: String?) -> TraceID? { header.flatMap(TraceID.init(traceparent:)) }
}
