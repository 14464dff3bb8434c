import SwitchyardTransport
import SwitchyardWire

/// The client certificate a command that calls a service uses: the one given, or else the least privileged one that
/// may call the method (`ops/certs/out/readonly.pem` for reads, `client.pem`, an app's, for `feedback`, and
/// `ops.pem`, the admin's, for changes).
enum ClientCertificate {
    static let readonly = "ops/certs/out/readonly.pem"
    static let app = "ops/certs/out/client.pem"
    static let admin = "ops/certs/out/ops.pem"
    static let help =
        "Client certificate (PEM). (default: \(readonly) for reads, \(app) for feedback, \(admin) (OU=admin) "
        + "for changes)"
    static let keyHelp = "Client private key (PEM). (default: the certificate's path with .key for .pem)"

    /// The certificate and key paths for calling `method`.
    static func paths(for method: String, cert: String?, key: String?) -> (cert: String, key: String) {
        let fallback =
            AuthorizationPolicy.readMethods.contains(method)
            ? Self.readonly : method == Method.feedback ? Self.app : Self.admin
        let certificate = cert ?? fallback
        let key = key ?? (certificate.hasSuffix(".pem") ? String(certificate.dropLast(4)) + ".key" : certificate)
        return (certificate, key)
    }
}
