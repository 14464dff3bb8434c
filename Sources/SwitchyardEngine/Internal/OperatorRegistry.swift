import SwitchyardONNX
import SwitchyardTensor

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A node's attributes by name, with typed look-ups that name the node when they fail.
struct Attributes {
    var values: [String: Attribute]
    var node: String
    var opType: String
    var source: String

    init(_ proto: Onnx_NodeProto, node: String, source: String) throws(EngineError) {
        self.node = node
        self.opType = proto.opType
        self.source = source
        self.values = [:]
        for attribute in proto.attribute {
            self.values[attribute.name] = try Self.decode(attribute, node: node)
        }
    }

    private static func decode(_ attribute: Onnx_AttributeProto, node: String) throws(EngineError) -> Attribute {
        if !attribute.refAttrName.isEmpty { return .unsupported("a reference to a function attribute") }
        var type = attribute.type
        if !attribute.hasType {  // very old files leave the type out: infer it from the field that is set
            if attribute.hasF {
                type = .float
            } else if attribute.hasI {
                type = .int
            } else if attribute.hasS {
                type = .string
            } else if attribute.hasT {
                type = .tensor
            } else if !attribute.floats.isEmpty {
                type = .floats
            } else if !attribute.ints.isEmpty {
                type = .ints
            } else if !attribute.strings.isEmpty {
                type = .strings
            }
        }
        switch type {
        case .float: return .float(attribute.f)
        case .int: return .int(Int(clamping: attribute.i))
        case .string: return .string(String(decoding: attribute.s, as: UTF8.self))
        case .floats: return .floats(attribute.floats)
        case .ints: return .ints(attribute.ints.map { Int(clamping: $0) })
        case .strings: return .strings(attribute.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensor:
            return .tensor(
                try TensorDecoding.constant(attribute.t, what: "attribute '\(attribute.name)' of node '\(node)'"))
        default: return .unsupported("attribute type \(type)")
        }
    }

    func error(_ message: String, _ code: EngineError.Code = .invalidModel) -> EngineError {
        EngineError(code, "\(self.source): node '\(self.node)' (\(self.opType)): \(message)")
    }

    func has(_ name: String) -> Bool { self.values[name] != nil }

    func int(_ name: String, _ fallback: Int) throws(EngineError) -> Int {
        switch self.values[name] {
        case nil: return fallback
        case .int(let value)?: return value
        default: throw self.error("attribute '\(name)' must be an int")
        }
    }

    func float(_ name: String, _ fallback: Float) throws(EngineError) -> Float {
        switch self.values[name] {
        case nil: return fallback
        case .float(let value)?: return value
        case .int(let value)?: return Float(value)
        default: throw self.error("attribute '\(name)' must be a float")
        }
    }

    func string(_ name: String, _ fallback: String) throws(EngineError) -> String {
        switch self.values[name] {
        case nil: return fallback
        case .string(let value)?: return value
        default: throw self.error("attribute '\(name)' must be a string")
        }
    }

    func ints(_ name: String) throws(EngineError) -> [Int]? {
        switch self.values[name] {
        case nil: return nil
        case .ints(let value)?: return value
        case .int(let value)?: return [value]
        default: throw self.error("attribute '\(name)' must be a list of ints")
        }
    }

    func floats(_ name: String) throws(EngineError) -> [Float]? {
        switch self.values[name] {
        case nil: return nil
        case .floats(let value)?: return value
        case .float(let value)?: return [value]
        default: throw self.error("attribute '\(name)' must be a list of floats")
        }
    }

    func strings(_ name: String) throws(EngineError) -> [String]? {
        switch self.values[name] {
        case nil: return nil
        case .strings(let value)?: return value
        default: throw self.error("attribute '\(name)' must be a list of strings")
        }
    }

    /// Refuses attributes that change the op's meaning in ways the engine does not implement.
    func refuse(_ name: String, unless allowed: (Attribute) -> Bool) throws(EngineError) {
        if let value = self.values[name], !allowed(value) {
            throw self.error("attribute '\(name)' = \(value) is not supported", .unsupportedOperator)
        }
    }
}

/// Builds an ``Operator`` for each supported (domain, op type); refuses everything else by name.
enum OperatorRegistry {
    /// The operators the engine implements, by domain ("" is the default ONNX domain).
    static let supported: [String: Set<String>] = [
        "": [
            "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
            "LogSoftmax", "Flatten", "Reshape", "Transpose", "Identity", "Dropout", "Clip", "Conv", "MaxPool",
            "AveragePool", "GlobalAveragePool", "BatchNormalization", "Concat", "Cast", "ArgMax", "Constant", "Shape",
            "Gather", "Squeeze", "Unsqueeze", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
            "MatMulInteger", "QLinearMatMul",
        ],
        "ai.onnx.ml": [
            "ArrayFeatureExtractor", "Binarizer", "FeatureVectorizer", "Imputer", "LabelEncoder", "LinearClassifier",
            "LinearRegressor", "Normalizer", "OneHotEncoder", "Scaler", "SVMClassifier", "SVMRegressor",
            "TreeEnsemble", "TreeEnsembleClassifier", "TreeEnsembleRegressor", "ZipMap",
        ],
    ]

