import SwiftProtobuf
import SwitchyardONNX
import SwitchyardTensor

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Turns ONNX protobuf bytes into a checked ``Graph``: opsets, initializers, inputs, nodes in
/// topological order, operators built from their attributes.
enum GraphLoader {
    /// Default-domain opsets up to the newest the definitions know; each operator refuses old forms it lacks.
    static let supportedOpsets = 1...OperatorVersions.latestOpset
    static let supportedMLOpsets = 1...OperatorVersions.latestMLOpset
    static let supportedIRVersions = 3...OperatorVersions.latestIRVersion

    /// Decodes and checks a model.
    /// - Parameters:
    ///   - bytes: the serialized `ModelProto`.
    ///   - source: a name for messages.
    ///   - directory: the model's folder, where external tensor data is looked up; `nil` refuses it.
    static func load(bytes: [UInt8], source: String, directory: String? = nil) throws(EngineError) -> Graph {
        guard !bytes.isEmpty else { throw EngineError(.invalidModel, "\(source): the model file is empty") }
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch {
            throw EngineError(
                .invalidModel,
                "\(source): not an ONNX model (protobuf decoding failed: \(error))",
                cause: error
            )
        }
        guard model.hasGraph, model.irVersion > 0 else {
            throw EngineError(.invalidModel, "\(source): not an ONNX model (no ir_version or no graph)")
        }
        guard model.irVersion <= Self.supportedIRVersions.upperBound else {
            throw EngineError(
                .unsupportedModel,
                "\(source): ONNX IR version \(model.irVersion) is newer than this engine knows "
                    + "(\(Self.supportedIRVersions.lowerBound)...\(Self.supportedIRVersions.upperBound)); "
                    + "save the model with an older onnx release or update the engine"
            )
        }
        var opset: Int? = nil
        var mlOpset: Int? = nil
        for entry in model.opsetImport {
            switch entry.domain {
            case "", "ai.onnx": opset = Int(clamping: entry.version)
            case "ai.onnx.ml": mlOpset = Int(clamping: entry.version)
            default: continue  // other domains fail below only if a node uses them
            }
        }
        // A model of ai.onnx.ml operators only may import no default opset (0 here: its nodes are refused).
        guard let opset = opset ?? (mlOpset == nil ? nil : 0) else {
            throw EngineError(.invalidModel, "\(source): the model imports no default ONNX opset")
        }
        guard opset == 0 || Self.supportedOpsets.contains(opset) else {
            let range = "\(Self.supportedOpsets.lowerBound)...\(Self.supportedOpsets.upperBound)"
            let reason = opset > Self.supportedOpsets.upperBound ? "is newer than this engine knows" : "is too old"
            throw EngineError(.unsupportedModel, "\(source): ONNX opset \(opset) \(reason) (supported: \(range))")
        }
        if let mlOpset, !Self.supportedMLOpsets.contains(mlOpset) {
            throw EngineError(
                .unsupportedModel,
                "\(source): ai.onnx.ml opset \(mlOpset) is not supported "
                    + "(\(Self.supportedMLOpsets.lowerBound)...\(Self.supportedMLOpsets.upperBound))"
            )
        }
        guard model.functions.isEmpty else {
            throw EngineError(.unsupportedModel, "\(source): model-local functions are not supported")
        }
        var builder = Builder(
            source: source,
            opset: opset,
            mlOpset: mlOpset,
            external: ExternalData(directory: directory)
        )
        return try builder.build(model)
    }

    private struct Builder {
        let source: String
        let opset: Int
        let mlOpset: Int?
        let external: ExternalData
        var ids: [String: Int] = [:]
        var names: [String] = []
        var constants: [Int: Constant] = [:]

        init(source: String, opset: Int, mlOpset: Int?, external: ExternalData) {
            self.source = source
            self.opset = opset
            self.mlOpset = mlOpset
            self.external = external
        }

        mutating func id(_ name: String) -> Int {
            if let existing = self.ids[name] { return existing }
            self.ids[name] = self.names.count
            self.names.append(name)
            return self.names.count - 1
        }

