import NIOCore
import SwitchyardTensor
import SwitchyardWire

/// Writes the router's answer as an Open Inference Protocol response: JSON, with the outputs asked for in binary
/// appended after it (Triton's binary tensor extension).
enum InferenceResponseEncoder {
    /// An encoded answer.
    struct Encoded {
        var body: ByteBuffer
        /// The JSON's length when binary outputs follow it (`Inference-Header-Content-Length`).
        var headerLength: Int?
    }

    /// Encodes `response` as `plan` asks.
    /// - Parameters:
    ///   - response: the router's answer.
    ///   - plan: which outputs, in which form, and the id to echo.
    ///   - allocator: for the body.
    /// - Throws: `GatewayError.invalidRequest` when an output asked for is not in the answer, or a BYTES output
    ///   asked for as JSON is not UTF-8.
    static func encode(_ response: Response, plan: ResponsePlan, allocator: ByteBufferAllocator) throws(GatewayError)
        -> Encoded
    {
        var selected: [(tensor: NamedTensor, binary: Bool)] = []
        if let outputs = plan.outputs {
            for (name, binary) in outputs {
                guard let tensor = response.tensors.first(where: { $0.name == name }) else {
                    throw GatewayError(
                        .invalidRequest,
                        "model '\(plan.model)' has no output '\(name)' "
                            + "(outputs: \(response.tensors.map(\.name).joined(separator: ", ")))"
                    )
                }
                selected.append((tensor, binary))
            }
        } else {
            selected = response.tensors.map { ($0, plan.binaryByDefault) }
        }
        let binaryBytes = selected.reduce(0) { $0 + ($1.binary ? $1.tensor.tensor.data.count : 0) }
        let estimate = 128 + selected.reduce(0) { $0 + 96 + ($1.binary ? 0 : $1.tensor.tensor.elementCount * 12) }
        var writer = JSONWriter(buffer: allocator.buffer(capacity: estimate + binaryBytes))
        writer.raw("{\"model_name\":")
        writer.string(plan.model)
        writer.raw(",\"model_version\":")
        writer.string(response[parameter: ParameterKey.modelVersion] ?? plan.version)
        if let id = plan.id {
            writer.raw(",\"id\":")
            writer.string(id)
        }
        let passed = response.parameters.filter { $0.key != ParameterKey.modelVersion }
        if !passed.isEmpty {
            writer.raw(",\"parameters\":{")
            for (index, parameter) in passed.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.key(parameter.key)
                writer.string(parameter.value)
            }
            writer.byte(UInt8(ascii: "}"))
        }
        writer.raw(",\"outputs\":[")
        for (index, (named, binary)) in selected.enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.raw("{\"name\":")
            writer.string(named.name)
            writer.raw(",\"datatype\":\"")
            writer.buffer.writeString(named.tensor.dtype.oipName)
            writer.raw("\",\"shape\":[")
            for (position, dim) in named.tensor.shape.dims.enumerated() {
                if position > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.integer(dim)
            }
            writer.byte(UInt8(ascii: "]"))
            if binary {
                writer.raw(",\"parameters\":{\"binary_data_size\":")
                writer.integer(named.tensor.data.count)
                writer.raw("}}")
            } else {
                writer.raw(",\"data\":")
                guard writer.tensorData(named.tensor) else {
                    throw GatewayError(
                        .invalidRequest,
                        "output '\(named.name)' holds bytes that are not UTF-8, which JSON cannot carry; "
                            + "ask for it with parameters.binary_data = true"
                    )
                }
                writer.byte(UInt8(ascii: "}"))
            }
        }
        writer.raw("]}")
        let headerLength = writer.buffer.readableBytes
        for (named, binary) in selected where binary {
            _ = named.tensor.data.withUnsafeBytes { writer.buffer.writeBytes($0) }
        }
        return Encoded(
            body: writer.buffer, headerLength: binaryBytes > 0 || selected.contains { $0.binary } ? headerLength : nil)
    }
}
