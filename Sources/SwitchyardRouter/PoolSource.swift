/// Where a stage pool's instances come from: one entry of the router's `--preprocess`, `--inference` or
/// `--postprocess` list.
///
/// - `HOST:PORT`: one instance (a name here is looked up by each new connection, not followed);
/// - `dns:NAME:PORT`: every A and AAAA address of `NAME`, re-resolved on an interval and when an instance fails
///   (a Kubernetes headless Service, Consul DNS, `/etc/hosts`);
/// - `srv:NAME`: every target of `NAME`'s SRV records at the record's port (`srv:_wire._tcp.inference.service.consul`);
/// - `file:PATH`: the entries of a file, one a line (`#` starts a comment), read again on every interval.
public enum PoolSource: Hashable, Sendable, CustomStringConvertible {
    case address(host: String, port: Int)
    case dns(name: String, port: Int)
    case srv(name: String)
    case file(path: String)

    /// Parses a comma-separated list of entries.
    /// - Parameters:
    ///   - list: the entries.
    ///   - allowFiles: whether `file:` entries may appear (not inside a file).
    /// - Throws: `RouterError` (`invalid argument`) naming the entry that is not understood.
    public static func parse(list: String, allowFiles: Bool = true) throws -> [PoolSource] {
        try list.split(separator: ",").map { try Self.parse(String($0).trimmingSpaces(), allowFiles: allowFiles) }
    }

    /// Parses one entry.
    /// - Throws: `RouterError` (`invalid argument`) when it is not understood.
    public static func parse(_ entry: String, allowFiles: Bool = true) throws -> PoolSource {
        if entry.hasPrefix("dns:") {
            let (host, port) = try Self.split(String(entry.dropFirst(4)), entry: entry)
            return .dns(name: host, port: port)
        }
        if entry.hasPrefix("srv:") {
            let name = String(entry.dropFirst(4))
            guard !name.isEmpty, !name.contains(":") else {
                throw RouterError(.invalidArgument, "'\(entry)' is not srv:NAME (the port comes from the SRV records)")
            }
            return .srv(name: name)
        }
        if entry.hasPrefix("file:") {
            guard allowFiles else { throw RouterError(.invalidArgument, "'\(entry)': a pool file cannot name another file") }
            let path = String(entry.dropFirst(5))
            guard !path.isEmpty else { throw RouterError(.invalidArgument, "'\(entry)' is not file:PATH") }
            return .file(path: path)
        }
        let (host, port) = try Self.split(entry, entry: entry)
        return .address(host: host, port: port)
    }

    /// `HOST:PORT` (or `[IPv6]:PORT`) into its parts.
    static func split(_ text: String, entry: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw RouterError(
                .invalidArgument, "'\(entry)' is not HOST:PORT, dns:NAME:PORT, srv:NAME or file:PATH"
            )
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw RouterError(.invalidArgument, "'\(entry)' has no host") }
        return (host, port)
    }

    public var description: String {
        switch self {
        case .address(let host, let port): PoolEndpoint.id(host: host, port: port)
        case .dns(let name, let port): "dns:\(PoolEndpoint.id(host: name, port: port))"
        case .srv(let name): "srv:\(name)"
        case .file(let path): "file:\(path)"
        }
    }
}

/// One instance a pool source names: where to connect, and the name its certificate must carry.
public struct PoolEndpoint: Hashable, Sendable {
    /// An address or a host name.
    public var host: String
    /// The port.
    public var port: Int
    /// The name to verify the instance's certificate against (the DNS name it was found under); `nil`: `host`.
    public var serverName: String?

    /// Makes an endpoint.
    public init(host: String, port: Int, serverName: String? = nil) {
        self.host = host
        self.port = port
        self.serverName = serverName
    }

    /// The pool member's id: `host:port`, `[v6]:port`.
    public var id: String { Self.id(host: self.host, port: self.port) }

    static func id(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