        mutating func build(_ model: Onnx_ModelProto) throws(EngineError) -> Graph {
            var graph = try self.buildGraph(model.graph, subgraph: nil).graph
            graph.producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
            graph.irVersion = Int(model.irVersion)
            return graph
        }

        /// Builds a graph: the model's, or (`subgraph` names it) a control-flow body, whose inputs may leave
        /// their types to the values they receive and whose reads of enclosing-scope values become inputs
        /// after the declared ones (returned as `captured`, by name).
        mutating func buildGraph(
            _ graph: Onnx_GraphProto,
            subgraph: String?
        ) throws(EngineError) -> (graph: Graph, declared: [DType?], captured: [String]) {
            guard graph.sparseInitializer.isEmpty else {
                throw EngineError(.unsupportedModel, "\(self.source): sparse initializers are not supported")
            }
            for tensor in graph.initializer {
                guard !tensor.name.isEmpty else {
                    throw EngineError(.invalidModel, "\(self.source): an initializer has no name")
                }
                let constant = try TensorDecoding.constant(
                    tensor,
                    what: "\(self.source): initializer '\(tensor.name)'",
                    external: self.external
                )
                self.constants[self.id(tensor.name)] = constant
            }
            var inputs: [GraphInput] = []
            var declared: [DType?] = []
            for info in graph.input where self.ids[info.name].flatMap({ self.constants[$0] }) == nil {
                if case .mapType? = info.type.value {
                    throw Self.mapInputError(info, graph: graph, source: self.source)
                }
                let (dtype, dims) = try Self.tensorType(info, what: "input '\(info.name)'", source: self.source)
                if let subgraph {
                    // A body's inputs take the types of the values the loop or branch passes.
                    guard dtype != .bytes else {
                        throw EngineError(
                            .unsupportedOperator,
                            "\(self.source): \(subgraph) takes strings, which control flow does not support"
                        )
                    }
                    declared.append(dtype)
                    inputs.append(
                        GraphInput(
                            name: info.name,
                            value: self.id(info.name),
                            dtype: dtype ?? .float32,
                            dims: dims ?? []
                        )
                    )
                    continue
                }
                guard let dtype, let dims else {
                    throw EngineError(
                        .invalidModel,
                        "\(self.source): input '\(info.name)' declares no element type or shape"
                    )
                }
                inputs.append(GraphInput(name: info.name, value: self.id(info.name), dtype: dtype, dims: dims))
            }
            guard !graph.output.isEmpty else {
                throw EngineError(.invalidModel, "\(self.source): the graph has no outputs")
            }

            // Nodes: build operators, then order them so every input is produced before it is read.
            var pending: [(node: Node, inputs: [Int])] = []
            for (index, proto) in graph.node.enumerated() {
                let name = proto.name.isEmpty ? "\(proto.opType)_\(index)" : proto.name
                let domain = proto.domain == "ai.onnx" ? "" : proto.domain
                var op: any Operator
                if domain == "" && proto.opType == "Constant" {
                    try self.foldConstantNode(proto, name: name)
                    continue
                }
                var captured: [String] = []
                if domain == "" && ControlFlow.operators.contains(proto.opType) {
                    (op, captured) = try self.controlFlowNode(proto, name: name)
                } else {
                    if domain == "" && self.opset == 0 {
                        throw EngineError(
                            .invalidModel,
                            "\(self.source): node '\(name)' uses ONNX operator '\(proto.opType)' but the model imports no default opset"
                        )
                    }
                    op = try OperatorRegistry.make(
                        proto,
                        name: name,
                        domain: domain,
                        opset: domain == "" ? self.opset : (self.mlOpset ?? 1),
                        source: self.source
                    )
                }
                let inputIDs: [Int?] = proto.input.map { $0.isEmpty ? nil : self.id($0) } + captured.map { self.id($0) }
                // Omitted optional outputs get a private name so every kernel has somewhere to write.
                let outputIDs: [Int?] = proto.output.enumerated().map { position, output in
                    self.id(output.isEmpty ? "\u{0}unused:\(index):\(position)" : output)
                }
                pending.append(
                    (
                        Node(
                            name: name,
                            opType: proto.opType,
                            domain: domain,
                            inputs: inputIDs,
                            outputs: outputIDs,
                            op: op
                        ), inputIDs.compactMap { $0 }
                    )
                )
            }
            var captured: [String] = []
            if subgraph != nil {
                // What a body reads without defining it comes from the enclosing scope, as inputs of its own.
                var local = Set(self.constants.keys).union(inputs.map(\.value))
                for entry in pending { local.formUnion(entry.node.outputs.compactMap { $0 }) }
                var seen = Set<Int>()
                let reads = pending.flatMap(\.inputs) + graph.output.map { self.id($0.name) }
                for value in reads where !local.contains(value) && seen.insert(value).inserted {
                    captured.append(self.names[value])
                    inputs.append(GraphInput(name: self.names[value], value: value, dtype: .float32, dims: []))
                }
            }
            var defined = Set(self.constants.keys).union(inputs.map(\.value))
            var ordered: [Node] = []
            var remaining = pending
            while !remaining.isEmpty {
                var progressed = false
                var next: [(node: Node, inputs: [Int])] = []
                for entry in remaining {
                    if entry.inputs.allSatisfy(defined.contains) {
                        for output in entry.node.outputs.compactMap({ $0 }) {
                            guard !defined.contains(output) else {
                                throw EngineError(
                                    .invalidModel,
                                    "\(self.source): value '\(self.names[output])' is defined twice (node '\(entry.node.name)')"
                                )
                            }
                            defined.insert(output)
                        }
                        ordered.append(entry.node)
                        progressed = true
                    } else {
                        next.append(entry)
                    }
                }
                if !progressed {
                    let stuck = next[0]
                    let missing = stuck.inputs.first { !defined.contains($0) }!
                    throw EngineError(
                        .invalidModel,
                        "\(self.source): node '\(stuck.node.name)' reads '\(self.names[missing])', which no node, input or initializer defines (or the graph has a cycle)"
                    )
                }
                remaining = next
            }

            var outputs: [(name: String, value: Int, dtype: DType?, dims: [Int?]?)] = []
            for info in graph.output {
                guard let value = self.ids[info.name], defined.contains(value) else {
                    throw EngineError(.invalidModel, "\(self.source): graph output '\(info.name)' is never computed")
                }
                var (dtype, dims) = try Self.tensorType(info, what: "output '\(info.name)'", source: self.source)
                if subgraph != nil {
                    // A body's float16 values compute in float32 like the graph around it; shapes may vary per run.
                    if dtype == .float16 || dtype == .bfloat16 { dtype = nil }
                    dims = nil
                }
                outputs.append((info.name, value, dtype, dims))
            }
            // value_info: the element types the exporter recorded for intermediate values, checked
            // against what the engine infers when the plan is made.
            var declaredTypes: [Int: DType] = [:]
            for info in graph.valueInfo {
                guard let value = self.ids[info.name] else { continue }
                // A type the engine has no tensors for (bfloat16 computed in f32, say) only loses the check.
                guard let (dtype, _) = try? Self.tensorType(info, what: "value '\(info.name)'", source: self.source)
                else { continue }
                if let dtype { declaredTypes[value] = dtype }
            }
            var built = Graph(
                valueNames: self.names,
                constants: self.constants,
                nodes: ordered,
                inputs: inputs,
                outputs: outputs,
                opsetVersion: self.opset,
                mlOpsetVersion: self.mlOpset,
                producer: "",
                irVersion: 0,
                declaredTypes: subgraph == nil ? declaredTypes : [:]
            )
            if subgraph != nil { HalfPrecision.widenCasts(&built) }
            return (built, declared, captured)
        }

