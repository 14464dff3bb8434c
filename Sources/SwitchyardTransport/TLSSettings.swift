public import NIOSSL
import SwitchyardWire

/// Where a service's or client's TLS material lives (PEM file paths only; keys are never inlined).
public struct TLSSettings: Sendable, Hashable {
    /// The CA bundle that peers' certificates must chain to.
    public var caPath: String
    /// This side's certificate chain.
    public var certificatePath: String?
    /// This side's private key.
    public var keyPath: String?
    /// Server: demand a client certificate signed by the CA (mutual TLS, the mesh default).
    public var requireClientCertificate: Bool

    /// Makes TLS settings.
    /// - Parameters:
    ///   - caPath: CA bundle path.
    ///   - certificatePath: certificate chain path (required for servers and for mTLS clients).
    ///   - keyPath: private key path.
    ///   - requireClientCertificate: whether a server requires client certificates.
    public init(
        caPath: String,
        certificatePath: String? = nil,
        keyPath: String? = nil,
        requireClientCertificate: Bool = true
    ) {
        self.caPath = caPath
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.requireClientCertificate = requireClientCertificate
    }

    /// A server context: TLS 1.3 only, our ALPN name, client certificates verified against the CA (required, unless
    /// ``requireClientCertificate`` is false: then a certificate is optional, and verified when presented).
    /// - Throws: `TransportError` naming the file that could not be loaded.
    public func makeServerContext() throws -> NIOSSLContext {
        try self.makeServerContext(alpn: [WireVersion.alpn], requireClientCertificate: self.requireClientCertificate)
    }

    /// A server context for HTTPS endpoints (the monitor's dashboard): TLS 1.3, ALPN `http/1.1`, a client
    /// certificate optional and verified against the CA when presented.
    /// - Throws: `TransportError` naming the file that could not be loaded.
    public func makeHTTPSServerContext() throws -> NIOSSLContext {
        try self.makeServerContext(alpn: ["http/1.1"], requireClientCertificate: false)
    }

    /// A client context for HTTPS: TLS 1.3, ALPN `http/1.1`, the server verified against the CA and its name, this
    /// side's certificate when it has one.
    /// - Throws: `TransportError` naming the file that could not be loaded.
    public func makeHTTPSClientContext() throws -> NIOSSLContext {
        try self.makeClientContext(alpn: ["http/1.1"])
    }

    private func makeServerContext(alpn: [String], requireClientCertificate: Bool) throws -> NIOSSLContext {
        guard let certificatePath, let keyPath else {
            throw TransportError(.configuration, "a server needs a certificate and a key")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try Self.load("certificate", certificatePath) {
                try NIOSSLCertificate.fromPEMFile($0).map { .certificate($0) }
            },
            privateKey: .privateKey(
                try Self.load("private key", keyPath) { try NIOSSLPrivateKey(file: $0, format: .pem) }
            )
        )
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.applicationProtocols = alpn
        configuration.trustRoots = .certificates(
            try Self.load("CA", self.caPath) { try NIOSSLCertificate.fromPEMFile($0) }
        )
        // without mutual TLS a certificate is still verified when one is presented: its names give roles
        configuration.certificateVerification =
            requireClientCertificate ? .noHostnameVerification : .optionalVerification
        return try NIOSSLContext(configuration: configuration)
    }

    /// A client context: TLS 1.3 only, our ALPN name, the server verified against the CA and its hostname.
    /// - Throws: `TransportError` naming the file that could not be loaded.
    public func makeClientContext() throws -> NIOSSLContext {
        try self.makeClientContext(alpn: [WireVersion.alpn])
    }

    private func makeClientContext(alpn: [String]) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.applicationProtocols = alpn
        configuration.trustRoots = .certificates(
            try Self.load("CA", self.caPath) { try NIOSSLCertificate.fromPEMFile($0) }
        )
        configuration.certificateVerification = .fullVerification
        if let certificatePath, let keyPath {
            configuration.certificateChain = try Self.load("certificate", certificatePath) {
                try NIOSSLCertificate.fromPEMFile($0).map { .certificate($0) }
            }
            configuration.privateKey = .privateKey(
                try Self.load("private key", keyPath) { try NIOSSLPrivateKey(file: $0, format: .pem) }
            )
        }
        return try NIOSSLContext(configuration: configuration)
    }

    private static func load<T>(_ what: String, _ path: String, _ body: (String) throws -> T) throws -> T {
        do {
            return try body(path)
        } catch {
            throw TransportError(.configuration, "cannot load the \(what) from \(path): \(error)")
        }
    }
}
