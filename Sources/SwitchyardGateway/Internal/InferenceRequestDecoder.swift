import NIOCore
import SwitchyardTensor
import SwitchyardWire

/// How the client wants its answer: which outputs, each as JSON or binary, and the request id to echo.
struct ResponsePlan: Sendable {
    /// The request's `id`, echoed in the answer.
    var id: String?
    /// The model named in the URL.
    var model: String
    /// The version pinned in the URL (empty: the router chooses).
    var version: String
    /// The outputs asked for, in order, each with whether it goes binary; `nil`: every output.
    var outputs: [(name: String, binary: Bool)]?
    /// Binary for outputs not asked for by name (`binary_data_output`).
    var binaryByDefault: Bool
}

/// Turns an Open Inference Protocol request body (JSON, or JSON followed by binary tensors) into the wire request
/// the router takes.
enum InferenceRequestDecoder {
    /// Request parameters with a meaning of their own; any other parameter is passed on as a wire parameter.
    static let reservedParameters: Set<String> = [
        "timeout", "priority", "routing_key", "binary_data_output", "idempotent", "sequence_id", "sequence_start",
        "sequence_end",
    ]

    /// Decodes a request body.
    /// - Parameters:
    ///   - body: the whole body.
    ///   - headerLength: `Inference-Header-Content-Length`: the JSON's length when binary tensors follow it.
    ///   - model: the model named in the URL.
    ///   - version: the version named in the URL, or empty.
    /// - Returns: the wire request (without deadline or trace id) and how to answer.
    /// - Throws: `GatewayError` naming the field at fault.
    static func decode(
        body: ByteBuffer,
        headerLength: Int?,
        model: String,
        version: String
    ) throws(GatewayError)
        -> (Request, ResponsePlan)
    {
        let total = body.readableBytes
        let jsonLength = headerLength ?? total
        guard jsonLength <= total else {
            throw GatewayError(
                .invalidRequest,
                "Inference-Header-Content-Length is \(jsonLength) but the body has only \(total) bytes"
            )
        }
        return try body.withUnsafeReadableBytes { (raw: UnsafeRawBufferPointer) throws(GatewayError) in
            let json = UnsafeRawBufferPointer(rebasing: raw[0..<jsonLength])
            let root = try JSONParser.parse(json)
            return try Self.request(
                root,
                json: json,
                binary: UnsafeRawBufferPointer(rebasing: raw[jsonLength...]),
                model: model,
                version: version,
                hasHeaderLength: headerLength != nil
            )
        }
    }

    private static func request(
        _ root: JSONValue,
        json: UnsafeRawBufferPointer,
        binary: UnsafeRawBufferPointer,
        model: String,
        version: String,
        hasHeaderLength: Bool
    ) throws(GatewayError) -> (Request, ResponsePlan) {
        guard case .object(let members) = root else {
            throw GatewayError(.invalidRequest, "the request must be a JSON object, not \(root.kind)")
        }
        var request = Request(method: Method.infer, model: model, version: version)
        var plan = ResponsePlan(id: nil, model: model, version: version, outputs: nil, binaryByDefault: false)
        var inputs: [JSONValue]?
        var outputs: [JSONValue]?
        for (key, value) in members {
            switch key {
            case "id":
                guard case .string(let id) = value else { throw invalid("'id' must be a string, not \(value.kind)") }
                plan.id = id
            case "parameters":
                try Self.parameters(value, into: &request, plan: &plan)
            case "inputs":
                guard case .array(let list) = value else {
                    throw invalid("'inputs' must be an array, not \(value.kind)")
                }
                inputs = list
            case "outputs":
                guard case .array(let list) = value else {
                    throw invalid("'outputs' must be an array, not \(value.kind)")
                }
                outputs = list
            case "model_name", "model_version":
                break  // some clients repeat the URL's model here; the URL decides
            default:
                throw invalid("unknown member '\(key)' in the request (known: id, parameters, inputs, outputs)")
            }
        }
        guard let inputs, !inputs.isEmpty else { throw invalid("the request needs 'inputs': a non-empty array") }
        guard inputs.count <= WireLimits.maxTensors else {
            throw invalid("\(inputs.count) inputs; at most \(WireLimits.maxTensors)")
        }
        var offset = 0
        request.tensors.reserveCapacity(inputs.count)
        var names: Set<String>?  // for many inputs; a few are compared in a scan, cheaper than hashing
        if inputs.count > 8 { names = Set(minimumCapacity: inputs.count) }
        for (index, input) in inputs.enumerated() {
            let tensor = try Self.input(input, index: index, json: json, binary: binary, offset: &offset)
            let repeated =
                names == nil
                ? request.tensors.contains { $0.name == tensor.name } : !names!.insert(tensor.name).inserted
            guard !repeated else { throw invalid("input '\(tensor.name)' is given twice") }
            request.tensors.append(tensor)
        }
        guard offset == binary.count else {
            throw invalid(
                hasHeaderLength
                    ? "the body has \(binary.count) bytes after the JSON header; "
                        + "the inputs' binary_data_size add up to \(offset)"
                    : "the body is not a JSON document followed by binary data; send Inference-Header-Content-Length"
            )
        }
        if let outputs {
            plan.outputs = try outputs.enumerated().map { (index, output) throws(GatewayError) in
                try Self.output(output, index: index, binaryByDefault: plan.binaryByDefault)
            }
        }
        return (request, plan)
    }

