import Foundation
public import SwitchyardTensor

/// The preprocessing steps of one model and the inputs it declares, applied to a request's tensors.
///
/// Declared in the model's `config.json` under `pipeline.preprocess`; the result is checked against the
/// model's `inputs` (name, dtype, shape with `-1` for any size) and converted to the declared dtype.
///
/// ```json
/// "pipeline": {"preprocess": [
///   {"op": "image", "input": "image", "output": "X", "channels": 1, "height": 8, "width": 8, "layout": "flat"},
///   {"op": "scale", "input": "X", "by": 0.0627451},
///   {"op": "clip", "input": "X", "min": 0, "max": 16}
/// ]}
/// ```
///
/// Steps (each reads `input` and writes `output`, default `input`): `image` (u8 pixels `[batch, h, w]` or
/// `[batch, h, w, c]`, or PNG bytes `[batch]`; bilinear resize to `height`×`width`; `layout` `flat`, `nhwc` or
/// `nchw`), `cast` (to f32), `scale` (`x * by + offset`), `clip` (`min`, `max`), `normalize` / `standardize`
/// (`(x - mean) / std` along `axis`, default the last; `mean`/`std` lists with one value per index, or one
/// value), `reshape` (`shape`, with one `-1` and `0` meaning "as the input"), `onehot` (the `column` of a
/// `[batch, features]` tensor becomes one column per entry of `categories`; `unknown`: `error` or `zeros`),
/// `rename`. Tensors are accepted as f32, f64, i64, i32, u8, i8 or bool.
public struct Preprocess: Sendable {
    enum Step: Sendable {
        case image(input: String, output: String, channels: Int, height: Int, width: Int, layout: String)
        case cast(input: String, output: String)
        case scale(input: String, output: String, by: Float, offset: Float)
        case clip(input: String, output: String, min: Float, max: Float)
        case normalize(input: String, output: String, mean: [Float], std: [Float], axis: Int)
        case reshape(input: String, output: String, shape: [Int])
        case onehot(input: String, output: String, column: Int, categories: [Float], unknownIsError: Bool)
        case rename(input: String, output: String)
    }

    /// A model input as the config declares it.
    public struct Input: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        /// `nil` entries (`-1` in the config) match any size.
        public var shape: [Int?]

        /// Declares an input.
        public init(name: String, dtype: DType, shape: [Int?]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }

