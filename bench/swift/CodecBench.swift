import SwitchyardTensor
import SwitchyardWire

/// Encode and decode cost of the echo request (784 f32), per frame, in ns.
func runCodecBench(iterations: Int) throws -> (encode: Double, decode: Double, bytes: Int) {
    let row = try Tensor((0..<784).map { Float($0) / 784 }, shape: [1, 784])
    let frame = Frame.request(id: 1, Request(method: Method.echo, model: "digits", routingKey: "user-1", tensors: [NamedTensor("x", row)]))
    let size = frame.encodedSize
    let clock = ContinuousClock()
    var buffer = [UInt8](repeating: 0, count: size)
    let encodeStart = clock.now
    for _ in 0..<iterations {
        try frame.validateForSending(maxPayload: WireLimits.defaultPayload)
        buffer.withUnsafeMutableBytes { frame.encode(into: $0) }
    }
    let encode = encodeStart.duration(to: clock.now)
    let decodeStart = clock.now
    var checksum = 0
    for _ in 0..<iterations {
        let header = try buffer.withUnsafeBytes { try FrameHeader(parsing: $0, maxPayload: WireLimits.defaultPayload) }
        let payload = buffer.withUnsafeBytes { raw in ByteView(copying: UnsafeRawBufferPointer(rebasing: raw[FrameHeader.size...])) }
        if case .request(let id, let request) = try Frame(header: header, payload: payload) { checksum &+= Int(id) + request.tensors.count }
    }
    let decode = decodeStart.duration(to: clock.now)
    precondition(checksum == 2 * iterations)
    func ns(_ d: Duration) -> Double { (Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9) / Double(iterations) }
    return (ns(encode), ns(decode), size)
}
