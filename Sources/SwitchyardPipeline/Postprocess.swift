import Foundation
public import SwitchyardTensor

/// The postprocessing steps of one model, applied to its outputs in order.
///
/// Declared in the model's `config.json` under `pipeline.postprocess`:
///
/// ```json
/// "pipeline": {"postprocess": [
///   {"op": "softmax", "input": "logits", "output": "probabilities", "temperature": 1.0},
///   {"op": "topk", "input": "probabilities", "k": 3},
///   {"op": "argmax", "input": "probabilities"},
///   {"op": "threshold", "input": "probabilities", "min": 0.5}
/// ]}
/// ```
///
/// - `softmax` turns logits (f32 `[batch, classes]`) into probabilities, dividing by `temperature` first
///   (default 1); `output` names the result (default: replaces `input`).
/// - `topk` adds `<input>.topk.ids` (i64 `[batch, k]`), `<input>.topk.scores` (f32 `[batch, k]`) and, when the
///   model has labels, `<input>.topk.labels` (bytes `[batch, k]`), best first.
/// - `argmax` adds `label_id` (i64 `[batch]`), `score` (f32 `[batch]`) and, with labels, `label` (bytes `[batch]`).
/// - `threshold` adds `accepted` (bool `[batch]`): whether the row's best score is at least `min`.
///
/// Steps see the outputs of the steps before them. Outputs the steps do not replace pass through.
public struct Postprocess: Sendable {
    enum Step: Sendable, Equatable {
        case softmax(input: String, output: String, temperature: Float)
        case topK(input: String, k: Int)
        case argmax(input: String)
        case threshold(input: String, minimum: Float)
    }

    let steps: [Step]
    /// Class labels in index order, when the model has them.
    public let labels: [String]?

    /// No steps: outputs pass through.
    public static let identity = Postprocess(steps: [], labels: nil)

    init(steps: [Step], labels: [String]?) {
        self.steps = steps
        self.labels = labels
    }

