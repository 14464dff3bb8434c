import SwitchyardTensor

/// A numeric element as onnxruntime's ML kernels read it: `static_cast<float>`.
@inline(__always)
func loadFloat(_ pointer: UnsafeRawPointer, _ index: Int, _ dtype: DType) -> Float {
    switch dtype {
    case .float32: pointer.load(fromByteOffset: index * 4, as: Float.self)
    case .float64: Float(pointer.load(fromByteOffset: index * 8, as: Double.self))
    case .int64: Float(pointer.load(fromByteOffset: index * 8, as: Int64.self))
    case .int32: Float(pointer.load(fromByteOffset: index * 4, as: Int32.self))
    default: Float(loadInteger(pointer, index, dtype))
    }
}

/// The numeric input types of the ai.onnx.ml feature operators.
let mlNumericTypes: Set<DType> = [.float32, .float64, .int64, .int32]

/// The feature count of an `[N, C]` or `[C]` input (the last dimension).
func lastDimension(_ type: ValueType) -> Int { type.shape.last ?? 1 }

/// ai.onnx.ml Scaler (StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler exports): `(x - offset) * scale`
/// per feature, or with one offset and scale for all; float output.
struct ScalerOp: Operator {
    let offset: [Float]
    let scale: [Float]

    init(_ attributes: Attributes) throws(EngineError) {
        self.offset = try attributes.floats("offset") ?? [0]
        self.scale = try attributes.floats("scale") ?? [1]
        guard !self.offset.isEmpty, !self.scale.isEmpty else {
            throw attributes.error("offset and scale must not be empty")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, mlNumericTypes)
        let features = lastDimension(x)
        for (name, values) in [("offset", self.offset), ("scale", self.scale)]
        where values.count != 1 && values.count != features {
            throw context.error("\(name) has \(values.count) values; the input has \(features) features")
        }
        let (offset, scale, count, dtype) = (self.offset, self.scale, x.count, x.dtype)
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: x.shape)],
            kernel: { io in
                let source = io.input(0)
                let y = io.outF32(0)
                let perOffset = offset.count > 1
                let perScale = scale.count > 1
                var column = 0
                for index in 0..<count {
                    let value = loadFloat(source, index, dtype)
                    y[index] = (value - offset[perOffset ? column : 0]) * scale[perScale ? column : 0]
                    column += 1
                    if column == features { column = 0 }
                }
            }, inPlace: x.dtype == .float32 ? 0 : nil)
    }
}

/// ai.onnx.ml Binarizer: 1 where `x > threshold`, else 0 (NaN gives 0), in the input's type.
struct BinarizerOp: Operator {
    let threshold: Float

    init(_ attributes: Attributes) throws(EngineError) { self.threshold = try attributes.float("threshold", 0) }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, mlNumericTypes)
        let (threshold, count, dtype) = (self.threshold, x.count, x.dtype)
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let source = io.input(0)
                let target = io.output(0)
                for index in 0..<count {
                    let above: Bool
                    switch dtype {
                    case .float64: above = source.load(fromByteOffset: index * 8, as: Double.self) > Double(threshold)
                    case .float32: above = source.load(fromByteOffset: index * 4, as: Float.self) > threshold
                    default: above = Double(loadInteger(source, index, dtype)) > Double(threshold)
                    }
                    store(integer: above ? 1 : 0, target, index, dtype)
                }
            }, inPlace: 0)
    }
}

/// ai.onnx.ml Imputer (SimpleImputer exports): replaces `replaced_value_*` (NaN by default for floats) with the
/// per-feature or single imputed value, in the input's type.
struct ImputerOp: Operator {
    let floats: [Float]?
    let ints: [Int64]?
    let replacedFloat: Float
    let replacedInt: Int64

    init(_ attributes: Attributes) throws(EngineError) {
        self.floats = try attributes.floats("imputed_value_floats")
        self.ints = try attributes.ints("imputed_value_int64s").map { $0.map { Int64($0) } }
        guard (self.floats == nil) != (self.ints == nil) else {
            throw attributes.error("exactly one of imputed_value_floats and imputed_value_int64s must be given")
        }
        guard (self.floats?.count ?? self.ints?.count ?? 0) > 0 else { throw attributes.error("no imputed values") }
        self.replacedFloat = try attributes.float("replaced_value_float", 0)
        self.replacedInt = Int64(try attributes.int("replaced_value_int64", 0))
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, self.floats != nil ? [.float32, .float64] : [.int64, .int32])
        let features = lastDimension(x)
        let available = self.floats?.count ?? self.ints!.count
        guard available == 1 || available == features else {
            throw context.error("\(available) imputed values for \(features) features")
        }
        let (floats, ints, replacedFloat, replacedInt) = (self.floats, self.ints, self.replacedFloat, self.replacedInt)
        let (count, dtype) = (x.count, x.dtype)
        return OpPlan(
            outputs: [x],
            kernel: { io in
                let source = io.input(0)
                let target = io.output(0)
                var column = 0
                for index in 0..<count {
                    let pick = available == 1 ? 0 : column
                    if let floats {
                        let value = loadDouble(source, index, dtype)
                        let replace = replacedFloat.isNaN ? value.isNaN : value == Double(replacedFloat)
                        store(double: replace ? Double(floats[pick]) : value, target, index, dtype)
                    } else if let ints {
                        let value = loadInteger(source, index, dtype)
                        store(integer: value == replacedInt ? ints[pick] : value, target, index, dtype)
                    }
                    column += 1
                    if column == features { column = 0 }
                }
            }, inPlace: 0)
    }
}

