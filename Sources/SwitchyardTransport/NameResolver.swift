internal import CResolv
import Foundation
internal import NIOPosix

/// One SRV record (RFC 2782): where a service runs.
public struct ServiceRecord: Sendable, Hashable {
    /// Lower is preferred.
    public var priority: Int
    /// Share among records of the same priority.
    public var weight: Int
    /// The service's port on `target`.
    public var port: Int
    /// The host name to look up for the addresses.
    public var target: String

    /// Makes a record.
    public init(priority: Int, weight: Int, port: Int, target: String) {
        self.priority = priority
        self.weight = weight
        self.port = port
        self.target = target
    }
}

/// Name lookups through the system resolver, off the event loops (NIO's blocking-work pool): A and AAAA records with
/// `getaddrinfo` (so `/etc/hosts` and nsswitch apply), SRV records with libresolv's `res_search` (nameservers, search
/// domains and ndots from `/etc/resolv.conf`, TCP when an answer is truncated).
///
/// A name that does not exist, or has no records of the type, gives an empty answer; a resolver that cannot answer now
/// throws, so that a caller keeps what it had rather than emptying a pool on a DNS hiccup.
public enum NameResolver {
    /// The IPv4 and IPv6 addresses of `host`, as text (`10.0.0.7`, `fd00::7`), sorted, without duplicates.
    /// - Throws: `TransportError.nameResolution` when the resolver cannot answer now.
    public static func addresses(of host: String) async throws -> [String] {
        try await NIOThreadPool.singleton.runIfActive { try Self.lookUpAddresses(host) }
    }

    /// The SRV records of `name` (e.g. `_wire._tcp.inference.service.consul`), by priority, then weight (heaviest
    /// first), then target.
    /// - Throws: `TransportError.nameResolution` when the resolver cannot answer now or the answer is malformed.
    public static func serviceRecords(_ name: String) async throws -> [ServiceRecord] {
        try await NIOThreadPool.singleton.runIfActive { try Self.lookUpServices(name) }
    }

    private static func lookUpAddresses(_ host: String) throws -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        defer { if let list { freeaddrinfo(list) } }
        switch status {
        case 0: break
        case EAI_NONAME, -5: return []  // -5: glibc's EAI_NODATA (a GNU extension Swift does not see)
        default:
            throw TransportError(.nameResolution, "cannot look up \(host): \(String(cString: gai_strerror(status)))")
        }
        var addresses = Set<String>()
        var entry = list
        while let current = entry {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(
                current.pointee.ai_addr,
                current.pointee.ai_addrlen,
                &buffer,
                socklen_t(buffer.count),
                nil,
                0,
                NI_NUMERICHOST
            ) == 0 {
                addresses.insert(
                    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                )
            }
            entry = current.pointee.ai_next
        }
        return addresses.sorted()
    }

    private static func lookUpServices(_ name: String) throws -> [ServiceRecord] {
        var answer = [UInt8](repeating: 0, count: 65_536)
        var error: Int32 = 0
        let length = answer.withUnsafeMutableBufferPointer { buffer in
            switchyard_res_search(name, 33, buffer.baseAddress, Int32(buffer.count), &error)  // 33: SRV
        }
        if length < 0 {
            // HOST_NOT_FOUND (1) and NO_DATA (4): the name has no SRV records
            if error == 1 || error == 4 { return [] }
            throw TransportError(.nameResolution, "cannot look up the SRV records of \(name) (resolver error \(error))")
        }
        return try Self.parseServiceRecords(Array(answer.prefix(Int(length))))
            .sorted { ($0.priority, -$0.weight, $0.target, $0.port) < ($1.priority, -$1.weight, $1.target, $1.port) }
    }

    /// The SRV records in a DNS answer message (RFC 1035 §4; names may be compressed).
    static func parseServiceRecords(_ message: [UInt8]) throws -> [ServiceRecord] {
        func malformed() -> TransportError { TransportError(.nameResolution, "a malformed DNS answer") }
        func u16(_ at: Int) throws -> Int {
            guard at + 2 <= message.count else { throw malformed() }
            return Int(message[at]) << 8 | Int(message[at + 1])
        }
        /// The name at `start` and the offset after it in place (a pointer ends it there).
        func name(at start: Int) throws -> (String, Int) {
            var labels: [String] = []
            var at = start
            var end: Int?
            var jumps = 0
            while true {
                guard at < message.count else { throw malformed() }
                let length = Int(message[at])
                if length == 0 {
                    return (labels.joined(separator: "."), end ?? at + 1)
                } else if length & 0xC0 == 0xC0 {
                    jumps += 1
                    guard jumps < 64 else { throw malformed() }
                    if end == nil { end = at + 2 }
                    at = try u16(at) & 0x3FFF
                } else {
                    guard at + 1 + length <= message.count else { throw malformed() }
                    labels.append(String(decoding: message[(at + 1)..<(at + 1 + length)], as: UTF8.self))
                    at += 1 + length
                }
            }
        }
        let questions = try u16(4)
        let answers = try u16(6)
        var at = 12
        for _ in 0..<questions { at = try name(at: at).1 + 4 }
        var records: [ServiceRecord] = []
        for _ in 0..<answers {
            at = try name(at: at).1
            let type = try u16(at)
            let length = try u16(at + 8)
            let data = at + 10
            guard data + length <= message.count else { throw malformed() }
            if type == 33 {
                let target = try name(at: data + 6).0
                records.append(
                    ServiceRecord(
                        priority: try u16(data),
                        weight: try u16(data + 2),
                        port: try u16(data + 4),
                        target: target
                    )
                )
            }
            at = data + length
        }
        return records
    }
}
