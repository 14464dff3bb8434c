public import Foundation
public import SwitchyardTensor

/// The `config.json` beside a model's versions: `models/<name>/config.json` (for every version), or
/// `models/<name>/<version>/config.json` (replaces it for that version).
///
/// ```json
/// {
///   "name": "digits",
///   "max_batch_size": 256,
///   "inputs":  [{"name": "X", "dtype": "f32", "shape": [-1, 64]}],
///   "outputs": [{"name": "probabilities", "dtype": "f32", "shape": [-1, 10]}],
///   "labels": ["0", "1", "2"],
///   "version_policy": {"latest": 1},
///   "warmup": {"batch_sizes": [1, 8]},
///   "pipeline": {...}
/// }
/// ```
/// Every key is optional. Unknown keys are refused with their name, so a typo never passes silently.
/// `inputs` and `outputs`, when given, are checked against the graph at load (`-1` is a dynamic
/// dimension). `labels_file` names a file of one label per line, relative to the config.
public struct ModelConfig: Sendable, Equatable {
    /// The model's name; defaults to its directory's name.
    public var name: String?
    /// A line for people.
    public var description: String?
    /// The largest batch the model accepts (the batcher's limit too).
    public var maxBatchSize: Int?
    /// Expected inputs, checked against the graph.
    public var inputs: [TensorSpec]?
    /// Expected outputs, checked against the graph.
    public var outputs: [TensorSpec]?
    /// Class labels, index by index.
    public var labels: [String]?
    /// Which versions the repository loads.
    public var versionPolicy: VersionPolicy
    /// Batch sizes run once at load, so the first request finds plans and buffers ready.
    public var warmupBatchSizes: [Int]
    /// The pre/post pipeline, kept as JSON text for the pipeline library to read.
    public var pipelineJSON: String?
    /// The router's batching for this model (Triton's `dynamic_batching`); unset fields take the router's flags.
    public var dynamicBatching = DynamicBatching()
    /// How a compressed version was made (`yard quantize`, `prune`, `convert`), kept as JSON text; serving ignores it.
    public var compressionJSON: String?

    /// Batching settings of one model, with Triton's names.
    public struct DynamicBatching: Sendable, Equatable {
        /// `preferred_batch_size`: batch sizes sent without waiting for more while the model is busy.
        public var preferredBatchSizes: [Int]?
        /// `max_queue_delay_microseconds`: how long a queued request waits for company.
        public var maxQueueDelayMicroseconds: Int?
        /// `max_queue_size`: queued requests beyond which new ones are shed.
        public var maxQueueSize: Int?

        public init() {}
    }

    /// The keys a config file may have.
    public static let keys: Set<String> = [
        "name", "description", "max_batch_size", "inputs", "outputs", "labels", "labels_file", "version_policy",
        "warmup",
        "pipeline", "dynamic_batching", "compression",
    ]

    /// A config with every default (latest version, warm-up at batch 1).
    public init() {
        self.versionPolicy = .latest(1)
        self.warmupBatchSizes = [1]
    }

    /// An expected input or output.
    public struct TensorSpec: Sendable, Equatable {
        /// The name in the graph.
        public var name: String
        /// The element type, when given.
        public var dtype: DType?
        /// The dimensions, `-1` for dynamic, when given.
        public var shape: [Int]?
    }