        /// An If, Loop or Scan node: its bodies built as graphs of their own, and the enclosing-scope values
        /// they read (the node's inputs after its declared ones).
        mutating func controlFlowNode(
            _ proto: Onnx_NodeProto,
            name: String
        ) throws(EngineError) -> (any Operator, [String]) {
            guard let version = OperatorRegistry.version(of: proto.opType, domain: "", opset: self.opset) else {
                throw EngineError(
                    .invalidModel,
                    "\(self.source): operator '\(proto.opType)' of node '\(name)' does not exist in opset \(self.opset)"
                )
            }
            var plain = proto
            plain.attribute = proto.attribute.filter { $0.type != .graph && !$0.hasG }
            let attributes = try Attributes(plain, node: name, source: self.source, version: version, opset: self.opset)
            var bodies: [String: Subgraph] = [:]
            var captured: [String] = []
            for attribute in proto.attribute where attribute.type == .graph || attribute.hasG {
                let what = "subgraph '\(attribute.name)' of node '\(name)'"
                var builder = Builder(
                    source: self.source,
                    opset: self.opset,
                    mlOpset: self.mlOpset,
                    external: self.external
                )
                let (graph, declared, names) = try builder.buildGraph(attribute.g, subgraph: what)
                var positions: [Int] = []
                for captive in names {
                    if let index = captured.firstIndex(of: captive) {
                        positions.append(proto.input.count + index)
                    } else {
                        positions.append(proto.input.count + captured.count)
                        captured.append(captive)
                    }
                }
                bodies[attribute.name] = Subgraph(
                    graph: graph,
                    declared: declared,
                    capturedInputs: positions,
                    what: "\(self.source): \(what)",
                    fixedOutputShapes: attribute.g.output.map { info in
                        guard let dims = (try? Self.tensorType(info, what: "", source: ""))?.1 else { return nil }
                        let fixed = dims.compactMap { $0 }
                        return fixed.count == dims.count ? fixed : nil
                    }
                )
            }
            return (try ControlFlow.make(attributes, bodies: bodies, declaredInputs: proto.input.count), captured)
        }