        var rendered: String { "\(self.name): \(self.dtype)[" + self.shape.map { $0.map(String.init) ?? "*" }.joined(separator: ",") + "]" }
    }

    let steps: [Step]
    /// The inputs the model declares; empty when the config declares none (then only the steps run).
    public let inputs: [Input]
    /// The pixels an `image` step decodes per image and per request; more is refused as `invalid argument`.
    public var pixelLimits = PixelBudget.defaults
    /// Whether a step decodes or resizes images: work to keep off an event loop.
    public var hasImageStep: Bool { self.steps.contains { if case .image = $0 { true } else { false } } }

    /// Reads the `preprocess` list of a model's `pipeline` config.
    /// - Parameters:
    ///   - pipelineJSON: the `pipeline` value as JSON text, or `nil` for none.
    ///   - inputs: the model's declared inputs.
    /// - Throws: `PipelineError.invalidConfig` naming the step and key that are wrong.
    public init(pipelineJSON: String?, inputs: [Input]) throws(PipelineError) {
        self.inputs = inputs
        guard let pipelineJSON else {
            self.steps = []
            return
        }
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: Data(pipelineJSON.utf8)) as? [String: Any] else {
                throw PipelineError(.invalidConfig, "pipeline must be an object")
            }
            root = object
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(.invalidConfig, "pipeline is not valid JSON: \(error.localizedDescription)")
        }
        guard let list = root["preprocess"] else {
            self.steps = []
            return
        }
        guard let items = list as? [[String: Any]] else { throw PipelineError(.invalidConfig, "pipeline.preprocess must be a list of steps") }
        var steps: [Step] = []
        for (index, item) in items.enumerated() {
            steps.append(try Self.step(item, place: "pipeline.preprocess[\(index)]"))
        }
        self.steps = steps
    }

    private static func step(_ item: [String: Any], place: String) throws(PipelineError) -> Step {
        guard let op = item["op"] as? String else { throw PipelineError(.invalidConfig, "\(place) needs an 'op'") }
        guard let input = item["input"] as? String, !input.isEmpty else {
            throw PipelineError(.invalidConfig, "\(place) (\(op)) needs an 'input' tensor name")
        }
        let output = (item["output"] as? String) ?? input
        func number(_ key: String, _ fallback: Float? = nil) throws(PipelineError) -> Float {
            guard let value = item[key] else {
                guard let fallback else { throw PipelineError(.invalidConfig, "\(place) (\(op)) needs '\(key)'") }
                return fallback
            }
            guard let number = value as? NSNumber else { throw PipelineError(.invalidConfig, "\(place).\(key) must be a number") }
            return number.floatValue
        }
        func integer(_ key: String, _ fallback: Int? = nil) throws(PipelineError) -> Int {
            let value = try number(key, fallback.map(Float.init))
            guard value == value.rounded(), abs(value) < 1e9 else { throw PipelineError(.invalidConfig, "\(place).\(key) must be a whole number") }
            return Int(value)
        }
        func numbers(_ key: String) throws(PipelineError) -> [Float] {
            guard let list = item[key] as? [Any], !list.isEmpty else {
                throw PipelineError(.invalidConfig, "\(place) (\(op)) needs '\(key)' as a non-empty list of numbers")
            }
            var result: [Float] = []
            for value in list {
                guard let number = value as? NSNumber else { throw PipelineError(.invalidConfig, "\(place).\(key) must hold numbers") }
                result.append(number.floatValue)
            }
            return result
        }
        var allowed: Set<String> = ["op", "input", "output"]
        let step: Step
        switch op {
        case "image":
            allowed.formUnion(["channels", "height", "width", "layout"])
            let channels = try integer("channels", 1)
            guard channels == 1 || channels == 3 else { throw PipelineError(.invalidConfig, "\(place).channels must be 1 or 3") }
            let height = try integer("height")
            let width = try integer("width")
            guard (1...16384).contains(height), (1...16384).contains(width) else {
                throw PipelineError(.invalidConfig, "\(place): height and width must be 1...16384")
            }
            let layout = (item["layout"] as? String) ?? "nhwc"
            guard ["flat", "nhwc", "nchw"].contains(layout) else { throw PipelineError(.invalidConfig, "\(place).layout must be flat, nhwc or nchw") }
            step = .image(input: input, output: output, channels: channels, height: height, width: width, layout: layout)
        case "cast":
            allowed.insert("dtype")
            guard (item["dtype"] as? String ?? "f32") == "f32" else { throw PipelineError(.invalidConfig, "\(place).dtype: steps work in f32; the model's declared dtype is applied at the end") }
            step = .cast(input: input, output: output)
        case "scale":
            allowed.formUnion(["by", "offset"])
            step = .scale(input: input, output: output, by: try number("by", 1), offset: try number("offset", 0))
        case "clip":
            allowed.formUnion(["min", "max"])
            let low = try number("min", -.infinity)
            let high = try number("max", .infinity)
            guard low <= high else { throw PipelineError(.invalidConfig, "\(place): min must not exceed max") }
            step = .clip(input: input, output: output, min: low, max: high)
        case "normalize", "standardize":
            allowed.formUnion(["mean", "std", "axis"])
            let std = try numbers("std")
            guard std.allSatisfy({ $0 > 0 }) else { throw PipelineError(.invalidConfig, "\(place).std must be above 0") }
            step = .normalize(input: input, output: output, mean: try numbers("mean"), std: std, axis: try integer("axis", -1))
        case "reshape":
            allowed.insert("shape")
            let shape = try numbers("shape").map { Int($0) }
            guard shape.filter({ $0 == -1 }).count <= 1, shape.allSatisfy({ $0 >= -1 }) else {
                throw PipelineError(.invalidConfig, "\(place).shape may hold one -1 and no other negative value")
            }
            step = .reshape(input: input, output: output, shape: shape)
        case "onehot":
            allowed.formUnion(["column", "categories", "unknown"])
            let unknown = (item["unknown"] as? String) ?? "error"
            guard unknown == "error" || unknown == "zeros" else { throw PipelineError(.invalidConfig, "\(place).unknown must be error or zeros") }
            let column = try integer("column")
            guard column >= 0 else { throw PipelineError(.invalidConfig, "\(place).column must be 0 or more") }
            step = .onehot(input: input, output: output, column: column, categories: try numbers("categories"), unknownIsError: unknown == "error")
        case "rename":
            guard item["output"] is String else { throw PipelineError(.invalidConfig, "\(place) (rename) needs 'output'") }
            step = .rename(input: input, output: output)
        default:
            throw PipelineError(.invalidConfig, "\(place) has unknown op '\(op)' (known: image, cast, scale, clip, normalize, standardize, reshape, onehot, rename)")
        }
        for key in item.keys where !allowed.contains(key) {
            throw PipelineError(.invalidConfig, "\(place) (\(op)) has an unknown key '\(key)'")
        }
        return step
    }
}