    /// Reads a config file.
    /// - Parameter path: the `config.json`.
    /// - Throws: `ModelConfigError.invalidConfig` naming the key at fault, `ModelConfigError.io` when unreadable.
    public static func read(_ path: String) throws(ModelConfigError) -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelConfigError(.io, "\(path): cannot read")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try Self.decode(data, source: path, directory: directory)
    }

    /// Decodes config JSON.
    /// - Parameters:
    ///   - data: the JSON.
    ///   - source: a name for messages.
    ///   - directory: where `labels_file` is looked up.
    /// - Throws: `ModelConfigError.invalidConfig` naming the key at fault.
    public static func decode(
        _ data: Data,
        source: String,
        directory: String = "."
    ) throws(ModelConfigError) -> ModelConfig {
        func fail(_ message: String) -> ModelConfigError { ModelConfigError(.invalidConfig, "\(source): \(message)") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw fail("not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else { throw fail("the top level must be an object") }
        for key in root.keys where !Self.keys.contains(key) {
            throw fail("unknown key '\(key)' (known: \(Self.keys.sorted().joined(separator: ", ")))")
        }
        var config = ModelConfig()
        if let value = root["name"] {
            guard let name = value as? String, !name.isEmpty else { throw fail("'name' must be a non-empty string") }
            config.name = name
        }
        if let value = root["description"] {
            guard let text = value as? String else { throw fail("'description' must be a string") }
            config.description = text
        }
        if let value = root["max_batch_size"] {
            guard let number = Self.integer(value), (1...1 << 20).contains(number) else {
                throw fail("'max_batch_size' must be an integer in 1...1048576")
            }
            config.maxBatchSize = number
        }
        for key in ["inputs", "outputs"] {
            guard let value = root[key] else { continue }
            guard let list = value as? [[String: Any]] else { throw fail("'\(key)' must be a list of objects") }
            var specs: [TensorSpec] = []
            for (index, entry) in list.enumerated() {
                for field in entry.keys where !["name", "dtype", "shape"].contains(field) {
                    throw fail("unknown key '\(key)[\(index)].\(field)'")
                }
                guard let name = entry["name"] as? String else {
                    throw fail("'\(key)[\(index)].name' must be a string")
                }
                var spec = TensorSpec(name: name, dtype: nil, shape: nil)
                if let text = entry["dtype"] {
                    guard let text = text as? String, let dtype = DType(name: text) else {
                        throw fail("'\(key)[\(index)].dtype' must be one of f32, f64, i64, i32, i8, u8, bool")
                    }
                    spec.dtype = dtype
                }
                if let dims = entry["shape"] {
                    guard let list = dims as? [Any], case let numbers = list.compactMap(Self.integer),
                        numbers.count == list.count,
                        numbers.allSatisfy({ $0 >= -1 })
                    else { throw fail("'\(key)[\(index)].shape' must be a list of integers (-1 for dynamic)") }
                    spec.shape = numbers
                }
                specs.append(spec)
            }
            if key == "inputs" { config.inputs = specs } else { config.outputs = specs }
        }
        if let value = root["labels"] {
            guard let labels = value as? [String] else { throw fail("'labels' must be a list of strings") }
            config.labels = labels
        }
        if let value = root["labels_file"] {
            guard let file = value as? String else { throw fail("'labels_file' must be a string") }
            let path = file.hasPrefix("/") ? file : directory + "/" + file
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw fail("'labels_file' \(path) cannot be read")
            }
            config.labels = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                .filter { !$0.isEmpty }
        }
        if let value = root["version_policy"] {
            config.versionPolicy = try VersionPolicy(json: value) { fail("'version_policy' \($0)") }
        }
        if let value = root["warmup"] {
            guard let object = value as? [String: Any] else { throw fail("'warmup' must be an object") }
            for field in object.keys where field != "batch_sizes" { throw fail("unknown key 'warmup.\(field)'") }
            guard let list = object["batch_sizes"] as? [Any], case let sizes = list.compactMap(Self.integer),
                sizes.count == list.count, sizes.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 })
            else { throw fail("'warmup.batch_sizes' must be a list of positive integers") }
            config.warmupBatchSizes = sizes
        }
        if let value = root["dynamic_batching"] {
            guard let object = value as? [String: Any] else { throw fail("'dynamic_batching' must be an object") }
            for field in object.keys
            where !["preferred_batch_size", "max_queue_delay_microseconds", "max_queue_size"].contains(field) {
                throw fail(
                    "unknown key 'dynamic_batching.\(field)' (known: preferred_batch_size, max_queue_delay_microseconds, max_queue_size)"
                )
            }
            if let list = object["preferred_batch_size"] {
                guard let list = list as? [Any], case let sizes = list.compactMap(Self.integer),
                    sizes.count == list.count,
                    sizes.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 })
                else { throw fail("'dynamic_batching.preferred_batch_size' must be a list of positive integers") }
                config.dynamicBatching.preferredBatchSizes = sizes
            }
            if let delay = object["max_queue_delay_microseconds"] {
                guard let delay = Self.integer(delay), (0...10_000_000).contains(delay) else {
                    throw fail("'dynamic_batching.max_queue_delay_microseconds' must be an integer in 0...10000000")
                }
                config.dynamicBatching.maxQueueDelayMicroseconds = delay
            }
            if let size = object["max_queue_size"] {
                guard let size = Self.integer(size), (1...1_000_000).contains(size) else {
                    throw fail("'dynamic_batching.max_queue_size' must be an integer in 1...1000000")
                }
                config.dynamicBatching.maxQueueSize = size
            }
        }
        if let value = root["pipeline"] {
            guard JSONSerialization.isValidJSONObject(value),
                let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
            else { throw fail("'pipeline' must be an object or a list") }
            config.pipelineJSON = String(decoding: data, as: UTF8.self)
        }
        if let value = root["compression"] {
            guard value is [String: Any], JSONSerialization.isValidJSONObject(value),
                let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
            else { throw fail("'compression' must be an object") }
            config.compressionJSON = String(decoding: data, as: UTF8.self)
        }
        return config
    }

    /// A JSON integer (not a boolean, not a fraction).
    static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        let type = String(cString: number.objCType)
        if type == "c" || type == "B" { return nil }  // JSON true/false arrive as boolean NSNumbers
        let double = number.doubleValue
        guard double.rounded() == double, abs(double) < 1e15 else { return nil }
        return Int(double)
    }
}