        mutating func foldConstantNode(_ proto: Onnx_NodeProto, name: String) throws(EngineError) {
            guard proto.output.count == 1, let attribute = proto.attribute.first, proto.attribute.count == 1 else {
                throw EngineError(
                    .invalidModel,
                    "\(self.source): Constant node '\(name)' needs one output and one value attribute"
                )
            }
            let constant: Constant
            switch attribute.name {
            case "value":
                constant = try TensorDecoding.constant(
                    attribute.t,
                    what: "\(self.source): Constant node '\(name)'",
                    external: self.external
                )
            case "value_float": constant = Constant([attribute.f], shape: [])
            case "value_floats": constant = Constant(attribute.floats, shape: [attribute.floats.count])
            case "value_int": constant = Constant([attribute.i], shape: [])
            case "value_ints": constant = Constant(attribute.ints, shape: [attribute.ints.count])
            case "value_string": constant = Constant(strings: [[UInt8](attribute.s)], shape: [])
            case "value_strings":
                constant = Constant(strings: attribute.strings.map { [UInt8]($0) }, shape: [attribute.strings.count])
            default:
                throw EngineError(
                    .unsupportedOperator,
                    "\(self.source): Constant node '\(name)' uses '\(attribute.name)', which is not supported"
                )
            }
            self.constants[self.id(proto.output[0])] = constant
        }

        /// Why a model whose input is a map cannot be served, and what to export instead.
        static func mapInputError(_ info: Onnx_ValueInfoProto, graph: Onnx_GraphProto, source: String) -> EngineError {
            let readers = graph.node.filter { $0.input.contains(info.name) }.map(\.opType)
            let reader = readers.first { $0 == "DictVectorizer" || $0 == "CastMap" }
            var message =
                "\(source): input '\(info.name)' is a map, which no tensor of the wire protocol carries (requests hold "
                + "tensors only)"
            if let reader {
                message +=
                    "; the graph starts with \(reader): export the model after it, with a float tensor input of one "
                    + "column per feature (skl2onnx: convert the pipeline's estimator with "
                    + "FloatTensorType([None, len(vectorizer.feature_names_)]), and send vectorizer.transform(rows)), or "
                    + "replace the DictVectorizer with a ColumnTransformer whose string columns are inputs of their own; "
                    + "see models/README.md"
            }
            return EngineError(.unsupportedModel, message)
        }

