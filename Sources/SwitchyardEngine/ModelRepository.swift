import Foundation
public import SwitchyardModelConfig
import Synchronization

/// A model version that is loaded and serving.
public struct LoadedModel: Sendable {
    /// The model's name (its directory, or the config's `name`).
    public var name: String
    /// The version number (its directory's name).
    public var version: Int
    /// The engine's model, ready to `run`.
    public var model: Model
    /// The config that applies to this version.
    public var config: ModelConfig
    /// The `model.onnx` path.
    public var path: String
}

/// The state of one model version in a repository.
public struct VersionStatus: Sendable, Equatable {
    /// Where a version stands.
    public enum State: Sendable, Equatable {
        /// Being loaded (or reloaded: the previous load keeps serving until this one is ready).
        case loading
        /// Serving.
        case ready
        /// The last load failed; the message says why.
        case failed(String)
    }

    /// The model's name.
    public var name: String
    /// The version number.
    public var version: Int
    /// Where it stands.
    public var state: State
}

/// What a ``ModelRepository/poll()`` changed.
public struct PollReport: Sendable {
    /// Versions loaded for the first time.
    public var loaded: [String] = []
    /// Versions loaded again because their files changed.
    public var reloaded: [String] = []
    /// Versions unloaded because the policy no longer wants them or they left the disk.
    public var unloaded: [String] = []
    /// Versions or models that failed, with the reason.
    public var failed: [String] = []
}

/// Models on disk as `<root>/<name>/<version>/model.onnx` (versions are positive integers), each model
/// with an optional `config.json` (see ``ModelConfig``).
///
/// ``poll()`` brings the loaded set in line with the disk and each model's version policy; load,
/// unload and reload work on one version while the others keep serving. A reload loads the new
/// files first and swaps only when they are ready, so a request never sees a half-loaded model, and
/// requests already running on the old instance finish on it. Every load runs a warm-up.
public final class ModelRepository: Sendable {
    /// The repository directory.
    public let root: String
    private let options: ModelOptions
    private let state = Mutex<[Key: Slot]>([:])

    private struct Key: Hashable { var name: String, version: Int }
    private struct Slot {
        var status: VersionStatus.State
        var loaded: LoadedModel?
        var fingerprint: String
    }

    /// Opens a repository (nothing is loaded until ``poll()`` or ``load(_:version:)``).
    /// - Parameters:
    ///   - root: the directory holding one directory per model.
    ///   - options: load options for every model; a config's `max_batch_size` overrides the limit.
    public init(root: String, options: ModelOptions = ModelOptions()) {
        self.root = root
        self.options = options
    }

    /// Lists the models and versions on disk (see ``ModelCatalog``), and remembers the directory of each model
    /// whose config renames it.
    /// - Returns: one entry per model directory, by name; a model whose config is broken is reported in
    ///   `failures` instead.
    /// - Throws: `EngineError.io` when the root cannot be listed.
    public func scan() throws(EngineError) -> (entries: [ModelCatalog.Entry], failures: [String: ModelConfigError]) {
        let catalog: ModelCatalog
        do { catalog = try ModelCatalog(root: self.root) } catch { throw EngineError(error) }
        for entry in catalog.entries where entry.name != entry.directory {
            self.directories.withLock { $0[entry.name] = entry.directory }
        }
        return (catalog.entries, catalog.failures)
    }

    private let directories = Mutex<[String: String]>([:])

    private func directory(of name: String) -> String {
        self.root + "/" + (self.directories.withLock { $0[name] } ?? name)
    }

    /// Loads what each model's policy wants and is not loaded, reloads versions whose files changed,
    /// and unloads what is no longer wanted.
    /// - Returns: what changed and what failed (a failure leaves the other models serving).
    /// - Throws: `EngineError.io` when the root cannot be listed.
    @discardableResult
    public func poll() throws(EngineError) -> PollReport {
        var report = PollReport()
        let (entries, failures) = try self.scan()
        for (directory, error) in failures.sorted(by: { $0.key < $1.key }) {
            report.failed.append("\(directory): \(error.message)")
        }
        var wanted = Set<Key>()
        for entry in entries {
            for version in entry.config.versionPolicy.select(from: entry.versions) {
                let key = Key(name: entry.name, version: version)
                wanted.insert(key)
                let current = self.state.withLock { $0[key] }
                let fingerprint = self.fingerprint(entry.name, version)
                if let current, current.fingerprint == fingerprint, current.loaded != nil || current.status != .ready {
                    if case .failed = current.status { continue }  // unchanged files: do not retry every poll
                    continue
                }
                do {
                    try self.load(entry.name, version: version)
                    if current?.loaded != nil {
                        report.reloaded.append("\(entry.name)/\(version)")
                    } else {
                        report.loaded.append("\(entry.name)/\(version)")
                    }
                } catch {
                    report.failed.append("\(entry.name)/\(version): \(error.message)")
                }
            }
        }
        let failedModels = Set(failures.keys)
        for key in self.state.withLock({ Array($0.keys) })
        where !wanted.contains(key) && !failedModels.contains(key.name) {
            self.state.withLock { _ = $0.removeValue(forKey: key) }
            report.unloaded.append("\(key.name)/\(key.version)")
        }
        return report
    }