    static func make(_ proto: Onnx_NodeProto, name: String, domain: String, opset: Int, source: String)
        throws(EngineError) -> any Operator
    {
        guard Self.supported[domain]?.contains(proto.opType) == true else {
            let domainText = domain.isEmpty ? "" : " (domain \(domain))"
            throw EngineError(
                .unsupportedOperator,
                "\(source): operator '\(proto.opType)'\(domainText) of node '\(name)' is not supported")
        }
        let attributes = try Attributes(proto, node: name, source: source)
        for (key, value) in attributes.values {
            if case .unsupported(let what) = value {
                throw attributes.error("attribute '\(key)' uses \(what), which is not supported", .unsupportedOperator)
            }
        }
        switch proto.opType {
        case "Gemm": return try GemmOp(attributes)
        case "MatMul": return MatMulOp()
        case "Add": return BinaryOp(kind: .add)
        case "Sub": return BinaryOp(kind: .sub)
        case "Mul": return BinaryOp(kind: .mul)
        case "Div": return BinaryOp(kind: .div)
        case "Relu": return ActivationOp(fixed: .relu)
        case "LeakyRelu": return ActivationOp(fixed: .leakyRelu(try attributes.float("alpha", 0.01)))
        case "Sigmoid": return ActivationOp(fixed: .sigmoid)
        case "Tanh": return ActivationOp(fixed: .tanh)
        case "Clip": return ActivationOp(fixed: nil)
        case "Softmax", "LogSoftmax":
            return SoftmaxOp(
                log: proto.opType == "LogSoftmax", axis: try attributes.int("axis", opset >= 13 ? -1 : 1),
                coerce2D: opset < 13)
        case "Flatten": return FlattenOp(axis: try attributes.int("axis", 1))
        case "Reshape": return ReshapeOp(allowZero: try attributes.int("allowzero", 0) != 0)
        case "Transpose": return TransposeOp(perm: try attributes.ints("perm"))
        case "Identity": return IdentityOp()
        case "Dropout":
            try attributes.refuse("training_mode") { if case .int(0) = $0 { true } else { false } }
            return DropoutOp()
        case "Conv": return try ConvOp(attributes)
        case "MaxPool", "AveragePool": return try PoolOp(attributes, max: proto.opType == "MaxPool")
        case "GlobalAveragePool": return GlobalAveragePoolOp()
        case "BatchNormalization":
            try attributes.refuse("training_mode") { if case .int(0) = $0 { true } else { false } }
            try attributes.refuse("spatial") { if case .int(1) = $0 { true } else { false } }
            return BatchNormOp(epsilon: try attributes.float("epsilon", 1e-5))
        case "Concat":
            guard attributes.has("axis") else { throw attributes.error("attribute 'axis' is required") }
            return ConcatOp(axis: try attributes.int("axis", 0))
        case "Cast":
            guard let code = UInt8(exactly: try attributes.int("to", 0)), let dtype = DType(rawValue: code),
                dtype != .bytes
            else {
                throw attributes.error(
                    "Cast to element type \(try attributes.int("to", 0)) is not supported", .unsupportedOperator)
            }
            return CastOp(to: dtype)
        case "ArgMax":
            return ArgMaxOp(
                axis: try attributes.int("axis", 0), keepDims: try attributes.int("keepdims", 1) != 0,
                selectLast: try attributes.int("select_last_index", 0) != 0)
        case "Shape":
            return ShapeOp(
                start: try attributes.int("start", 0), end: attributes.has("end") ? try attributes.int("end", 0) : nil)
        case "Gather": return GatherOp(axis: try attributes.int("axis", 0))
        case "Squeeze": return SqueezeOp(axes: try attributes.ints("axes"), squeeze: true)
        case "Unsqueeze": return SqueezeOp(axes: try attributes.ints("axes"), squeeze: false)
        case "QuantizeLinear": return try QuantizeLinearOp(attributes)
        case "DequantizeLinear": return try DequantizeLinearOp(attributes)
        case "DynamicQuantizeLinear": return DynamicQuantizeLinearOp()
        case "MatMulInteger": return MatMulIntegerOp()
        case "QLinearMatMul": return QLinearMatMulOp()
        case "ArrayFeatureExtractor": return ArrayFeatureExtractorOp()
        case "Binarizer": return try BinarizerOp(attributes)
        case "FeatureVectorizer": return try FeatureVectorizerOp(attributes)
        case "Imputer": return try ImputerOp(attributes)
        case "LabelEncoder": return try LabelEncoderOp(attributes)
        case "LinearClassifier": return try LinearClassifierOp(attributes)
        case "LinearRegressor": return try LinearRegressorOp(attributes)
        case "Normalizer": return try NormalizerOp(attributes)
        case "OneHotEncoder": return try OneHotEncoderOp(attributes)
        case "Scaler": return try ScalerOp(attributes)
        case "SVMClassifier": return try SVMClassifierOp(attributes)
        case "SVMRegressor": return try SVMRegressorOp(attributes)
        case "TreeEnsemble": return try TreeEnsembleOp(attributes)
        case "TreeEnsembleClassifier": return try TreeEnsembleClassifierOp(attributes)
        case "TreeEnsembleRegressor": return try TreeEnsembleRegressorOp(attributes)
        case "ZipMap": return try ZipMapOp(attributes)
        default:
            throw EngineError(
                .unsupportedOperator, "\(source): operator '\(proto.opType)' of node '\(name)' is not supported")
        }
    }
}
