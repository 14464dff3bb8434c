import SwitchyardTensor

/// ai.onnx.ml LabelEncoder 1, 2 and 4: each element looked up in the key list, the matching value or the default
/// written. Keys and values are strings, int64, int32 (tensor form), float or double; float keys match by value
/// (0 and -0 alike, NaN matches NaN). Version 1 maps strings to their index in `classes_strings` and indices back
/// to strings, whichever the input is.
struct LabelEncoderOp: Operator {
    /// One key → value mapping.
    struct Table: Sendable {
        var keyType: DType
        /// Numeric keys as their value's bit pattern (floats widened to double, -0 folded into 0), with the
        /// value's index; string keys by their bytes.
        var index: [UInt64: Int] = [:]
        var stringIndex: [[UInt8]: Int] = [:]
        var valueType: DType
        var values: [Double] = []
        var integerValues: [Int64] = []
        /// String values, the default last.
        var strings: StringList?
        var defaultValue: Double = 0
        var defaultInteger: Int64 = 0
    }

    /// One table, or for version 1 one per direction (string → index, index → string).
    let tables: [Table]
    var acceptsStrings: Bool { true }

    init(_ attributes: Attributes) throws(EngineError) {
        if attributes.version == 1 {
            guard let classes = try attributes.strings("classes_strings") else {
                throw attributes.error("classes_strings is required")
            }
            let fallback = try attributes.string("default_string", "_Unused")
            var toIndex = Table(keyType: .bytes, valueType: .int64)
            for (position, name) in classes.enumerated() where toIndex.stringIndex[Array(name.utf8)] == nil {
                toIndex.stringIndex[Array(name.utf8)] = position
            }
            toIndex.integerValues = (0..<classes.count).map { Int64($0) }
            toIndex.values = toIndex.integerValues.map { Double($0) }
            toIndex.defaultInteger = Int64(try attributes.int("default_int64", -1))
            var toString = Table(keyType: .int64, valueType: .bytes)
            for position in classes.indices { toString.index[UInt64(position)] = position }
            toString.strings = StringList(classes + [fallback])
            self.tables = [toIndex, toString]
            return
        }
        var table: Table
        // Keys.
        var keyStrings: [[UInt8]] = []
        var keys: [Double] = []
        var keyIntegers: [Int64] = []
        let keyType: DType
        if let tensor = attributes.values["keys_tensor"] {
            guard case .tensor(let constant) = tensor else { throw attributes.error("keys_tensor must be a tensor") }
            (keys, keyIntegers, keyStrings, keyType) = try Self.elements(constant, attributes, "keys_tensor")
        } else if let strings = try attributes.strings("keys_strings") {
            (keyStrings, keyType) = (strings.map { Array($0.utf8) }, .bytes)
        } else if let floats = try attributes.floats("keys_floats") {
            (keys, keyType) = (floats.map { Double($0) }, .float32)
        } else if let ints = try attributes.ints("keys_int64s") {
            keyIntegers = ints.map { Int64($0) }
            (keys, keyType) = (ints.map { Double($0) }, .int64)
        } else {
            throw attributes.error("keys_strings, keys_int64s, keys_floats or keys_tensor is required")
        }
        // Values and the default.
        var valueStrings: [[UInt8]] = []
        var values: [Double] = []
        var valueIntegers: [Int64] = []
        let valueType: DType
        var fallback: (Double, Int64, [UInt8])
        if let tensor = attributes.values["values_tensor"] {
            guard case .tensor(let constant) = tensor else { throw attributes.error("values_tensor must be a tensor") }
            (values, valueIntegers, valueStrings, valueType) = try Self.elements(constant, attributes, "values_tensor")
            fallback = valueType == .bytes ? (0, 0, Array("_Unused".utf8)) : valueType.isFloatingPoint ? (-0.0, 0, []) : (-1, -1, [])
            if let given = attributes.values["default_tensor"] {
                guard case .tensor(let constant) = given, constant.type.count == 1 else {
                    throw attributes.error("default_tensor must be a one-element tensor")
                }
                let (value, integer, string, type) = try Self.elements(constant, attributes, "default_tensor")
                guard type == valueType else { throw attributes.error("default_tensor is not of the values' type") }
                fallback = (value.first ?? 0, integer.first ?? 0, string.first ?? [])
            }
        } else if let strings = try attributes.strings("values_strings") {
            (valueStrings, valueType) = (strings.map { Array($0.utf8) }, .bytes)
            fallback = (0, 0, Array(try attributes.string("default_string", "_Unused").utf8))
        } else if let floats = try attributes.floats("values_floats") {
            (values, valueType) = (floats.map { Double($0) }, .float32)
            fallback = (Double(try attributes.float("default_float", -0.0)), 0, [])
        } else if let ints = try attributes.ints("values_int64s") {
            (values, valueIntegers, valueType) = (ints.map { Double($0) }, ints.map { Int64($0) }, .int64)
            let integer = Int64(try attributes.int("default_int64", -1))
            fallback = (Double(integer), integer, [])
        } else {
            throw attributes.error("values_strings, values_int64s, values_floats or values_tensor is required")
        }
        let keyCount = keyType == .bytes ? keyStrings.count : keys.count
        let valueCount = valueType == .bytes ? valueStrings.count : values.count
        guard keyCount == valueCount else { throw attributes.error("\(keyCount) keys but \(valueCount) values") }
        table = Table(keyType: keyType, valueType: valueType)
        for position in 0..<keyCount {
            if keyType == .bytes {
                if table.stringIndex[keyStrings[position]] == nil { table.stringIndex[keyStrings[position]] = position }
            } else {
                let key = keyIntegers.isEmpty ? Self.floatKey(keys[position]) : UInt64(bitPattern: keyIntegers[position])
                if table.index[key] == nil { table.index[key] = position }
            }
        }
        (table.values, table.integerValues) = (values, valueIntegers)
        (table.defaultValue, table.defaultInteger) = (fallback.0, fallback.1)
        if valueType == .bytes { table.strings = StringList(valueStrings + [fallback.2]) }
        self.tables = [table]
    }

