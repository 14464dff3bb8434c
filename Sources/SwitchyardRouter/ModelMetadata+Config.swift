internal import Foundation
public import SwitchyardGateway
public import SwitchyardModelConfig
public import SwitchyardRouting
internal import SwitchyardTensor

extension ModelMetadata {
    /// What the router tells HTTP clients of a model, from its `config.json` (the router loads no model):
    /// the inputs a request carries — the declared inputs, traced back through the preprocess steps that produce
    /// them — and the outputs an answer carries — the declared outputs plus what the postprocess steps add.
    /// - Parameters:
    ///   - name: the model's name.
    ///   - versions: the versions on the router's disk.
    ///   - config: the model's config.
    ///   - batching: the router's batching for the model.
    public init(name: String, versions: [Int], config: ModelConfig, batching: BatcherConfiguration) {
        let pipeline =
            config.pipelineJSON.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any]
            ?? [:]
        let policy: VersionPolicy =
            switch config.versionPolicy {
            case .latest(let count): .latest(count)
            case .specific(let versions): .specific(versions)
            case .all: .all
            }
        self.init(
            name: name, versions: versions.map(String.init), platform: "onnx",
            inputs: Self.inputs(config.inputs ?? [], preprocess: pipeline["preprocess"] as? [[String: Any]] ?? []),
            outputs: Self.outputs(
                config.outputs ?? [], postprocess: pipeline["postprocess"] as? [[String: Any]] ?? [],
                labels: config.labels != nil),
            maxBatchSize: batching.maxBatchSize,
            batching: Batching(batching),
            versionPolicy: policy)
    }

    /// The declared inputs, each traced back through the preprocess steps that write it: a step's `input` is what the
    /// request carries. An image step takes u8 pixels of any size; steps that reshape leave the dimensions open.
    static func inputs(_ declared: [ModelConfig.TensorSpec], preprocess steps: [[String: Any]]) -> [TensorMetadata] {
        declared.map { spec in
            var name = spec.name
            var dtype = spec.dtype ?? .float32
            var shape = spec.shape ?? [-1]
            for step in steps.reversed() {
                guard let input = step["input"] as? String, (step["output"] as? String ?? input) == name else {
                    continue
                }
                name = input
                switch step["op"] as? String {
                case "image":
                    dtype = .uint8
                    let channels = (step["channels"] as? NSNumber)?.intValue ?? 1
                    shape = channels > 1 ? [-1, -1, -1, channels] : [-1, -1, -1]
                case "reshape", "onehot":
                    shape = [Int](repeating: -1, count: max(shape.count, 2))
                default:
                    break  // cast, scale, clip, normalize, rename: same shape; any numeric type is converted
                }
            }
            return TensorMetadata(name: name, dtype: dtype, shape: shape)
        }
    }

    /// The declared outputs with what each postprocess step adds or replaces, as `Postprocess` names them.
    static func outputs(_ declared: [ModelConfig.TensorSpec], postprocess steps: [[String: Any]], labels: Bool)
        -> [TensorMetadata]
    {
        var outputs = declared.map {
            TensorMetadata(name: $0.name, dtype: $0.dtype ?? .float32, shape: $0.shape ?? [-1])
        }
        func put(_ tensor: TensorMetadata) {
            if let index = outputs.firstIndex(where: { $0.name == tensor.name }) {
                outputs[index] = tensor
            } else {
                outputs.append(tensor)
            }
        }
        for step in steps {
            guard let input = step["input"] as? String else { continue }
            let classes = outputs.first { $0.name == input }?.shape.last ?? -1
            switch step["op"] as? String {
            case "softmax":
                put(TensorMetadata(name: step["output"] as? String ?? input, dtype: .float32, shape: [-1, classes]))
            case "topk":
                let k = (step["k"] as? NSNumber)?.intValue ?? 1
                let kept = classes > 0 ? min(k, classes) : k
                put(TensorMetadata(name: "\(input).topk.ids", dtype: .int64, shape: [-1, kept]))
                put(TensorMetadata(name: "\(input).topk.scores", dtype: .float32, shape: [-1, kept]))
                if labels { put(TensorMetadata(name: "\(input).topk.labels", dtype: .bytes, shape: [-1, kept])) }
            case "argmax":
                put(TensorMetadata(name: "label_id", dtype: .int64, shape: [-1]))
                put(TensorMetadata(name: "score", dtype: .float32, shape: [-1]))
                if labels { put(TensorMetadata(name: "label", dtype: .bytes, shape: [-1])) }
            case "threshold":
                put(TensorMetadata(name: "accepted", dtype: .bool, shape: [-1]))
            default:
                break
            }
        }
        return outputs
    }
}

extension ModelMetadata.Batching {
    /// The router's batching of a model, with Triton's names.
    init(_ configuration: BatcherConfiguration) {
        let delay = configuration.maxQueueDelay.components
        self.init(
            preferredBatchSizes: configuration.preferredBatchSizes,
            maxQueueDelayMicroseconds: Int(delay.seconds) * 1_000_000 + Int(delay.attoseconds / 1_000_000_000_000),
            maxQueueSize: configuration.maxQueueSize)
    }
}
