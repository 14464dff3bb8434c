/// What a peer may do, as an ``AuthorizationPolicy`` grants it: a name such as `router`, `app` or `admin`.
///
/// The set is open (a config may name roles of its own); the mesh's roles are the static members.
public struct Role: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The role's name, as configs, certificates (OU, `spiffe://switchyard/<role>`) and metrics spell it.
    public let name: String

    /// Wraps a role name.
    /// - Parameter name: lower-case letters, digits, `-`, `_` and `.`.
    public init(_ name: String) { self.name = name }

    /// Every method of every service, and what ``readonly`` reads.
    public static let admin = Role("admin")
    /// The read methods of every service (`yard rollout status`, `yard pool list` ...): no changes.
    public static let readonly = Role("readonly")
    /// A backend app: the router's `infer`, `feedback` and `health`.
    public static let app = Role("app")
    /// A router: the stage services' methods, other routers' `release.state`, the monitor's `report`.
    public static let router = Role("router")
    /// A preprocess instance (reports to the monitor).
    public static let preprocess = Role("preprocess")
    /// An inference instance (reports to the monitor).
    public static let inference = Role("inference")
    /// A postprocess instance (reports to the monitor).
    public static let postprocess = Role("postprocess")
    /// The monitor.
    public static let monitor = Role("monitor")
    /// Any other process that reports to the monitor and does nothing else (`switchyard-echo`, an exporter).
    public static let reporter = Role("reporter")
    /// In a method's rule: every peer, with or without a role or a certificate.
    public static let anyone = Role("*")

    /// The roles the mesh defines, which certificates carry as an OU or a `spiffe://switchyard/<role>` URI.
    public static let mesh: [Role] = [
        .admin, .readonly, .app, .router, .preprocess, .inference, .postprocess, .monitor, .reporter,
    ]

    /// Whether `name` can be a role: lower-case letters, digits, `-`, `_`, `.`, at most 64 bytes.
    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy {
                (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || "-_.".utf8.contains($0)
            }
    }

    public var description: String { self.name }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.name < rhs.name }
}
