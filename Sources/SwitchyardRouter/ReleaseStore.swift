import Foundation
import SwitchyardRouting

/// Where a router group's release state lives: one JSON document, `releases.json` in the state directory, replaced
/// atomically (written beside it, then renamed) on every decision.
///
/// A file, not a database or a consensus protocol: one small document per router group, readable by people and by
/// `jq`, and nothing else to run on a VM. Routers sharing the directory converge by re-reading it.
struct ReleaseStore: Sendable {
    /// What the file holds (its schema: the keys below, JSON with sorted keys).
    struct Document: Codable, Sendable {
        /// The router that wrote the file.
        var writer: String
        /// When it was written (seconds since 1970): a reader adopts only a newer document.
        var updated: Double
        var rollouts: [String: Rollout]
        var splits: [String: TrafficSplit]
        /// Per model, the router that judges its rollout or comparison.
        var owners: [String: String]
        /// Per model, the evidence of the rollout's current step, so that its owner continues the same analysis
        /// after a restart (absent in documents of older routers).
        var evidence: [String: Evidence]?
        /// Per model, the A/B comparison running or the last one, with its evidence.
        var experiments: [String: Experiment]?
    }

    /// A step's evidence: both versions' windows and the metric gates' latest values.
    struct Evidence: Codable, Sendable {
        var stable: ArmWindow
        var candidate: ArmWindow
        var metrics: [String: Double]
        /// The window's number, which changes whenever the windows restart.
        var window: Int
    }

    /// The file's path.
    let path: String

    /// Opens the store in `directory`, creating the directory if needed.
    /// - Throws: `RouterError.stateUnwritable` when the directory cannot be made.
    init(directory: String) throws(RouterError) {
        self.path = URL(fileURLWithPath: directory).appendingPathComponent("releases.json").path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RouterError(
                .stateUnwritable, "cannot make the release state directory \(directory): \(error)", cause: error
            )
        }
    }

    /// The document, or `nil` when there is no file yet.
    /// - Throws: `RouterError.stateUnreadable` when the file exists but is not a release state.
    func read() throws(RouterError) -> Document? {
        guard FileManager.default.fileExists(atPath: self.path) else { return nil }
        do {
            return try JSONDecoder().decode(Document.self, from: Data(contentsOf: URL(fileURLWithPath: self.path)))
        } catch {
            throw RouterError(.stateUnreadable, "the release state \(self.path) cannot be read: \(error)", cause: error)
        }
    }

    /// Replaces the file with `document`, atomically.
    /// - Throws: `RouterError.stateUnwritable` when it cannot be written or renamed.
    func write(_ document: Document) throws(RouterError) {
        let temporary = self.path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            try Self.encode(document, pretty: true).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw RouterError(.stateUnwritable, "cannot write \(temporary): \(error)", cause: error)
        }
        guard rename(temporary, self.path) == 0 else {
            throw RouterError(.stateUnwritable, "cannot replace \(self.path): \(String(cString: strerror(errno)))")
        }
    }

    /// The document as JSON with sorted keys.
    static func encode(_ document: Document, pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        return try encoder.encode(document)
    }
}