    private static func parameters(
        _ value: JSONValue,
        into request: inout Request,
        plan: inout ResponsePlan
    )
        throws(GatewayError)
    {
        guard case .object(let members) = value else {
            throw invalid("'parameters' must be an object, not \(value.kind)")
        }
        guard members.count <= WireLimits.maxParameters / 2 else {
            throw invalid("\(members.count) parameters; at most \(WireLimits.maxParameters / 2)")
        }
        for (key, value) in members {
            switch key {
            case "timeout":
                guard case .number(let number) = value, let micros = number.int64, micros >= 0 else {
                    throw invalid("parameter 'timeout' must be a whole number of microseconds")
                }
                if micros > 0 { request.timeout = .microseconds(micros) }
            case "priority":
                guard case .number(let number) = value, let priority = number.int64, (0...255).contains(priority) else {
                    throw invalid("parameter 'priority' must be an integer in 0...255 (higher is more urgent)")
                }
                request.priority = UInt8(priority)
            case "routing_key":
                switch value {
                case .string(let key): request.routingKey = key
                case .number(let number): request.routingKey = number.text
                default: throw invalid("parameter 'routing_key' must be a string")
                }
                guard request.routingKey.utf8.count <= Int(UInt16.max) else {
                    throw invalid("parameter 'routing_key' is too long")
                }
            case "binary_data_output":
                guard case .bool(let flag) = value else {
                    throw invalid("parameter 'binary_data_output' must be true or false")
                }
                plan.binaryByDefault = flag
            case "idempotent":
                guard case .bool(let flag) = value else {
                    throw invalid("parameter 'idempotent' must be true or false")
                }
                request.idempotent = flag
            case "sequence_id":
                let none: Bool
                switch value {
                case .number(let number): none = number.int64 == 0
                case .string(let text): none = text.isEmpty
                default: none = false
                }
                guard none else {
                    throw GatewayError(
                        .unsupported,
                        "sequences (parameter 'sequence_id') are not supported: every request is independent"
                    )
                }
            case "sequence_start", "sequence_end":
                break  // only meaningful with a sequence id
            default:
                let text = value.text
                guard key.utf8.count <= 1024, text.utf8.count <= Int(UInt16.max) else {
                    throw invalid("parameter '\(key.prefix(64))' is too long")
                }
                request.parameters.append(Parameter(key, text))
            }
        }
    }

    /// An input's `data`: its text, or its bytes when the parser could decode them at once.
    private enum Data {
        case text(Range<Int>)
        case decoded(ByteView)
    }