/// ai.onnx.ml OneHotEncoder with integer (`cats_int64s`, numeric input) or string (`cats_strings`, string input)
/// categories: one float column per category, appended as a last axis; an unknown value gives all zeros
/// (`zeros = 1`, the default) or an error.
struct OneHotEncoderOp: Operator {
    let categories: [Int64: Int]
    let stringCategories: [[UInt8]: Int]?
    let count: Int
    let zeros: Bool
    var acceptsStrings: Bool { self.stringCategories != nil }

    init(_ attributes: Attributes) throws(EngineError) {
        var map: [Int64: Int] = [:]
        if let strings = try attributes.strings("cats_strings") {
            guard !strings.isEmpty, try attributes.ints("cats_int64s") == nil else {
                throw attributes.error("exactly one of cats_int64s and cats_strings must be given")
            }
            var table: [[UInt8]: Int] = [:]
            for (index, value) in strings.enumerated() where table[Array(value.utf8)] == nil {
                table[Array(value.utf8)] = index
            }
            self.stringCategories = table
            self.count = strings.count
        } else {
            guard let values = try attributes.ints("cats_int64s"), !values.isEmpty else {
                throw attributes.error("cats_int64s or cats_strings is required")
            }
            for (index, value) in values.enumerated() where map[Int64(value)] == nil { map[Int64(value)] = index }
            self.stringCategories = nil
            self.count = values.count
        }
        self.categories = map
        self.zeros = try attributes.int("zeros", 1) != 0
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, self.stringCategories == nil ? mlNumericTypes : [.bytes])
        let (categories, strings, width, zeros, count, dtype, node) = (
            self.categories, self.stringCategories, self.count, self.zeros, x.count, x.dtype, context.node
        )
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: x.shape + [width])],
            kernel: { io throws(EngineError) in
                let source = io.input(0)
                let y = io.outF32(0)
                y.initialize(repeating: 0, count: count * width)
                for index in 0..<count {
                    let column: Int?
                    let shown: String
                    if let strings {
                        let bytes = StringElements.bytes(StringElements.element(source, index))
                        column = strings[Array(bytes)]
                        shown = "\"\(String(decoding: bytes.prefix(40), as: UTF8.self))\""
                    } else {
                        let key: Int64 =
                            dtype.isFloatingPoint
                            ? truncatingToInt64(loadDouble(source, index, dtype)) : loadInteger(source, index, dtype)
                        column = categories[key]
                        shown = "\(key)"
                    }
                    if let column {
                        y[index * width + column] = 1
                    } else if !zeros {
                        throw EngineError(
                            .invalidInput, "node '\(node)' (OneHotEncoder): value \(shown) is not a known category")
                    }
                }
            })
    }
}

/// ai.onnx.ml FeatureVectorizer: concatenates inputs' columns (each cut or zero-padded to its `inputdimensions`)
/// into one float row per example.
struct FeatureVectorizerOp: Operator {
    let dimensions: [Int]

    init(_ attributes: Attributes) throws(EngineError) {
        guard let dimensions = try attributes.ints("inputdimensions"), dimensions.allSatisfy({ $0 >= 0 }) else {
            throw attributes.error("inputdimensions is required")
        }
        self.dimensions = dimensions
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        guard context.inputs.count == self.dimensions.count else {
            throw context.error("\(context.inputs.count) inputs but \(self.dimensions.count) inputdimensions")
        }
        var collected: [ValueType] = []
        for index in 0..<context.inputs.count { collected.append(try context.input(index, mlNumericTypes)) }
        let types = collected
        let rows = types.first.map { $0.shape.count <= 1 ? 1 : $0.shape[0] } ?? 1
        for type in types where (type.shape.count <= 1 ? 1 : type.shape[0]) != rows {
            throw context.error("inputs have different numbers of rows")
        }
        let total = self.dimensions.reduce(0, +)
        let dimensions = self.dimensions
        return OpPlan(
            outputs: [ValueType(dtype: .float32, shape: [rows, total])],
            kernel: { io in
                let y = io.outF32(0)
                y.initialize(repeating: 0, count: rows * total)
                var offset = 0
                for (index, type) in types.enumerated() {
                    let source = io.input(index)
                    let width = type.count / max(rows, 1)
                    let copied = min(width, dimensions[index])
                    for row in 0..<rows {
                        for column in 0..<copied {
                            y[row * total + offset + column] = loadFloat(source, row * width + column, type.dtype)
                        }
                    }
                    offset += dimensions[index]
                }
            })
    }
}

/// ai.onnx.ml ArrayFeatureExtractor: picks columns of the last axis by index (skl2onnx uses it to map
/// an ArgMax to class labels).
struct ArrayFeatureExtractorOp: Operator {
    var acceptsStrings: Bool { true }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32, .float64, .int64, .int32, .uint8, .int8, .bool, .bytes])
        let indices = try context.input(1, [.int64])
        guard !x.shape.isEmpty else { throw context.error("X must have rank 1 or more") }
        let last = x.shape[x.shape.count - 1]
        let picks = indices.count
        var shape = x.shape
        if shape.count == 1 { shape = [1, picks] } else { shape[shape.count - 1] = picks }
        let rows = x.count / max(last, 1)
        let width = x.dtype.elementSize
        let node = context.node
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io throws(EngineError) in
                let source = io.input(0)
                let target = io.output(0)
                let chosen = io.input(1).assumingMemoryBound(to: Int64.self)
                for pick in 0..<picks where chosen[pick] < 0 || chosen[pick] >= last {
                    throw EngineError(
                        .invalidInput,
                        "node '\(node)' (ArrayFeatureExtractor): index \(chosen[pick]) is out of range 0..<\(last)")
                }
                for row in 0..<rows {
                    for pick in 0..<picks {
                        (target + (row * picks + pick) * width).copyMemory(
                            from: source + (row * last + Int(chosen[pick])) * width, byteCount: width)
                    }
                }
            })
    }
}