    /// Reads the `postprocess` list of a model's `pipeline` config.
    /// - Parameters:
    ///   - pipelineJSON: the model config's `pipeline` value as JSON text, or `nil` for no pipeline.
    ///   - labels: the model's class labels.
    /// - Throws: `PipelineError.invalidConfig` naming the step and key that are wrong.
    public init(pipelineJSON: String?, labels: [String]?) throws(PipelineError) {
        self.labels = labels
        guard let pipelineJSON else {
            self.steps = []
            return
        }
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: Data(pipelineJSON.utf8))
        } catch {
            throw PipelineError(.invalidConfig, "pipeline is not valid JSON: \(error.localizedDescription)")
        }
        guard let object = root as? [String: Any] else {
            throw PipelineError(
                .invalidConfig,
                "pipeline must be an object with 'preprocess' and/or 'postprocess' lists"
            )
        }
        for key in object.keys where key != "preprocess" && key != "postprocess" {
            throw PipelineError(.invalidConfig, "pipeline has an unknown key '\(key)' (known: preprocess, postprocess)")
        }
        guard let list = object["postprocess"] else {
            self.steps = []
            return
        }
        guard let items = list as? [[String: Any]] else {
            throw PipelineError(.invalidConfig, "pipeline.postprocess must be a list of steps")
        }
        var steps: [Step] = []
        for (index, item) in items.enumerated() {
            let place = "pipeline.postprocess[\(index)]"
            guard let op = item["op"] as? String else { throw PipelineError(.invalidConfig, "\(place) needs an 'op'") }
            guard let input = item["input"] as? String, !input.isEmpty else {
                throw PipelineError(.invalidConfig, "\(place) (\(op)) needs an 'input' output name")
            }
            let allowed: Set<String>
            switch op {
            case "softmax":
                allowed = ["op", "input", "output", "temperature"]
                let temperature = try Self.number(item["temperature"], default: 1, place: place, key: "temperature")
                guard temperature > 0 else {
                    throw PipelineError(.invalidConfig, "\(place).temperature must be above 0")
                }
                steps.append(
                    .softmax(input: input, output: (item["output"] as? String) ?? input, temperature: temperature)
                )
            case "topk":
                allowed = ["op", "input", "k"]
                let k = try Self.number(item["k"], default: 1, place: place, key: "k")
                guard k >= 1, k <= 1_000_000, k == k.rounded() else {
                    throw PipelineError(.invalidConfig, "\(place).k must be a whole number ≥ 1")
                }
                steps.append(.topK(input: input, k: Int(k)))
            case "argmax":
                allowed = ["op", "input"]
                steps.append(.argmax(input: input))
            case "threshold":
                allowed = ["op", "input", "min"]
                guard item["min"] != nil else {
                    throw PipelineError(.invalidConfig, "\(place) (threshold) needs 'min'")
                }
                steps.append(
                    .threshold(
                        input: input,
                        minimum: try Self.number(item["min"], default: 0, place: place, key: "min")
                    )
                )
            default:
                throw PipelineError(
                    .invalidConfig,
                    "\(place) has unknown op '\(op)' (known: softmax, topk, argmax, threshold)"
                )
            }
            for key in item.keys where !allowed.contains(key) {
                throw PipelineError(.invalidConfig, "\(place) (\(op)) has an unknown key '\(key)'")
            }
        }
        self.steps = steps
    }

    private static func number(
        _ value: Any?,
        default fallback: Float,
        place: String,
        key: String
    ) throws(PipelineError) -> Float {
        guard let value else { return fallback }
        guard let number = value as? NSNumber else {
            throw PipelineError(.invalidConfig, "\(place).\(key) must be a number")
        }
        return number.floatValue
    }

    /// Applies the steps to a model's outputs.
    /// - Parameter outputs: the inference stage's outputs; the first dimension is the batch.
    /// - Returns: the outputs, with replaced and added tensors.
    /// - Throws: `PipelineError.invalidInput` when a step's input is missing or is not f32 `[batch, classes]`.
    public func apply(to outputs: [NamedTensor]) throws(PipelineError) -> [NamedTensor] {
        var tensors = outputs
        func matrix(_ name: String, for op: String) throws(PipelineError) -> (rows: Int, columns: Int, values: [Float])
        {
            guard let tensor = tensors.first(where: { $0.name == name })?.tensor else {
                let known = tensors.map(\.name).joined(separator: ", ")
                throw PipelineError(
                    .invalidInput,
                    "\(op) needs the output '\(name)', which the model did not produce (outputs: \(known))"
                )
            }
            guard tensor.dtype == .float32, tensor.shape.rank == 2 else {
                throw PipelineError(
                    .invalidInput,
                    "\(op) needs '\(name)' as f32 [batch, classes], got \(tensor.dtype)\(tensor.shape)"
                )
            }
            return (tensor.shape[0], tensor.shape[1], (try? tensor.scalars(as: Float.self)) ?? [])
        }
        func put(_ name: String, _ tensor: Tensor) {
            if let index = tensors.firstIndex(where: { $0.name == name }) {
                tensors[index] = NamedTensor(name, tensor)
            } else {
                tensors.append(NamedTensor(name, tensor))
            }
        }
        func label(_ index: Int) -> String {
            guard let labels, index < labels.count else { return String(index) }
            return labels[index]
        }
        do {
            for step in self.steps {
                switch step {
                case .softmax(let input, let output, let temperature):
                    let (rows, columns, values) = try matrix(input, for: "softmax")
                    var result = [Float](repeating: 0, count: values.count)
                    for row in 0..<rows {
                        let slice = values[(row * columns)..<((row + 1) * columns)].map { $0 / temperature }
                        let top = slice.max() ?? 0
                        let exps = slice.map { expf($0 - top) }
                        let sum = exps.reduce(0, +)
                        for column in 0..<columns { result[row * columns + column] = exps[column] / sum }
                    }
                    put(output, try Tensor(result, shape: [rows, columns]))
                case .topK(let input, let k):
                    let (rows, columns, values) = try matrix(input, for: "topk")
                    let kept = min(k, columns)
                    var ids: [Int64] = []
                    var scores: [Float] = []
                    var names: [String] = []
                    for row in 0..<rows {
                        let order = (0..<columns).sorted { values[row * columns + $0] > values[row * columns + $1] }
                            .prefix(kept)
                        for index in order {
                            ids.append(Int64(index))
                            scores.append(values[row * columns + index])
                            names.append(label(index))
                        }
                    }
                    put("\(input).topk.ids", try Tensor(ids, shape: [rows, kept]))
                    put("\(input).topk.scores", try Tensor(scores, shape: [rows, kept]))
                    if self.labels != nil {
                        put("\(input).topk.labels", try Tensor(strings: names, shape: [rows, kept]))
                    }
                case .argmax(let input):
                    let (rows, columns, values) = try matrix(input, for: "argmax")
                    guard columns > 0 else {
                        throw PipelineError(.invalidInput, "argmax needs at least one class in '\(input)'")
                    }
                    var ids: [Int64] = []
                    var scores: [Float] = []
                    for row in 0..<rows {
                        var best = 0
                        for column in 1..<max(1, columns)
                        where values[row * columns + column] > values[row * columns + best] { best = column }
                        ids.append(Int64(best))
                        scores.append(values[row * columns + best])
                    }
                    put("label_id", try Tensor(ids, shape: [rows]))
                    put("score", try Tensor(scores, shape: [rows]))
                    if self.labels != nil {
                        put("label", try Tensor(strings: ids.map { label(Int($0)) }, shape: [rows]))
                    }
                case .threshold(let input, let minimum):
                    let (rows, columns, values) = try matrix(input, for: "threshold")
                    let accepted = (0..<rows).map { row in
                        (0..<columns).map { values[row * columns + $0] }.max().map { $0 >= minimum } ?? false
                    }
                    put("accepted", try Tensor(accepted, shape: [rows]))
                }
            }
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(.invalidInput, "\(error)")
        }
        return tensors
    }
}
