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
    /// The operator's version in effect: the newest definition not newer than the model's opset.
    var version: Int
    /// The model's opset for the node's domain.
    var opset: Int

    init(
        _ proto: Onnx_NodeProto,
        node: String,
        source: String,
        version: Int = 1,
        opset: Int = 1
    )
        throws(EngineError)
    {
        self.node = node
        self.opType = proto.opType
        self.source = source
        self.version = version
        self.opset = opset
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
                try TensorDecoding.constant(attribute.t, what: "attribute '\(attribute.name)' of node '\(node)'")
            )
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

/// Makes an operator from a node's attributes (``Attributes/version`` says which definition applies).
typealias OperatorFactory = @Sendable (Attributes) throws(EngineError) -> any Operator

/// Builds an ``Operator`` for each supported (domain, op type); refuses everything else by name.
///
/// Each family of operators keeps its table in its own file (`OperatorRegistry+Family.swift`); this list
/// only names the tables.
enum OperatorRegistry {
    static let factories: [String: [String: OperatorFactory]] = [
        "": merged([
            Self.coreOperators, Self.mathOperators, Self.shapingOperators, Self.reductionOperators,
            Self.indexingOperators,
            Self.spatialOperators, Self.layerOperators, Self.quantizationOperators, Self.textOperators,
        ]),
        "ai.onnx.ml": merged([Self.machineLearningOperators]),
    ]

    private static func merged(_ tables: [[String: OperatorFactory]]) -> [String: OperatorFactory] {
        tables.reduce(into: [:]) { result, table in result.merge(table) { first, _ in first } }
    }

    /// Operators whose opset 1–6 forms broadcast by an explicit attribute instead of NumPy's rules.
    private static let legacyBroadcasting: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less", "PRelu", "Gemm",
    ]

    /// The version of `opType` in effect at `opset`, or `nil` when the opset does not define it.
    static func version(of opType: String, domain: String, opset: Int) -> Int? {
        OperatorVersions.table[domain]?[opType]?.last { $0 <= opset }
    }

    static func make(
        _ proto: Onnx_NodeProto,
        name: String,
        domain: String,
        opset: Int,
        source: String
    )
        throws(EngineError) -> any Operator
    {
        let domainText = domain.isEmpty ? "" : " (domain \(domain))"
        guard let factory = Self.factories[domain]?[proto.opType] else {
            throw EngineError(
                .unsupportedOperator,
                "\(source): operator '\(proto.opType)'\(domainText) of node '\(name)' is not supported"
            )
        }
        guard let version = Self.version(of: proto.opType, domain: domain, opset: opset) else {
            let first = OperatorVersions.table[domain]?[proto.opType]?.first.map { " (it is defined from opset \($0))" }
            throw EngineError(
                .invalidModel,
                "\(source): operator '\(proto.opType)'\(domainText) of node '\(name)' does not exist in opset \(opset)"
                    + (first ?? "")
            )
        }
        let attributes = try Attributes(proto, node: name, source: source, version: version, opset: opset)
        for (key, value) in attributes.values {
            if case .unsupported(let what) = value {
                throw attributes.error("attribute '\(key)' uses \(what), which is not supported", .unsupportedOperator)
            }
        }
        if version < 7 && attributes.has("broadcast") && Self.legacyBroadcasting.contains(proto.opType) {
            throw attributes.error("broadcasting by 'axis' (opset 6 and older) is not supported", .unsupportedOperator)
        }
        return try factory(attributes)
    }
}
