import SwitchyardTensor

extension Frame {
    /// A one-line, complete rendering of the frame (tensor data in hex), as written beside the test
    /// vectors in `protocols/vectors/`. Meant for vectors and debugging, not for logging payloads.
    public var summary: String {
        func params(_ parameters: [Parameter]) -> String {
            "[" + parameters.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "]"
        }
        func tensors(_ tensors: [NamedTensor]) -> String {
            let items = tensors.map { named in
                let hex = named.tensor.data.bytes.map { hex2($0) }.joined().lowercased()
                return "\(named.name):\(named.tensor.dtype.name)\(named.tensor.shape)=\(hex)"
            }
            return "[" + items.joined(separator: ", ") + "]"
        }
        switch self {
        case .hello(let h):
            return "HELLO versions=\(h.minVersion)...\(h.maxVersion) max_payload=\(h.maxPayload) "
                + "max_in_flight=\(h.maxInFlight) idle_ms=\(h.idleTimeoutMilliseconds) identity=\(h.identity) "
                + "params=\(params(h.parameters))"
        case .request(let id, let r):
            let timeout = r.timeout.map(Self.microseconds) ?? 0
            return "REQUEST id=\(id) idempotent=\(r.idempotent) timeout_us=\(timeout) trace=\(r.traceID) "
                + "priority=\(r.priority) method=\(r.method) model=\(r.model) version=\(r.version) "
                + "routing_key=\(r.routingKey) params=\(params(r.parameters)) tensors=\(tensors(r.tensors))"
        case .response(let id, let r):
            return "RESPONSE id=\(id) params=\(params(r.parameters)) tensors=\(tensors(r.tensors))"
        case .error(let id, let status):
            return "ERROR id=\(id) status=\(status.code.rawValue) message=\(status.message)"
        case .cancel(let id):
            return "CANCEL id=\(id)"
        case .ping(let opaque):
            return "PING opaque=\(opaque)"
        case .pong(let opaque):
            return "PONG opaque=\(opaque)"
        case .goAway(let g):
            return "GOAWAY last_id=\(g.lastRequestID) status=\(g.status.code.rawValue) message=\(g.status.message)"
        case .skipped(let type, let id):
            return "SKIPPED type=0x\(hex2(type.rawValue)) id=\(id)"
        }
    }
}