    /// The elements of a tensor attribute: (numbers, integers, strings, type).
    private static func elements(_ constant: Constant, _ attributes: Attributes, _ name: String) throws(EngineError) -> (
        [Double], [Int64], [[UInt8]], DType
    ) {
        switch constant.type.dtype {
        case .float32: return (constant.values(Float.self).map { Double($0) }, [], [], .float32)
        case .float64: return (constant.values(Double.self), [], [], .float64)
        case .int64:
            let values = constant.values(Int64.self)
            return (values.map { Double($0) }, values, [], .int64)
        case .int32:
            let values = constant.values(Int32.self).map { Int64($0) }
            return (values.map { Double($0) }, values, [], .int32)
        case .bytes: return ([], [], constant.stringValues, .bytes)
        default:
            throw attributes.error("\(name) of type \(constant.type.dtype) is not supported", .unsupportedOperator)
        }
    }

    @inline(__always)
    static func floatKey(_ value: Double) -> UInt64 {
        if value.isNaN { return Double.nan.bitPattern }
        return (value == 0 ? 0.0 : value).bitPattern
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, Set(self.tables.map(\.keyType)))
        let table = self.tables.first { $0.keyType == x.dtype }!
        let count = x.count
        return OpPlan(
            outputs: [ValueType(dtype: table.valueType, shape: x.shape)],
            kernel: { io in
                let source = io.input(0)
                let target = io.output(0)
                let keyType = table.keyType
                for element in 0..<count {
                    let position: Int?
                    if keyType == .bytes {
                        position = table.stringIndex[Array(StringElements.bytes(StringElements.element(source, element)))]
                    } else if keyType.isFloatingPoint {
                        position = table.index[Self.floatKey(loadDouble(source, element, keyType))]
                    } else {
                        position = table.index[UInt64(bitPattern: loadInteger(source, element, keyType))]
                    }
                    if let strings = table.strings {
                        StringElements.set(target, element, strings[position ?? strings.count - 1])
                    } else if table.valueType.isFloatingPoint {
                        store(double: position.map { table.values[$0] } ?? table.defaultValue, target, element, table.valueType)
                    } else {
                        store(
                            integer: position.map { table.integerValues[$0] } ?? table.defaultInteger, target, element,
                            table.valueType)
                    }
                }
            })
    }
}

/// ai.onnx.ml CategoryMapper: strings to their int64 (`cats_strings[i]` → `cats_int64s[i]`, else `default_int64`)
/// or int64 back to strings (else `default_string`), whichever the input is.
struct CategoryMapperOp: Operator {
    let toInteger: [[UInt8]: Int64]
    let toString: [Int64: Int]
    let defaultInteger: Int64
    /// The categories' strings, `default_string` last.
    let strings: StringList
    var acceptsStrings: Bool { true }

    init(_ attributes: Attributes) throws(EngineError) {
        guard let names = try attributes.strings("cats_strings"), let ids = try attributes.ints("cats_int64s"),
            names.count == ids.count
        else {
            throw attributes.error("cats_strings and cats_int64s are required, of the same length")
        }
        var toInteger: [[UInt8]: Int64] = [:]
        var toString: [Int64: Int] = [:]
        for (position, (name, id)) in zip(names, ids).enumerated() {
            if toInteger[Array(name.utf8)] == nil { toInteger[Array(name.utf8)] = Int64(id) }
            if toString[Int64(id)] == nil { toString[Int64(id)] = position }
        }
        self.toInteger = toInteger
        self.toString = toString
        self.defaultInteger = Int64(try attributes.int("default_int64", -1))
        self.strings = StringList(names + [try attributes.string("default_string", "_Unused")])
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.bytes, .int64])
        let (op, count, fromStrings) = (self, x.count, x.dtype == .bytes)
        return OpPlan(
            outputs: [ValueType(dtype: fromStrings ? .int64 : .bytes, shape: x.shape)],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                for element in 0..<count {
                    if fromStrings {
                        let key = Array(StringElements.bytes(StringElements.element(source, element)))
                        target.storeBytes(
                            of: op.toInteger[key] ?? op.defaultInteger, toByteOffset: element * 8, as: Int64.self)
                    } else {
                        let key = source.load(fromByteOffset: element * 8, as: Int64.self)
                        StringElements.set(target, element, op.strings[op.toString[key] ?? op.strings.count - 1])
                    }
                }
            })
    }
}

/// ai.onnx.ml ZipMap in tensor form: the engine answers the probability matrix `[N, C]` itself (columns in the
/// order of the ZipMap's class labels) where onnxruntime answers a list of maps.
struct ZipMapOp: Operator {
    let classes: Int

    init(_ attributes: Attributes) throws(EngineError) {
        let ints = try attributes.ints("classlabels_int64s")
        let strings = try attributes.strings("classlabels_strings")
        guard let count = ints?.count ?? strings?.count, (ints == nil) != (strings == nil) else {
            throw attributes.error("exactly one of classlabels_int64s and classlabels_strings must be given")
        }
        self.classes = count
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        guard x.shape.count == 2 || x.shape.count == 1, x.shape.last == self.classes else {
            throw context.error("input \(x.shape) does not have \(self.classes) class columns")
        }
        return OpPlan(outputs: [x], kernel: { _ in }, alias: 0)
    }
}