    private static func input(
        _ value: JSONValue,
        index: Int,
        json: UnsafeRawBufferPointer,
        binary: UnsafeRawBufferPointer,
        offset: inout Int
    ) throws(GatewayError) -> NamedTensor {
        guard case .object(let members) = value else {
            throw invalid("inputs[\(index)] must be an object, not \(value.kind)")
        }
        var name: String?
        var datatype: String?
        var shape: [Int]?
        var data: Data?
        var binarySize: Int?
        for (key, value) in members {
            switch key {
            case "name":
                guard case .string(let text) = value, !text.isEmpty, text.utf8.count <= 1024 else {
                    throw invalid("inputs[\(index)].name must be a non-empty string")
                }
                name = text
            case "datatype":
                guard case .string(let text) = value else {
                    throw invalid("inputs[\(index)].datatype must be a string")
                }
                datatype = text
            case "shape":
                shape = try Self.shape(value, input: index)
            case "data":
                switch value {
                case .deferred(let range): data = .text(range)
                case .tensorData(let bytes): data = .decoded(bytes)
                default: throw invalid("inputs[\(index)].data must be an array")
                }
            case "parameters":
                guard case .object(let parameters) = value else {
                    throw invalid("inputs[\(index)].parameters must be an object")
                }
                for (parameter, setting) in parameters {
                    switch parameter {
                    case "binary_data_size":
                        guard case .number(let number) = setting, let size = number.int64, size >= 0,
                            size <= binary.count
                        else {
                            throw invalid(
                                "inputs[\(index)].parameters.binary_data_size must be a byte count within the body"
                            )
                        }
                        binarySize = Int(size)
                    case "shared_memory_region", "shared_memory_byte_size", "shared_memory_offset":
                        throw GatewayError(
                            .unsupported,
                            "shared-memory tensors are not supported (inputs[\(index)].parameters.\(parameter))"
                        )
                    default:
                        break
                    }
                }
            default:
                throw invalid(
                    "unknown member '\(key)' in inputs[\(index)] (known: name, shape, datatype, parameters, data)"
                )
            }
        }
        guard let name else { throw invalid("inputs[\(index)] needs a 'name'") }
        guard let datatype else { throw invalid("input '\(name)' needs a 'datatype'") }
        guard let dtype = DType(oipName: datatype) else {
            if DType.unsupportedOIPNames.contains(datatype) {
                throw GatewayError(
                    .unsupported,
                    "input '\(name)': datatype \(datatype) is not carried by the mesh (supported: \(DType.oipNames))"
                )
            }
            throw invalid("input '\(name)': unknown datatype '\(datatype)' (supported: \(DType.oipNames))")
        }
        guard let shape else { throw invalid("input '\(name)' needs a 'shape'") }
        let tensorShape = Shape(shape)
        let bytes: ByteView
        switch (data, binarySize) {
        case (.some, .some):
            throw invalid("input '\(name)' has both 'data' and parameters.binary_data_size; give one")
        case (.none, .none):
            throw invalid("input '\(name)' needs 'data' or parameters.binary_data_size")
        case (.some(.text(let range)), .none):
            bytes = try TensorDataDecoder.decode(json, range: range, dtype: dtype, shape: tensorShape, name: name)
        case (.some(.decoded(let decoded)), .none):
            bytes = decoded
        case (.none, .some(let size)):
            guard binary.count - offset >= size else {
                throw invalid("input '\(name)': binary_data_size \(size) runs past the end of the body")
            }
            bytes = ByteView(copying: UnsafeRawBufferPointer(rebasing: binary[offset..<(offset + size)]))
            offset += size
        }
        do {
            return NamedTensor(name, try Tensor(dtype: dtype, shape: tensorShape, data: bytes))
        } catch {
            throw invalid("input '\(name)': \(error.message)")
        }
    }

    private static func output(
        _ value: JSONValue,
        index: Int,
        binaryByDefault: Bool
    ) throws(GatewayError) -> (
        String, Bool
    ) {
        guard case .object(let members) = value else { throw invalid("outputs[\(index)] must be an object") }
        var name: String?
        var binary = binaryByDefault
        for (key, value) in members {
            switch key {
            case "name":
                guard case .string(let text) = value, !text.isEmpty else {
                    throw invalid("outputs[\(index)].name must be a non-empty string")
                }
                name = text
            case "parameters":
                guard case .object(let parameters) = value else {
                    throw invalid("outputs[\(index)].parameters must be an object")
                }
                for (parameter, setting) in parameters {
                    switch parameter {
                    case "binary_data":
                        guard case .bool(let flag) = setting else {
                            throw invalid("outputs[\(index)].parameters.binary_data must be true or false")
                        }
                        binary = flag
                    case "classification":
                        throw GatewayError(
                            .unsupported,
                            "the classification extension is not supported; "
                                + "models with labels declare a 'topk' or 'argmax' postprocess step"
                        )
                    case "shared_memory_region", "shared_memory_byte_size", "shared_memory_offset":
                        throw GatewayError(
                            .unsupported,
                            "shared-memory tensors are not supported (outputs[\(index)].parameters.\(parameter))"
                        )
                    default:
                        break
                    }
                }
            default:
                throw invalid("unknown member '\(key)' in outputs[\(index)] (known: name, parameters)")
            }
        }
        guard let name else { throw invalid("outputs[\(index)] needs a 'name'") }
        return (name, binary)
    }

    private static func shape(_ value: JSONValue, input index: Int) throws(GatewayError) -> [Int] {
        var place: String { "inputs[\(index)].shape" }  // built only for a message
        guard case .array(let list) = value, list.count <= WireLimits.maxRank else {
            throw invalid("\(place) must be an array of at most \(WireLimits.maxRank) dimensions")
        }
        var dims: [Int] = []
        dims.reserveCapacity(list.count)
        for entry in list {
            guard case .number(let number) = entry, let dim = number.int64, dim >= 0, dim <= Int64(UInt32.max) else {
                throw invalid("\(place) must hold non-negative integers")
            }
            dims.append(Int(dim))
        }
        return dims
    }

    private static func invalid(_ message: String) -> GatewayError { GatewayError(.invalidRequest, message) }
}