        static func tensorType(
            _ info: Onnx_ValueInfoProto,
            what: String,
            source: String
        ) throws(EngineError) -> (
            DType?, [Int?]?
        ) {
            guard info.hasType else { return (nil, nil) }
            // ZipMap's list of {class: probability} maps: the engine answers its tensor form, f32 [N, classes].
            if case .sequenceType(let sequence)? = info.type.value, case .mapType(let map)? = sequence.elemType.value,
                case .tensorType(let values)? = map.valueType.value, values.elemType == 1
            {
                return (.float32, nil)
            }
            guard case .tensorType(let tensor)? = info.type.value else {
                throw EngineError(
                    .unsupportedModel,
                    "\(source): \(what) is not a tensor (sequences, maps and optionals are not supported)"
                )
            }
            var dtype: DType? = nil
            if tensor.hasElemType {
                guard let code = UInt8(exactly: tensor.elemType), let known = DType(rawValue: code) else {
                    throw EngineError(
                        .unsupportedModel,
                        "\(source): \(what) has unsupported element type \(tensor.elemType)"
                    )
                }
                dtype = known
            }
            guard tensor.hasShape else { return (dtype, nil) }
            let dims: [Int?] = tensor.shape.dim.map { dim in
                if case .dimValue(let value)? = dim.value, value > 0 { return Int(value) }
                if case .dimValue(0)? = dim.value { return 0 }
                return nil
            }
            return (dtype, dims)
        }
    }
}

