public import SwitchyardTensor

extension Frame {
    /// The size of the encoded frame, header included.
    public var encodedSize: Int { FrameHeader.size + self.payloadSize }

    /// The tensors a REQUEST or RESPONSE carries (none for other frames).
    public var tensors: [NamedTensor] {
        switch self {
        case .request(_, let request): request.tensors
        case .response(_, let response): response.tensors
        default: []
        }
    }

    /// Writes the frame into `target`, which must hold exactly ``encodedSize`` bytes.
    ///
    /// Tensor data is copied straight from its views into `target`: one copy per send.
    /// - Parameter target: the destination, e.g. the writable bytes of an outbound buffer.
    public func encode(into target: UnsafeMutableRawBufferPointer) {
        precondition(target.count == self.encodedSize, "target must hold exactly the encoded frame")
        var offset = 0
        self.encode(
            bytes: { count, fill in
                fill(UnsafeMutableRawBufferPointer(rebasing: target[offset..<(offset + count)]))
                offset += count
            },
            data: { view in
                view.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: target[offset..<(offset + source.count)])
                        .copyMemory(from: source)
                }
                offset += view.count
            }
        )
        precondition(offset == target.count, "encoded size disagrees with payloadSize")
    }

    /// Writes the frame as a sequence of pieces, for a scatter-gather write that passes tensor data on without
    /// copying it: the bytes the encoder makes itself (header, metadata, descriptors, padding) and, in between, the
    /// views of every tensor's data in order. The pieces, concatenated, are ``encoded()``.
    /// - Parameters:
    ///   - bytes: called with a byte count and a closure that fills exactly that many bytes.
    ///   - data: called with each non-empty view of tensor data.
    public func encode(
        bytes: (_ count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Void,
        data: (ByteView) -> Void
    ) {
        let tensors = self.tensors
        let metadata = FrameHeader.size + self.metadataSize
        bytes(metadata) { self.encodeMetadata(into: $0) }
        var position = metadata - FrameHeader.size
        for named in tensors {
            let padding = PayloadReader.aligned(position) - position
            if padding > 0 {  // padding is zero
                bytes(padding) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
            }
            named.tensor.forEachSegment { data($0) }
            position += padding + named.tensor.byteCount
        }
    }

    /// Writes the header and the payload up to the first tensor's data into `target` (``metadataSize`` bytes after
    /// the header).
    private func encodeMetadata(into target: UnsafeMutableRawBufferPointer) {
        var flags: FrameFlags = []
        if case .request(_, let request) = self, request.idempotent { flags.insert(.idempotent) }
        let header = FrameHeader(
            type: self.type,
            flags: flags,
            requestID: self.requestID,
            payloadLength: UInt32(self.payloadSize)
        )
        header.write(into: target)
        var writer = PayloadWriter(UnsafeMutableRawBufferPointer(rebasing: target[FrameHeader.size...]))
        switch self {
        case .hello(let hello):
            writer.u8(hello.minVersion)
            writer.u8(hello.maxVersion)
            writer.u16(0)
            writer.u32(hello.maxPayload)
            writer.u32(hello.maxInFlight)
            writer.u32(hello.idleTimeoutMilliseconds)
            writer.string(hello.identity)
            writer.parameters(hello.parameters)
        case .request(_, let request):
            writer.u64(request.timeout.map(Self.microseconds) ?? 0)
            writer.u64(request.traceID.high)
            writer.u64(request.traceID.low)
            writer.u8(request.priority)
            writer.u8(0)
            writer.string(request.method)
            writer.string(request.model)
            writer.string(request.version)
            writer.string(request.routingKey)
            writer.parameters(request.parameters)
            writer.tensorDescriptors(request.tensors)
        case .response(_, let response):
            writer.parameters(response.parameters)
            writer.tensorDescriptors(response.tensors)
        case .error(_, let status):
            writer.u16(status.code.rawValue)
            writer.string(status.message)
        case .cancel, .skipped:
            break
        case .ping(let opaque), .pong(let opaque):
            writer.u64(opaque)
        case .goAway(let goAway):
            writer.u32(goAway.lastRequestID)
            writer.u16(goAway.status.code.rawValue)
            writer.string(goAway.status.message)
        }
        precondition(writer.position == target.count - FrameHeader.size, "metadata size disagrees with metadataSize")
    }

    /// The encoded frame as an array.
    public func encoded() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: self.encodedSize) { buffer, initialized in
            self.encode(into: UnsafeMutableRawBufferPointer(buffer))
            initialized = buffer.count
        }
    }

    /// Checks the limits the encoder cannot express: string lengths, counts, rank, payload size.
    /// - Parameter maxPayload: the peer's announced maximum.
    /// - Throws: `WireError` with `.limitExceeded`, `.frameTooLarge` or `.malformedPayload`.
    public func validateForSending(maxPayload: UInt32) throws(WireError) {
        let size = self.payloadSize
        guard size <= Int(maxPayload) else {
            throw WireError(
                .frameTooLarge,
                "\(self.type) payload of \(size) bytes is over the peer's limit of \(maxPayload)"
            )
        }
        func check(_ string: String, _ what: String) throws(WireError) {
            guard string.utf8.count <= Int(UInt16.max) else {
                throw WireError(.limitExceeded, "\(what) is \(string.utf8.count) bytes, the limit is 65535")
            }
        }
        func check(_ parameters: [Parameter]) throws(WireError) {
            guard parameters.count <= WireLimits.maxParameters else {
                throw WireError(
                    .limitExceeded,
                    "\(parameters.count) parameters, the limit is \(WireLimits.maxParameters)"
                )
            }
            for parameter in parameters {
                try check(parameter.key, "parameter key")
                try check(parameter.value, "parameter value")
            }
        }
        func check(_ tensors: [NamedTensor]) throws(WireError) {
            guard tensors.count <= WireLimits.maxTensors else {
                throw WireError(.limitExceeded, "\(tensors.count) tensors, the limit is \(WireLimits.maxTensors)")
            }
            for tensor in tensors {
                try check(tensor.name, "tensor name")
                guard tensor.tensor.shape.rank <= WireLimits.maxRank else {
                    throw WireError(.limitExceeded, "tensor '\(tensor.name)' has rank \(tensor.tensor.shape.rank)")
                }
                guard tensor.tensor.shape.dims.allSatisfy({ $0 <= Int(UInt32.max) }) else {
                    throw WireError(.limitExceeded, "tensor '\(tensor.name)' has a dimension over 2^32-1")
                }
            }
        }
        switch self {
        case .hello(let hello):
            try check(hello.identity, "identity")
            try check(hello.parameters)
        case .request(let id, let request):
            guard id != 0 else { throw WireError(.malformedPayload, "request id 0 is reserved") }
            for string in [request.method, request.model, request.version, request.routingKey] {
                try check(string, "request field")
            }
            try check(request.parameters)
            try check(request.tensors)
        case .response(_, let response):
            try check(response.parameters)
            try check(response.tensors)
        case .error(_, let status):
            try check(status.message, "error message")
        case .goAway(let goAway):
            try check(goAway.status.message, "GOAWAY message")
        case .cancel, .ping, .pong, .skipped:
            break
        }
    }

    /// The payload bytes before the first tensor's data: all of it for frames without tensors.
    var metadataSize: Int {
        switch self {
        case .request(_, let request):
            let strings = [request.method, request.model, request.version, request.routingKey].reduce(0) {
                $0 + Self.size(of: $1)
            }
            return Self.descriptorsEnd(request.tensors, startingAt: 26 + strings + Self.size(of: request.parameters))
        case .response(_, let response):
            return Self.descriptorsEnd(response.tensors, startingAt: Self.size(of: response.parameters))
        default:
            return self.payloadSize
        }
    }

    var payloadSize: Int {
        switch self {
        case .hello(let hello):
            return 16 + Self.size(of: hello.identity) + Self.size(of: hello.parameters)
        case .request(_, let request):
            let strings = [request.method, request.model, request.version, request.routingKey].reduce(0) {
                $0 + Self.size(of: $1)
            }
            let prefix = 26 + strings + Self.size(of: request.parameters)
            return Self.tensorSectionEnd(request.tensors, startingAt: prefix)
        case .response(_, let response):
            return Self.tensorSectionEnd(response.tensors, startingAt: Self.size(of: response.parameters))
        case .error(_, let status):
            return 2 + Self.size(of: status.message)
        case .cancel, .skipped:
            return 0
        case .ping, .pong:
            return 8
        case .goAway(let goAway):
            return 6 + Self.size(of: goAway.status.message)
        }
    }

    static func size(of string: String) -> Int { 2 + string.utf8.count }

    static func size(of parameters: [Parameter]) -> Int {
        parameters.reduce(2) { $0 + Self.size(of: $1.key) + Self.size(of: $1.value) }
    }

    static func descriptorSize(_ tensor: NamedTensor) -> Int {
        Self.size(of: tensor.name) + 2 + 4 * tensor.tensor.shape.rank + 8
    }

    /// The payload offset just past the tensor section that starts at `start`.
    static func tensorSectionEnd(_ tensors: [NamedTensor], startingAt start: Int) -> Int {
        var position = Self.descriptorsEnd(tensors, startingAt: start)
        for tensor in tensors {
            position = PayloadReader.aligned(position) + tensor.tensor.byteCount
        }
        return position
    }

    /// The payload offset just past the descriptors of the tensor section that starts at `start`.
    static func descriptorsEnd(_ tensors: [NamedTensor], startingAt start: Int) -> Int {
        tensors.reduce(start + 2) { $0 + Self.descriptorSize($1) }
    }

    static func microseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 1 }  // already past: the smallest nonzero budget
        let micros = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !micros.overflow else { return UInt64(Int64.max) }
        return max(1, UInt64(micros.partialValue) + UInt64(attoseconds / 1_000_000_000_000))
    }
}

