/// A tree ensemble as the ONNX operators describe it (TreeEnsembleClassifier/Regressor 1 and 3, TreeEnsemble 5),
/// before it is checked and compiled into a ``TreeForest``.
struct TreeEnsembleSpec: Sendable {
    /// How a branch compares the feature with its threshold; the true child is taken when it holds.
    enum Mode: UInt8, Sendable {
        case leq = 0
        case lt, gte, gt, eq, neq, member
    }

    /// A node reference: `>= 0` a branch index, `< 0` the leaf `~reference`.
    typealias Reference = Int32

    struct Branch: Sendable {
        var mode: Mode
        var feature: Int
        var threshold: Double
        /// The values of a `member` branch.
        var members: [Double] = []
        /// A NaN feature takes the true branch (otherwise the comparison decides, which sends NaN false).
        var missingTracksTrue: Bool
        var onTrue: Reference
        var onFalse: Reference
    }

    /// What a leaf adds to the targets (classes) it names, in the order the file lists them.
    struct Leaf: Sendable {
        var targets: [Int32] = []
        var values: [Double] = []
    }

    enum Aggregate: Sendable {
        case sum, average, min, max
    }

    var branches: [Branch] = []
    var leaves: [Leaf] = []
    /// One root per tree, in the order the ensemble sums them.
    var roots: [Reference] = []
    var targets: Int = 1
    var aggregate: Aggregate = .sum
    /// Thresholds and weights were given as doubles (`*_as_tensor`, or a double TreeEnsemble): scores are
    /// accumulated in double precision, as onnxruntime does.
    var doublePrecision = false
}

/// The post transforms of the ai.onnx.ml operators, computed as onnxruntime computes them (in float).
enum PostTransform: Sendable, Equatable {
    case none, softmax, logistic, softmaxZero, probit

    init?(name: String) {
        switch name {
        case "NONE": self = .none
        case "SOFTMAX": self = .softmax
        case "LOGISTIC": self = .logistic
        case "SOFTMAX_ZERO": self = .softmaxZero
        case "PROBIT": self = .probit
        default: return nil
        }
    }

    /// The codes of TreeEnsemble 5 as the ONNX spec numbers them (onnxruntime 1.32 swaps 1 and 2).
    init?(code: Int) {
        switch code {
        case 0: self = .none
        case 1: self = .softmax
        case 2: self = .logistic
        case 3: self = .softmaxZero
        case 4: self = .probit
        default: return nil
        }
    }
}