/// Decoding of ONNX TensorProto data (raw_data or the typed fields) into engine constants.
enum TensorDecoding {
    static func constant(
        _ tensor: Onnx_TensorProto,
        what: String,
        external: ExternalData? = nil
    ) throws(EngineError)
        -> Constant
    {
        // float16 and bfloat16 constants are widened to float32 here; the graph computes in f32 (HalfPrecision).
        if tensor.dataType == 10 || tensor.dataType == 16 {
            return try Self.widenedHalf(tensor, what: what, brain: tensor.dataType == 16, external: external)
        }
        guard tensor.hasDataType, let code = UInt8(exactly: tensor.dataType), let dtype = DType(rawValue: code) else {
            throw EngineError(.unsupportedModel, "\(what) has unsupported element type \(tensor.dataType)")
        }
        var shape: [Int] = []
        var count = 1
        for dim in tensor.dims {
            guard dim >= 0, dim < Int64(1) << 40 else {
                throw EngineError(.invalidModel, "\(what) has dimension \(dim)")
            }
            shape.append(Int(dim))
            let (next, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow, next < 1 << 34 else { throw EngineError(.invalidModel, "\(what) is too large") }
            count = next
        }
        if dtype == .bytes {
            guard tensor.dataLocation != .external && tensor.externalData.isEmpty else {
                throw EngineError(.invalidModel, "\(what) is a string tensor saved as external data")
            }
            guard tensor.stringData.count == count else {
                throw EngineError(
                    .invalidModel,
                    "\(what) holds \(tensor.stringData.count) strings, its shape \(shape) needs \(count)"
                )
            }
            return Constant(strings: tensor.stringData.map { [UInt8]($0) }, shape: shape)
        }
        let width = dtype.byteWidth!
        let type = ValueType(dtype: dtype, shape: shape)
        if tensor.dataLocation == .external || !tensor.externalData.isEmpty {
            let entries = Dictionary(tensor.externalData.map { ($0.key, $0.value) }) { first, _ in first }
            let reader = external ?? ExternalData(directory: nil)
            return Constant(type: type, buffer: try reader.read(entries, byteCount: count * width, what: what))
        }
        if tensor.hasRawData {
            let raw = tensor.rawData
            guard raw.count == count * width else {
                throw EngineError(
                    .invalidModel,
                    "\(what) has \(raw.count) bytes of raw data, its shape \(shape) of \(dtype) needs \(count * width)"
                )
            }
            let buffer = raw.withUnsafeBytes { AlignedBuffer(copying: $0) }
            return Constant(type: type, buffer: buffer)
        }
        func check(_ available: Int) throws(EngineError) {
            guard available == count else {
                throw EngineError(.invalidModel, "\(what) holds \(available) values, its shape \(shape) needs \(count)")
            }
        }
        switch dtype {
        case .float32:
            try check(tensor.floatData.count)
            return Constant(tensor.floatData, shape: shape)
        case .float64:
            try check(tensor.doubleData.count)
            return Constant(tensor.doubleData, shape: shape)
        case .int64:
            try check(tensor.int64Data.count)
            return Constant(tensor.int64Data, shape: shape)
        case .int32:
            try check(tensor.int32Data.count)
            return Constant(tensor.int32Data, shape: shape)
        case .uint8:
            try check(tensor.int32Data.count)
            return Constant(tensor.int32Data.map { UInt8(truncatingIfNeeded: $0) }, shape: shape)
        case .int8:
            try check(tensor.int32Data.count)
            return Constant(tensor.int32Data.map { Int8(truncatingIfNeeded: $0) }, shape: shape)
        case .bool:
            try check(tensor.int32Data.count)
            return Constant(tensor.int32Data.map { $0 != 0 }, shape: shape)
        case .bytes, .float16, .bfloat16:
            throw EngineError(.unsupportedModel, "\(what) has unsupported element type \(dtype)")
        }
    }

    /// A float16 (`brain == false`) or bfloat16 tensor as a float32 constant.
    static func widenedHalf(
        _ tensor: Onnx_TensorProto,
        what: String,
        brain: Bool,
        external: ExternalData?
    )
        throws(EngineError) -> Constant
    {
        let (shape, bits) = try Self.halfBits(tensor, what: what, external: external)
        let floats = bits.map { brain ? widenBrain($0) : Float(Float16(bitPattern: $0)) }
        return Constant(floats, shape: shape)
    }

    /// The shape and 16-bit elements of a float16 or bfloat16 tensor.
    static func halfBits(
        _ tensor: Onnx_TensorProto,
        what: String,
        external: ExternalData?
    )
        throws(EngineError) -> ([Int], [UInt16])
    {
        var shape: [Int] = []
        var count = 1
        for dim in tensor.dims {
            guard dim >= 0, dim < Int64(1) << 40 else {
                throw EngineError(.invalidModel, "\(what) has dimension \(dim)")
            }
            shape.append(Int(dim))
            let (next, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow, next < 1 << 33 else { throw EngineError(.invalidModel, "\(what) is too large") }
            count = next
        }
        var bits: [UInt16] = []
        if tensor.dataLocation == .external || !tensor.externalData.isEmpty {
            let entries = Dictionary(tensor.externalData.map { ($0.key, $0.value) }) { first, _ in first }
            let buffer = try (external ?? ExternalData(directory: nil)).read(entries, byteCount: count * 2, what: what)
            let words = buffer.pointer.assumingMemoryBound(to: UInt16.self)
            bits = (0..<count).map { UInt16(littleEndian: words[$0]) }
        } else if tensor.hasRawData {
            guard tensor.rawData.count == count * 2 else {
                throw EngineError(
                    .invalidModel,
                    "\(what) has \(tensor.rawData.count) bytes of raw data, its shape \(shape) needs \(count * 2)"
                )
            }
            bits = tensor.rawData.withUnsafeBytes { raw in
                (0..<count).map { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)) }
            }
        } else {
            guard tensor.int32Data.count == count else {
                throw EngineError(
                    .invalidModel,
                    "\(what) holds \(tensor.int32Data.count) values, its shape \(shape) needs \(count)"
                )
            }
            bits = tensor.int32Data.map { UInt16(truncatingIfNeeded: $0) }
        }
        return (shape, bits)
    }
}