    /// Loads (or reloads) one version: reads the config, loads and checks the model, warms it up,
    /// then makes it the one requests get.
    /// - Parameters:
    ///   - name: the model's name.
    ///   - version: the version number.
    /// - Throws: `EngineError` from reading, checking or warming the model; the version is then
    ///   `failed`, and a previously loaded instance of it keeps serving.
    public func load(_ name: String, version: Int) throws(EngineError) {
        let key = Key(name: name, version: version)
        let fingerprint = self.fingerprint(name, version)
        self.state.withLock { slots in
            if slots[key] == nil {
                slots[key] = Slot(status: .loading, loaded: nil, fingerprint: fingerprint)
            } else {
                slots[key]!.status = .loading
            }
        }
        do {
            let loaded = try self.make(name, version)
            self.state.withLock { $0[key] = Slot(status: .ready, loaded: loaded, fingerprint: fingerprint) }
        } catch {
            self.state.withLock { slots in
                slots[key]!.fingerprint = fingerprint
                // A failed reload keeps the old instance serving; say so in the status.
                slots[key]!.status = slots[key]!.loaded == nil ? .failed(error.message) : .ready
            }
            throw error
        }
    }

    /// Loads one version again from disk (same as ``load(_:version:)``; named for intent).
    /// - Parameters:
    ///   - name: the model's name.
    ///   - version: the version number.
    /// - Throws: as ``load(_:version:)``.
    public func reload(_ name: String, version: Int) throws(EngineError) { try self.load(name, version: version) }

    /// Stops serving one version. Requests already running on it finish.
    /// - Parameters:
    ///   - name: the model's name.
    ///   - version: the version number.
    /// - Throws: `EngineError.notFound` when the version is not loaded.
    public func unload(_ name: String, version: Int) throws(EngineError) {
        let removed = self.state.withLock { $0.removeValue(forKey: Key(name: name, version: version)) }
        guard removed != nil else { throw EngineError(.notFound, "model '\(name)' version \(version) is not loaded") }
    }

    /// The model to serve a request with.
    /// - Parameters:
    ///   - name: the model's name.
    ///   - version: a version number, or `nil` for the highest ready version.
    /// - Throws: `EngineError.notFound` for an unknown model or version, `.unavailable` when the version
    ///   exists but is loading or failed.
    public func model(_ name: String, version: Int? = nil) throws(EngineError) -> LoadedModel {
        let slots = self.state.withLock { $0.filter { $0.key.name == name } }
        guard !slots.isEmpty else { throw EngineError(.notFound, "no model '\(name)' is loaded") }
        if let version {
            guard let slot = slots[Key(name: name, version: version)] else {
                let versions = slots.keys.map(\.version).sorted().map(String.init).joined(separator: ", ")
                throw EngineError(.notFound, "model '\(name)' has no loaded version \(version) (loaded: \(versions))")
            }
            guard let loaded = slot.loaded else {
                throw EngineError(.unavailable, "model '\(name)' version \(version) is \(Self.describe(slot.status))")
            }
            return loaded
        }
        guard
            let best = slots.filter({ $0.value.loaded != nil }).max(by: { $0.key.version < $1.key.version })?.value
                .loaded
        else {
            throw EngineError(.unavailable, "model '\(name)' has no ready version")
        }
        return best
    }

    /// Every version the repository knows, by name then version.
    public func status() -> [VersionStatus] {
        self.state.withLock { slots in
            slots.map { VersionStatus(name: $0.key.name, version: $0.key.version, state: $0.value.status) }
        }.sorted { ($0.name, $0.version) < ($1.name, $1.version) }
    }

    private static func describe(_ state: VersionStatus.State) -> String {
        switch state {
        case .loading: "loading"
        case .ready: "ready"
        case .failed(let message): "failed: \(message)"
        }
    }

    private func make(_ name: String, _ version: Int) throws(EngineError) -> LoadedModel {
        let base = self.directory(of: name)
        let versionConfig = "\(base)/\(version)/config.json"
        let modelConfig = "\(base)/config.json"
        let manager = FileManager.default
        let config: ModelConfig
        if manager.fileExists(atPath: versionConfig) {
            do { config = try ModelConfig.read(versionConfig) } catch { throw EngineError(error) }
        } else if manager.fileExists(atPath: modelConfig) {
            do { config = try ModelConfig.read(modelConfig) } catch { throw EngineError(error) }
        } else {
            config = ModelConfig()
        }
        var options = self.options
        if let limit = config.maxBatchSize { options.maxBatchSize = min(limit, options.maxBatchSize ?? limit) }
        let path = "\(base)/\(version)/model.onnx"
        let model = try Model(contentsOf: path, options: options)
        try config.validate(against: model, source: "\(name)/\(version)")
        try model.warmUp(batchSizes: config.warmupBatchSizes)
        return LoadedModel(name: name, version: version, model: model, config: config, path: path)
    }

    /// Size and modification time of the files a version is made of, to notice changes.
    private func fingerprint(_ name: String, _ version: Int) -> String {
        let base = self.directory(of: name)
        return ["\(base)/\(version)/model.onnx", "\(base)/\(version)/config.json", "\(base)/config.json"].map { path in
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return "-" }
            let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
            let date = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(size)@\(date)"
        }.joined(separator: ";")
    }
}
