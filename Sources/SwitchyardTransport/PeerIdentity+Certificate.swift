public import NIOSSL

extension PeerIdentity {
    /// The names of a client certificate: subject CN and OUs, and URI subject alternative names.
    /// - Parameter certificate: the peer's leaf certificate.
    public init(certificate: NIOSSLCertificate) {
        let names = certificate.subjectName
        var uris: [String] = []
        // swift-nio-ssl exposes SANs only through this underscored API; the alternative is a second X.509 parser
        for name in certificate._subjectAlternativeNames() where name.nameType == .uri {
            uris.append(name.contents.withUnsafeBufferPointer { String(decoding: $0, as: UTF8.self) })
        }
        self.init(
            commonName: names.last { $0.type == .commonName }?.value,
            organizationalUnits: names.filter { $0.type == .organizationalUnit }.map(\.value),
            uris: uris
        )
    }
}
