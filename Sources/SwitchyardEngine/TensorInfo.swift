public import SwitchyardTensor

/// The name, element type and dimensions of a model input or output.
public struct TensorInfo: Sendable, Equatable, CustomStringConvertible {
    /// The name in the graph.
    public var name: String
    /// The element type.
    public var dtype: DType
    /// The dimensions; `nil` marks a dynamic one (usually the batch).
    public var dims: [Int?]

    /// Makes a description.
    /// - Parameters:
    ///   - name: the name in the graph.
    ///   - dtype: the element type.
    ///   - dims: the dimensions, `nil` where dynamic.
    public init(name: String, dtype: DType, dims: [Int?]) {
        self.name = name
        self.dtype = dtype
        self.dims = dims
    }

    /// The shape as text, `?` for dynamic dimensions: `[?,64]`.
    public var shapeText: String { "[" + self.dims.map { $0.map(String.init) ?? "?" }.joined(separator: ",") + "]" }

    public var description: String { "\(self.name): \(self.dtype)\(self.shapeText)" }
}

/// What `yard model inspect` shows: where the model came from and what it contains.
public struct ModelSummary: Sendable {
    /// The default-domain opset the model imports.
    public var opsetVersion: Int
    /// The ai.onnx.ml opset, when imported.
    public var mlOpsetVersion: Int?
    /// The ONNX IR version of the file.
    public var irVersion: Int
    /// The producer name and version recorded in the file.
    public var producer: String
    /// How many nodes use each operator, as written in the file (before fusion).
    public var operators: [String: Int]
    /// The number of nodes in the file.
    public var nodeCount: Int
    /// The number of nodes the engine runs after fusion and constant folding.
    public var plannedNodeCount: Int
    /// The number of scalar parameters in the initializers.
    public var parameterCount: Int
}

/// Options for loading a model.
public struct ModelOptions: Sendable {
    /// Fold bias adds and activations into GEMM and Conv epilogues.
    public var fuse: Bool = true
    /// Run 2-D convolutions on oneDNN where it has vector kernels for this CPU (measured faster than im2col over
    /// OpenBLAS in `bench/RESULTS-engine.md`); `false` keeps them on im2col and OpenBLAS.
    public var oneDNNConvolution: Bool = true
    /// Run MatMul and Gemm with constant weights on oneDNN's matmul, the weights packed once at load (measured
    /// faster than OpenBLAS's sgemm, which packs them on every call, in `bench/RESULTS-engine.md`); `false` keeps
    /// them on OpenBLAS.
    public var oneDNNMatMul: Bool = true
    /// Keep images channels-last (NHWC) from one oneDNN convolution to the next, through pooling, residual adds and
    /// activations, instead of moving each layer's image from NCHW and back; `false` moves them per layer (for
    /// comparison). Needs `oneDNNConvolution`.
    public var channelsLast: Bool = true
    /// When shapes depend on a request's data from some node on, plan the nodes before it once per input shapes and
    /// run only the rest node by node; `false` runs such requests node by node from the start (for comparison).
    public var planStaticPrefix: Bool = true
    /// The number of execution plans (one per distinct input shape) kept; the least recently used goes first.
    public var planCacheCapacity: Int = 64
    /// The largest batch accepted; `nil` for no limit beyond the model's own.
    public var maxBatchSize: Int? = nil

    /// The defaults, optionally changed by `configure`.
    /// - Parameter configure: edits the defaults.
    public static func defaults(configure: (inout ModelOptions) -> Void = { _ in }) -> ModelOptions {
        var options = ModelOptions()
        configure(&options)
        return options
    }

    /// Makes the default options.
    public init() {}
}
