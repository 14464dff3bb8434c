import Foundation

/// The models of a repository directory as their configs describe them, read without loading any model:
/// `<root>/<name>/<version>/model.onnx` with an optional `<root>/<name>/config.json` (see ``ModelConfig``).
///
/// The router reads it for model names and batching limits, the pipeline stages for their pipelines, the engine's
/// repository for what to load; none of them needs the others to read a config.
public struct ModelCatalog: Sendable {
    /// A model found on disk.
    public struct Entry: Sendable {
        /// The model's name (the config's `name`, or its directory's).
        public var name: String
        /// The directory under the root that holds it.
        public var directory: String
        /// Version numbers with a `model.onnx`, ascending.
        public var versions: [Int]
        /// The model-level config, or the defaults.
        public var config: ModelConfig
    }

    /// The models whose configs could be read, by directory order.
    public var entries: [Entry]
    /// Model directories whose config is broken, with why.
    public var failures: [String: ModelConfigError]

    /// Lists the models and versions under `root`.
    /// - Parameter root: the repository directory, one directory per model.
    /// - Throws: `ModelConfigError.io` when the root cannot be listed; a broken config is put in ``failures``.
    public init(root: String) throws(ModelConfigError) {
        let manager = FileManager.default
        let names: [String]
        do { names = try manager.contentsOfDirectory(atPath: root).sorted() } catch {
            throw ModelConfigError(.io, "\(root): cannot list the model repository", cause: error)
        }
        var entries: [Entry] = []
        var failures: [String: ModelConfigError] = [:]
        for directory in names where !directory.hasPrefix(".") {
            let path = root + "/" + directory
            // a file, not a model
            guard let children = try? manager.contentsOfDirectory(atPath: path) else { continue }
            let versions = children.compactMap { Int($0) }.filter {
                $0 >= 1 && manager.fileExists(atPath: "\(path)/\($0)/model.onnx")
            }
            do {
                let configPath = path + "/config.json"
                let config = manager.fileExists(atPath: configPath) ? try ModelConfig.read(configPath) : ModelConfig()
                entries.append(
                    Entry(
                        name: config.name ?? directory,
                        directory: directory,
                        versions: versions.sorted(),
                        config: config
                    )
                )
            } catch {
                failures[directory] = error
            }
        }
        self.entries = entries
        self.failures = failures
    }
}
