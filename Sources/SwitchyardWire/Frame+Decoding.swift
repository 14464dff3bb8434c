public import SwitchyardTensor

extension Frame {
    /// Decodes a frame from its checked header and its payload.
    ///
    /// Tensor data is not copied: each tensor is a view of `payload`, aligned as the payload is.
    /// - Parameters:
    ///   - header: a header from ``FrameHeader/init(parsing:maxPayload:version:)``.
    ///   - payload: exactly `header.payloadLength` bytes.
    /// - Throws: `WireError` for an unknown critical type, unknown must-understand flags or a malformed payload.
    public init(header: FrameHeader, payload: ByteView) throws(WireError) {
        guard payload.count == Int(header.payloadLength) else {
            throw WireError(.truncatedFrame, "payload has \(payload.count) bytes, header says \(header.payloadLength)")
        }
        if !header.type.isKnown {
            guard header.type.isExtension else {
                throw WireError(.unknownFrameType, "unknown critical frame type \(header.type)")
            }
            self = .skipped(type: header.type, id: header.requestID)
            return
        }
        let unknown = header.flags.rawValue & 0x00FF & ~FrameFlags.known(for: header.type).rawValue
        guard unknown == 0 else {
            throw WireError(.unknownFlags, "\(header.type) has unknown must-understand flags 0x\(hex2(UInt8(unknown)))")
        }
        var reader = PayloadReader(payload)
        let id = header.requestID
        switch header.type {
        case .hello:
            try Self.expectConnectionLevel(header)
            // each field is checked as soon as it is read (wire-v1.md §3.1), so every peer names the same error
            let minVersion = try reader.u8("min version")
            let maxVersion = try reader.u8("max version")
            guard minVersion <= maxVersion, minVersion >= 1 else {
                throw WireError(.malformedPayload, "HELLO version range \(minVersion)...\(maxVersion) is empty")
            }
            guard try reader.u16("HELLO reserved") == 0 else {
                throw WireError(.reservedNotZero, "HELLO bytes 2-3 must be zero")
            }
            let maxPayload = try reader.u32("max payload")
            guard maxPayload >= WireLimits.minimumPayload else {
                throw WireError(
                    .malformedPayload,
                    "HELLO max payload \(maxPayload) is under the minimum \(WireLimits.minimumPayload)"
                )
            }
            let maxInFlight = try reader.u32("max in flight")
            let idle = try reader.u32("idle timeout")
            let identity = try reader.string("identity")
            let parameters = try reader.parameters()
            try reader.end("HELLO")
            self = .hello(
                Hello(
                    minVersion: minVersion,
                    maxVersion: maxVersion,
                    maxPayload: maxPayload,
                    maxInFlight: maxInFlight,
                    idleTimeoutMilliseconds: idle,
                    identity: identity,
                    parameters: parameters
                )
            )
        case .request:
            try Self.expectRequestID(header)
            let timeoutMicros = try reader.u64("timeout")
            guard timeoutMicros <= UInt64(Int64.max) else {
                throw WireError(.malformedPayload, "timeout of \(timeoutMicros) µs is out of range (at most 2^63-1)")
            }
            let high = try reader.u64("trace id")
            let low = try reader.u64("trace id")
            let priority = try reader.u8("priority")
            guard try reader.u8("REQUEST reserved") == 0 else {
                throw WireError(.reservedNotZero, "REQUEST byte 25 must be zero")
            }
            let method = try reader.string("method")
            let model = try reader.string("model")
            let version = try reader.string("version")
            let routingKey = try reader.string("routing key")
            let parameters = try reader.parameters()
            let tensors = try reader.tensors()
            self = .request(
                id: id,
                Request(
                    method: method,
                    model: model,
                    version: version,
                    timeout: timeoutMicros == 0 ? nil : .microseconds(Int64(timeoutMicros)),
                    traceID: TraceID(high: high, low: low),
                    routingKey: routingKey,
                    priority: priority,
                    idempotent: header.flags.contains(.idempotent),
                    parameters: parameters,
                    tensors: tensors
                )
            )
        case .response:
            try Self.expectRequestID(header)
            let parameters = try reader.parameters()
            let tensors = try reader.tensors()
            self = .response(id: id, Response(parameters: parameters, tensors: tensors))
        case .error:
            let code = try reader.u16("status code")
            let message = try reader.string("message")
            try reader.end("ERROR")
            self = .error(id: id, Status(Status.Code(rawValue: code), message))
        case .cancel:
            try Self.expectRequestID(header)
            try reader.end("CANCEL")
            self = .cancel(id: id)
        case .ping, .pong:
            try Self.expectConnectionLevel(header)
            let opaque = try reader.u64("opaque data")
            try reader.end("\(header.type)")
            self = header.type == .ping ? .ping(opaque) : .pong(opaque)
        default:  // .goAway
            try Self.expectConnectionLevel(header)
            let last = try reader.u32("last request id")
            let code = try reader.u16("status code")
            let message = try reader.string("message")
            try reader.end("GOAWAY")
            self = .goAway(GoAway(lastRequestID: last, status: Status(Status.Code(rawValue: code), message)))
        }
    }

