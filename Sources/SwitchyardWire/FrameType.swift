/// The frame type byte of the header.
///
/// Types below 0x80 are critical: a receiver that does not know one must fail the connection.
/// Types 0x80 and above are extensions: a receiver that does not know one skips the frame.
public struct FrameType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    /// Wraps a header byte.
    /// - Parameter rawValue: the type byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let hello = Self(rawValue: 0x01)
    public static let request = Self(rawValue: 0x02)
    public static let response = Self(rawValue: 0x03)
    public static let error = Self(rawValue: 0x04)
    public static let cancel = Self(rawValue: 0x05)
    public static let ping = Self(rawValue: 0x06)
    public static let pong = Self(rawValue: 0x07)
    public static let goAway = Self(rawValue: 0x08)

    /// Whether an unknown frame of this type may be skipped.
    public var isExtension: Bool { self.rawValue >= 0x80 }

    /// Whether version 1 defines this type.
    public var isKnown: Bool { (0x01...0x08).contains(self.rawValue) }

    public var description: String {
        switch self.rawValue {
        case 0x01: "HELLO"
        case 0x02: "REQUEST"
        case 0x03: "RESPONSE"
        case 0x04: "ERROR"
        case 0x05: "CANCEL"
        case 0x06: "PING"
        case 0x07: "PONG"
        case 0x08: "GOAWAY"
        default: "0x" + hex2(self.rawValue)
        }
    }
}

/// The 16-bit flags field of the header. The low byte is must-understand, the high byte may be ignored.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// REQUEST: the call has no side effects, so it may be retried on another instance or mirrored.
    public static let idempotent = FrameFlags(rawValue: 0x0001)

    /// The must-understand bits each frame type defines.
    static func known(for type: FrameType) -> FrameFlags {
        type == .request ? [.idempotent] : []
    }
}

/// The fixed 16-byte header every frame starts with.
public struct FrameHeader: Hashable, Sendable {
    /// The size of the header in bytes.
    public static let size = 16
    /// `S`, `Y`.
    public static let magic: (UInt8, UInt8) = (0x53, 0x59)

    public var version: UInt8
    public var type: FrameType
    public var flags: FrameFlags
    public var requestID: UInt32
    public var payloadLength: UInt32

    /// Makes a header.
    public init(
        version: UInt8 = WireVersion.current,
        type: FrameType,
        flags: FrameFlags = [],
        requestID: UInt32,
        payloadLength: UInt32
    ) {
        self.version = version
        self.type = type
        self.flags = flags
        self.requestID = requestID
        self.payloadLength = payloadLength
    }

    /// Parses and checks a header: magic, version, reserved field, payload length.
    ///
    /// Type and flags are checked by ``Frame/init(header:payload:)``, so that extension frames can be skipped.
    /// - Parameters:
    ///   - bytes: at least ``size`` bytes.
    ///   - maxPayload: the largest payload this side accepts.
    ///   - version: the version the connection uses.
    /// - Throws: `WireError` with `.truncatedFrame`, `.badMagic`, `.badVersion`, `.reservedNotZero`
    ///   or `.frameTooLarge`.
    public init(
        parsing bytes: UnsafeRawBufferPointer,
        maxPayload: UInt32,
        version: UInt8 = WireVersion.current
    ) throws(WireError) {
        guard bytes.count >= Self.size else {
            throw WireError(.truncatedFrame, "header needs \(Self.size) bytes, got \(bytes.count)")
        }
        guard bytes[0] == Self.magic.0, bytes[1] == Self.magic.1 else {
            throw WireError(.badMagic, "magic is 0x\(hex2(bytes[0]))\(hex2(bytes[1])), expected 0x5359 (\"SY\")")
        }
        guard bytes[2] == version else {
            throw WireError(.badVersion, "frame has version \(bytes[2]), the connection speaks \(version)")
        }
        let reserved = bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self)
        guard reserved == 0 else { throw WireError(.reservedNotZero, "header bytes 6-7 must be zero") }
        let length = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        guard length <= maxPayload else {
            throw WireError(.frameTooLarge, "payload of \(length) bytes is over the limit of \(maxPayload)")
        }
        self.version = bytes[2]
        self.type = FrameType(rawValue: bytes[3])
        self.flags = FrameFlags(rawValue: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        self.requestID = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        self.payloadLength = length
    }

    /// Writes the header into the first ``size`` bytes of `target`.
    /// - Parameter target: at least ``size`` bytes.
    public func write(into target: UnsafeMutableRawBufferPointer) {
        precondition(target.count >= Self.size)
        target[0] = Self.magic.0
        target[1] = Self.magic.1
        target[2] = self.version
        target[3] = self.type.rawValue
        target.storeBytes(of: self.flags.rawValue.littleEndian, toByteOffset: 4, as: UInt16.self)
        target.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        target.storeBytes(of: self.requestID.littleEndian, toByteOffset: 8, as: UInt32.self)
        target.storeBytes(of: self.payloadLength.littleEndian, toByteOffset: 12, as: UInt32.self)
    }
}

/// Protocol versions and the fixed limits of version 1.
public enum WireVersion {
    /// The only version this build speaks.
    public static let current: UInt8 = 1
    /// The ALPN protocol name negotiated in TLS.
    public static let alpn = "switchyard/1"
}

/// Limits fixed by the spec (not negotiated).
public enum WireLimits {
    /// Largest HELLO payload, and the payload limit before HELLO is exchanged.
    public static let helloPayload: UInt32 = 65_536
    /// Smallest `max_payload` a peer may announce.
    public static let minimumPayload: UInt32 = 65_536
    /// Default `max_payload`: 16 MiB.
    public static let defaultPayload: UInt32 = 16 << 20
    /// Most tensors in one REQUEST or RESPONSE.
    public static let maxTensors = 1024
    /// Most dimensions of one tensor.
    public static let maxRank = 8
    /// Most parameters in one message.
    public static let maxParameters = 256
    /// Alignment of tensor data, relative to the payload start.
    public static let dataAlignment = 64
}
