import Foundation
import Logging
internal import Synchronization
import SwitchyardRouting
import SwitchyardWire

/// Following other routers: the ones sharing the state directory (through the file) and a leader on another VM
/// (over the wire, `release.state`).
extension ReleaseController {
    /// The release state as the state file holds it (JSON), for routers that follow this one.
    /// - Throws: when the state cannot be encoded.
    public func stateDocument() throws -> String {
        String(decoding: try ReleaseStore.encode(self.document()), as: UTF8.self)
    }

    /// Why this router takes no release commands, or `nil` when it decides for itself.
    public var followerReason: String? {
        self.leader == nil
            ? nil : "this router follows another router's releases (--release-leader); send release commands there"
    }

    /// Adopts the leader's state when it changed; the leader being away changes nothing here.
    func follow(_ leader: any Upstream) async {
        do {
            let response = try await leader.call(
                Request(method: Method.releaseState),
                deadline: .now.advanced(by: self.tick)
            )
            let stored = try JSONDecoder().decode(
                ReleaseStore.Document.self,
                from: Data((response[parameter: ParameterKey.state] ?? "").utf8)
            )
            guard self.isNewer(stored) else { return }
            self.models.withLock { Self.adopt(stored, into: &$0, identity: self.identity, restoring: false) }
            self.publish()
            self.logger.info("release state adopted", metadata: ["leader": "\(stored.writer)"])
            try self.store?.write(stored)  // a restart starts from the last known state
        } catch {
            self.logger.debug("cannot read the leader's release state", metadata: ["error": "\(error)"])
        }
    }

    /// Adopts what another router wrote to the shared file since this one last read or wrote it.
    func followStore() {
        guard let store = self.store else { return }
        do {
            guard let stored = try store.read(), stored.writer != self.identity, self.isNewer(stored) else { return }
            self.models.withLock { Self.adopt(stored, into: &$0, identity: self.identity, restoring: false) }
            self.publish()
            self.logger.info("release state adopted", metadata: ["writer": "\(stored.writer)"])
        } catch {
            self.logger.warning("cannot read the release state", metadata: ["error": "\(error)"])
        }
    }

    /// Whether `document` is newer than anything read or written here; if so, it becomes the newest seen.
    private func isNewer(_ document: ReleaseStore.Document) -> Bool {
        self.seen.withLock { seen in
            guard document.updated > seen else { return false }
            seen = document.updated
            return true
        }
    }
}