    /// Decodes one whole frame (header and payload) from contiguous bytes.
    /// - Parameters:
    ///   - bytes: exactly one frame.
    ///   - maxPayload: the largest payload accepted.
    /// - Throws: `WireError` for anything malformed, including trailing bytes.
    public init(decoding bytes: [UInt8], maxPayload: UInt32 = WireLimits.defaultPayload) throws(WireError) {
        let parsed = bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> FrameHeader in try FrameHeader(parsing: raw, maxPayload: maxPayload) }
        }
        let header = try parsed.get()
        let end = FrameHeader.size + Int(header.payloadLength)
        guard bytes.count >= end else {
            throw WireError(.truncatedFrame, "frame needs \(end) bytes, got \(bytes.count)")
        }
        guard bytes.count == end else {
            throw WireError(.malformedPayload, "\(bytes.count - end) bytes after the end of the frame")
        }
        try self.init(header: header, payload: ByteView(bytes[FrameHeader.size...]))
    }

    private static func expectConnectionLevel(_ header: FrameHeader) throws(WireError) {
        guard header.requestID == 0 else {
            throw WireError(.malformedPayload, "\(header.type) must have request id 0, has \(header.requestID)")
        }
    }

    private static func expectRequestID(_ header: FrameHeader) throws(WireError) {
        guard header.requestID != 0 else {
            throw WireError(.malformedPayload, "\(header.type) must not use request id 0")
        }
    }
}

extension PayloadReader {
    /// The tensor section: a count, the descriptors, then each tensor's data at its 64-aligned offset.
    mutating func tensors() throws(WireError) -> [NamedTensor] {
        let count = Int(try self.u16("tensor count"))
        guard count <= WireLimits.maxTensors else {
            throw WireError(.limitExceeded, "\(count) tensors, the limit is \(WireLimits.maxTensors)")
        }
        var descriptors: [(name: String, dtype: DType, shape: Shape, offset: Int, length: Int)] = []
        descriptors.reserveCapacity(count)
        for index in 0..<count {
            let name = try self.string("tensor \(index) name")
            let code = try self.u8("tensor \(index) dtype")
            guard let dtype = DType(rawValue: code) else {
                throw WireError(.badTensor, "tensor '\(name)' has unknown dtype code \(code)")
            }
            let rank = Int(try self.u8("tensor \(index) rank"))
            guard rank <= WireLimits.maxRank else {
                throw WireError(.limitExceeded, "tensor '\(name)' has rank \(rank), the limit is \(WireLimits.maxRank)")
            }
            var dims: [Int] = []
            dims.reserveCapacity(rank)
            for _ in 0..<rank { dims.append(Int(try self.u32("dimension"))) }
            let offset = Int(try self.u32("data offset"))
            let length = Int(try self.u32("data length"))
            descriptors.append((name, dtype, Shape(dims), offset, length))
        }
        var expectedOffset = Self.aligned(self.position)
        var result: [NamedTensor] = []
        result.reserveCapacity(count)
        for descriptor in descriptors {
            guard descriptor.offset == expectedOffset else {
                throw WireError(
                    .badTensor,
                    "tensor '\(descriptor.name)' data at offset \(descriptor.offset), expected \(expectedOffset)"
                )
            }
            guard descriptor.length <= self.payload.count - descriptor.offset else {
                throw WireError(.badTensor, "tensor '\(descriptor.name)' data runs past the end of the payload")
            }
            let view = self.payload.slice(descriptor.offset..<(descriptor.offset + descriptor.length))
            do {
                result.append(
                    NamedTensor(
                        descriptor.name,
                        try Tensor(dtype: descriptor.dtype, shape: descriptor.shape, data: view)
                    )
                )
            } catch {
                throw WireError(.badTensor, "tensor '\(descriptor.name)': \(error.message)")
            }
            expectedOffset = Self.aligned(descriptor.offset + descriptor.length)
            self.skip(to: descriptor.offset + descriptor.length)
        }
        if count == 0 {
            try self.end("message")
        } else {
            guard self.position == self.payload.count else {
                throw WireError(.malformedPayload, "\(self.payload.count - self.position) bytes after the last tensor")
            }
        }
        return result
    }

    static func aligned(_ offset: Int) -> Int {
        (offset + WireLimits.dataAlignment - 1) / WireLimits.dataAlignment * WireLimits.dataAlignment
    }
}
