import Foundation

/// A throwaway CA and certificates in a temporary folder, made with `ops/certs/make-certs.sh`.
public struct CertificateFixture: Sendable {
    /// The folder holding `ca.pem` and `<name>.pem` / `<name>.key`.
    public let directory: String

    /// Makes a CA and the named certificates.
    /// - Parameters:
    ///   - names: certificate names in the script's `NAME[:OU][@hosts]` form.
    ///   - directory: where to put them; a new temporary folder by default.
    /// - Throws: when openssl fails.
    public init(names: [String] = ["server", "client", "ops:admin"], directory: String? = nil) throws {
        let folder =
            directory
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("switchyard-certs-\(UUID().uuidString)").path
        let script = packageRoot().appendingPathComponent("ops/certs/make-certs.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, folder] + names
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(
                .fileWriteUnknown,
                userInfo: [NSLocalizedDescriptionKey: "make-certs.sh failed with \(process.terminationStatus)"]
            )
        }
        self.directory = folder
    }

    /// The CA bundle.
    public var caPath: String { self.directory + "/ca.pem" }
    /// The certificate of `name`.
    public func certificatePath(_ name: String) -> String { self.directory + "/\(name).pem" }
    /// The private key of `name`.
    public func keyPath(_ name: String) -> String { self.directory + "/\(name).key" }

    /// Removes the folder.
    public func remove() { try? FileManager.default.removeItem(atPath: self.directory) }
}
