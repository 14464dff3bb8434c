public import SwitchyardTensor
internal import Synchronization

/// A key–value string pair carried with a message, for options that have no field of their own.
public struct Parameter: Hashable, Sendable {
    public var key: String
    public var value: String

    /// Makes a parameter.
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// A 16-byte trace id (W3C trace-context size); all zeros means none.
public struct TraceID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    /// Makes a trace id from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The trace id of a W3C `traceparent` value (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`), or
    /// `nil` when it is malformed or all zeros.
    /// - Parameter traceparent: the value.
    public init?(traceparent: String) {
        let parts = traceparent.split(separator: "-")
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16,
            parts[1].allSatisfy(\.isHexDigit), let high = UInt64(parts[1].prefix(16), radix: 16),
            let low = UInt64(parts[1].suffix(16), radix: 16),
            high | low != 0
        else { return nil }
        self.init(high: high, low: low)
    }

    /// No trace id.
    public static let none = TraceID(high: 0, low: 0)

    /// A random-looking trace id, unique within the process and, by a 128-bit random seed, across processes.
    /// Not cryptographic: an atomic increment and two SplitMix64 mixes, so that no id costs a system call.
    public static func random() -> TraceID {
        let count = traceIDCounter.wrappingAdd(1, ordering: .relaxed).newValue
        // SplitMix64 is a bijection of its input, so distinct counts never give the same id
        return TraceID(high: splitMix64(traceIDSeed.high &+ count), low: splitMix64(traceIDSeed.low &+ count))
    }

    public var description: String {
        var text = ""
        for shift in stride(from: 56, through: 0, by: -8) {
            text += hex2(UInt8(truncatingIfNeeded: self.high >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            text += hex2(UInt8(truncatingIfNeeded: self.low >> UInt64(shift)))
        }
        return text.lowercased()
    }
}

private let traceIDSeed: (high: UInt64, low: UInt64) = {
    var generator = SystemRandomNumberGenerator()
    return (generator.next(), generator.next())
}()
private let traceIDCounter = Atomic<UInt64>(0)

private func splitMix64(_ input: UInt64) -> UInt64 {
    var z = input &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// The body of a HELLO frame: what a peer speaks and what it accepts.
public struct Hello: Hashable, Sendable {
    /// Lowest and highest protocol version the sender speaks.
    public var minVersion: UInt8
    public var maxVersion: UInt8
    /// Largest frame payload the sender accepts.
    public var maxPayload: UInt32
    /// Most requests the sender accepts in flight on this connection (0: the sender takes no requests).
    public var maxInFlight: UInt32
    /// After this long with no frame received the sender closes the connection (0: never).
    public var idleTimeoutMilliseconds: UInt32
    /// Who the sender is, e.g. `inference-2` or `yard`.
    public var identity: String
    /// Extensions, e.g. `tensor.dtypes`; keys the receiver does not know are ignored.
    public var parameters: [Parameter]

    /// Makes a HELLO body.
    public init(
        minVersion: UInt8 = WireVersion.current,
        maxVersion: UInt8 = WireVersion.current,
        maxPayload: UInt32 = WireLimits.defaultPayload,
        maxInFlight: UInt32,
        idleTimeoutMilliseconds: UInt32 = 0,
        identity: String,
        parameters: [Parameter] = []
    ) {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.maxPayload = maxPayload
        self.maxInFlight = maxInFlight
        self.idleTimeoutMilliseconds = idleTimeoutMilliseconds
        self.identity = identity
        self.parameters = parameters
    }
}

/// The body of a REQUEST frame: what to call, how long it may take, and the input tensors.
public struct Request: Equatable, Sendable {
    /// What the receiver should do: `infer`, `echo`, `health`, or an admin method.
    public var method: String
    /// The model name (empty for methods that take none).
    public var model: String
    /// A pinned model version; empty lets the receiver choose.
    public var version: String
    /// Time the receiver has for the answer, counted from when it reads the frame; `nil`: no deadline.
    public var timeout: Duration?
    public var traceID: TraceID
    /// Key for sticky routing (a user or session id); empty for none.
    public var routingKey: String
    /// Higher is more urgent; 0 is the default.
    public var priority: UInt8
    /// Whether the call may be retried on another instance or mirrored (header flag).
    public var idempotent: Bool
    public var parameters: [Parameter]
    public var tensors: [NamedTensor]

    /// Makes a request.
    public init(
        method: String = Method.infer,
        model: String = "",
        version: String = "",
        timeout: Duration? = nil,
        traceID: TraceID = .none,
        routingKey: String = "",
        priority: UInt8 = 0,
        idempotent: Bool = true,
        parameters: [Parameter] = [],
        tensors: [NamedTensor] = []
    ) {
        self.method = method
        self.model = model
        self.version = version
        self.timeout = timeout
        self.traceID = traceID
        self.routingKey = routingKey
        self.priority = priority
        self.idempotent = idempotent
        self.parameters = parameters
        self.tensors = tensors
    }

    /// The value of the first parameter named `key`.
    public subscript(parameter key: String) -> String? { self.parameters.first { $0.key == key }?.value }
}

/// The body of a RESPONSE frame: the output tensors and metadata such as the version that served it.
public struct Response: Equatable, Sendable {
    public var parameters: [Parameter]
    public var tensors: [NamedTensor]

    /// Makes a response.
    public init(parameters: [Parameter] = [], tensors: [NamedTensor] = []) {
        self.parameters = parameters
        self.tensors = tensors
    }

    /// The value of the first parameter named `key`.
    public subscript(parameter key: String) -> String? { self.parameters.first { $0.key == key }?.value }
}

/// The body of a GOAWAY frame.
public struct GoAway: Hashable, Sendable {
    /// The highest request id the sender accepted and will answer; higher ids were not processed.
    public var lastRequestID: UInt32
    /// `ok` for a graceful drain; otherwise why the connection ends.
    public var status: Status

    /// Makes a GOAWAY body.
    public init(lastRequestID: UInt32, status: Status) {
        self.lastRequestID = lastRequestID
        self.status = status
    }
}
