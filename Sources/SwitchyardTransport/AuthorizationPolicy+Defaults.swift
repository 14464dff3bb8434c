public import CoreMetrics
import SwitchyardWire

extension AuthorizationPolicy {
    /// The methods that change nothing, which ``Role/readonly`` may call on every service.
    public static let readMethods: Set<String> = [
        Method.health, Method.modelList, Method.rolloutStatus, Method.releaseState, Method.abReport,
        Method.batchingStatus, Method.poolList,
    ]

    /// The monitor's HTTPS dashboard and JSON API, as a method name of the policy (not a wire method): a client
    /// certificate with a role allowed it may read them without a bearer token.
    public static let dashboard = "dashboard"

    /// The mesh's policy for `service` (`router`, `preprocess`, `inference`, `postprocess`, `monitor`, `echo`):
    ///
    /// - roles: a certificate holds each mesh role (``Role/mesh``) named by one of its OUs or by a URI SAN
    ///   `spiffe://switchyard/<role>` (what `ops/certs/make-certs.sh` issues);
    /// - every service: `health` to anyone, the read methods to ``Role/readonly``, the rest to ``Role/admin``;
    /// - router: `infer` and `feedback` to ``Role/app``, `release.state` to routers (followers read their leader);
    /// - inference: `infer` and `model.list` to routers; preprocess and postprocess: their method to routers;
    /// - monitor: `report` to the mesh's services (router, preprocess, inference, postprocess, reporter), the dashboard
    ///   (``dashboard``) to ``Role/readonly``;
    /// - echo: `echo` to anyone.
    /// - Parameters:
    ///   - service: the service's short name; another name gets the rules every service shares.
    ///   - factory: where the denial counter goes.
    public static func defaults(
        service: String,
        factory: any MetricsFactory = MetricsSystem.factory
    ) -> AuthorizationPolicy {
        var policy = AuthorizationPolicy(service: service, factory: factory)
        for role in Role.mesh {
            policy.grant([role], to: IdentityPattern(.ou, role.name))
            policy.grant([role], to: IdentityPattern(.uri, "spiffe://\(Self.trustDomain)/\(role.name)"))
        }
        for method in Self.readMethods where method != Method.health { policy.allow(method, to: [.readonly]) }
        switch service {
        case "router":
            policy.allow(Method.infer, to: [.app])
            policy.allow(Method.feedback, to: [.app])
            policy.allow(Method.releaseState, to: [.router, .readonly])
            for method in [
                Method.rolloutStart, Method.rolloutPause, Method.rolloutResume, Method.rolloutPromote,
                Method.rolloutAbort, Method.rolloutApprove, Method.releasePin, Method.abStart, Method.abStop,
                Method.batchingSet, Method.poolAdd, Method.poolRemove, Method.poolDrain,
            ] {
                policy.allow(method, to: [])
            }
        case "inference":
            policy.allow(Method.infer, to: [.router])
            policy.allow(Method.modelList, to: [.router, .readonly])
            for method in [Method.modelLoad, Method.modelUnload, Method.modelReload] { policy.allow(method, to: []) }
        case "preprocess":
            policy.allow(Method.preprocess, to: [.router])
        case "postprocess":
            policy.allow(Method.postprocess, to: [.router])
        case "monitor":
            policy.allow(Method.report, to: [.router, .preprocess, .inference, .postprocess, .reporter])
            policy.allow(Self.dashboard, to: [.readonly])
        case "echo":
            policy.allow(Method.echo, to: [.anyone])
        default:
            break
        }
        return policy
    }

    /// Applies a config's `roles` entries: `ROLE=IDENTITY[,IDENTITY...]` gives ROLE to each identity pattern
    /// (``IdentityPattern``), besides the defaults.
    /// - Parameter entries: the entries.
    /// - Throws: `TransportError.configuration` naming the entry that does not parse.
    public mutating func grant(entries: [String]) throws(TransportError) {
        for entry in entries {
            let (role, values) = try Self.split(entry, what: "roles", example: "router=cn:router-1,ou:router")
            guard Role.isValid(role), role != Role.anyone.name else {
                throw TransportError(.configuration, "roles '\(entry)': '\(role)' is not a role name (a-z, 0-9, -_.)")
            }
            for value in values {
                do {
                    self.grant([Role(role)], to: try IdentityPattern(parsing: value))
                } catch {
                    throw TransportError(.configuration, "roles '\(entry)': \(error.message)")
                }
            }
        }
    }

    /// Applies a config's `allow` entries: `METHOD=ROLE[,ROLE...]` replaces the roles METHOD needs (`*`: anyone;
    /// `admin`: admin only).
    /// - Parameter entries: the entries.
    /// - Throws: `TransportError.configuration` naming the entry that does not parse.
    public mutating func allow(entries: [String]) throws(TransportError) {
        for entry in entries {
            let (method, values) = try Self.split(entry, what: "allow", example: "rollout.status=readonly,app")
            var roles = Set<Role>()
            for value in values {
                guard value == Role.anyone.name || Role.isValid(value) else {
                    throw TransportError(.configuration, "allow '\(entry)': '\(value)' is not a role name or *")
                }
                if value != Role.admin.name { roles.insert(Role(value)) }
            }
            self.allow(method, to: roles)
        }
    }

    private static func split(
        _ entry: String,
        what: String,
        example: String
    ) throws(TransportError) -> (String, [String]) {
        let parts = entry.split(separator: "=", maxSplits: 1)
        let values =
            parts.count == 2
            ? parts[1].split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingSpaces) : []
        guard parts.count == 2, !parts[0].trimmingSpaces.isEmpty, !values.isEmpty, !values.contains("") else {
            throw TransportError(.configuration, "\(what) '\(entry)' must look like '\(example)'")
        }
        return (parts[0].trimmingSpaces, values)
    }
}