/// Little-endian writes into a buffer sized by ``Frame/payloadSize``.
struct PayloadWriter {
    let target: UnsafeMutableRawBufferPointer
    private(set) var position = 0

    init(_ target: UnsafeMutableRawBufferPointer) { self.target = target }

    mutating func u8(_ value: UInt8) {
        self.target[self.position] = value
        self.position += 1
    }

    mutating func u16(_ value: UInt16) {
        self.target.storeBytes(of: value.littleEndian, toByteOffset: self.position, as: UInt16.self)
        self.position += 2
    }

    mutating func u32(_ value: UInt32) {
        self.target.storeBytes(of: value.littleEndian, toByteOffset: self.position, as: UInt32.self)
        self.position += 4
    }

    mutating func u64(_ value: UInt64) {
        self.target.storeBytes(of: value.littleEndian, toByteOffset: self.position, as: UInt64.self)
        self.position += 8
    }

    mutating func bytes(_ source: UnsafeRawBufferPointer) {
        guard source.count > 0 else { return }
        UnsafeMutableRawBufferPointer(rebasing: self.target[self.position..<(self.position + source.count)]).copyMemory(
            from: source
        )
        self.position += source.count
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            self.u16(UInt16(utf8.count))
            self.bytes(UnsafeRawBufferPointer(utf8))
        }
    }

    mutating func parameters(_ parameters: [Parameter]) {
        self.u16(UInt16(parameters.count))
        for parameter in parameters {
            self.string(parameter.key)
            self.string(parameter.value)
        }
    }

    /// The tensor count and descriptors; the data follows at the offsets they name (``Frame/encode(bytes:data:)``).
    mutating func tensorDescriptors(_ tensors: [NamedTensor]) {
        self.u16(UInt16(tensors.count))
        var offset = self.position + tensors.reduce(0) { $0 + Frame.descriptorSize($1) }
        for named in tensors {
            offset = PayloadReader.aligned(offset)
            self.string(named.name)
            self.u8(named.tensor.dtype.rawValue)
            self.u8(UInt8(named.tensor.shape.rank))
            for dim in named.tensor.shape.dims { self.u32(UInt32(dim)) }
            self.u32(UInt32(offset))
            self.u32(UInt32(named.tensor.byteCount))
            offset += named.tensor.byteCount
        }
    }
}
