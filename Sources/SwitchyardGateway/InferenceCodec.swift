public import NIOCore
public import SwitchyardWire

/// The Open Inference Protocol's infer bodies, outside a server: for tools and benchmarks that turn OIP requests
/// into wire requests and wire answers into OIP responses the way the gateway does.
public enum InferenceCodec {
    /// Decodes an infer request body (JSON, or JSON followed by binary tensors).
    /// - Parameters:
    ///   - body: the body.
    ///   - headerLength: `Inference-Header-Content-Length`, when binary tensors follow the JSON.
    ///   - model: the model named in the URL.
    ///   - version: the version named in the URL, or empty.
    /// - Returns: the wire request (no deadline or trace id set).
    /// - Throws: `GatewayError` naming what is wrong.
    public static func decodeRequest(_ body: ByteBuffer, headerLength: Int?, model: String, version: String = "")
        throws(GatewayError)
        -> Request
    {
        try InferenceRequestDecoder.decode(body: body, headerLength: headerLength, model: model, version: version).0
    }

    /// Encodes an answer with every output, as JSON or all binary.
    /// - Parameters:
    ///   - response: the router's answer.
    ///   - model: the model's name.
    ///   - binary: outputs as binary (Triton's extension) instead of JSON.
    /// - Returns: the body, and the JSON's length when binary outputs follow it.
    /// - Throws: `GatewayError` when a BYTES output is not UTF-8 and JSON was asked for.
    public static func encodeResponse(_ response: Response, model: String, binary: Bool) throws(GatewayError)
        -> (body: ByteBuffer, headerLength: Int?)
    {
        let plan = ResponsePlan(id: nil, model: model, version: "", outputs: nil, binaryByDefault: binary)
        let encoded = try InferenceResponseEncoder.encode(response, plan: plan, allocator: ByteBufferAllocator())
        return (encoded.body, encoded.headerLength)
    }
}
