import SwitchyardTensor

/// ai.onnx.ml LabelEncoder 2 and 4 with numeric keys and values (int64, int32, float, double): each element
/// looked up in the key list, the matching value or the default written. Float keys match by value (0 and -0
/// alike, NaN matches NaN).
struct LabelEncoderOp: Operator {
    let keyType: DType
    let valueType: DType
    /// Keys as their value's bit pattern (floats widened to double, -0 folded into 0), with the value's index.
    let index: [UInt64: Int]
    let values: [Double]
    let integerValues: [Int64]
    let defaultValue: Double
    let defaultInteger: Int64

    init(_ attributes: Attributes) throws(EngineError) {
        let strings = ["classes_strings", "keys_strings", "values_strings"].contains { attributes.has($0) }
        if strings {
            throw attributes.error("string keys or values are not supported", .unsupportedOperator)
        }
        // Keys.
        let keys: [Double]
        var keyIntegers: [Int64] = []
        if let tensor = attributes.values["keys_tensor"] {
            guard case .tensor(let constant) = tensor else { throw attributes.error("keys_tensor must be a tensor") }
            (keys, keyIntegers, self.keyType) = try Self.numbers(constant, attributes, "keys_tensor")
        } else if let floats = try attributes.floats("keys_floats") {
            (keys, self.keyType) = (floats.map { Double($0) }, .float32)
        } else if let ints = try attributes.ints("keys_int64s") {
            keyIntegers = ints.map { Int64($0) }
            (keys, self.keyType) = (ints.map { Double($0) }, .int64)
        } else {
            throw attributes.error("keys_int64s, keys_floats or keys_tensor is required")
        }
        // Values and the default.
        if let tensor = attributes.values["values_tensor"] {
            guard case .tensor(let constant) = tensor else { throw attributes.error("values_tensor must be a tensor") }
            (self.values, self.integerValues, self.valueType) = try Self.numbers(constant, attributes, "values_tensor")
            if let fallback = attributes.values["default_tensor"] {
                guard case .tensor(let constant) = fallback, constant.type.count == 1 else {
                    throw attributes.error("default_tensor must be a one-element tensor")
                }
                let (value, integer, type) = try Self.numbers(constant, attributes, "default_tensor")
                guard type == self.valueType else {
                    throw attributes.error("default_tensor is not of the values' type")
                }
                (self.defaultValue, self.defaultInteger) = (value[0], integer.first ?? 0)
            } else {
                (self.defaultValue, self.defaultInteger) = self.valueType.isFloatingPoint ? (-0.0, 0) : (-1, -1)
            }
        } else if let floats = try attributes.floats("values_floats") {
            (self.values, self.integerValues, self.valueType) = (floats.map { Double($0) }, [], .float32)
            self.defaultValue = Double(try attributes.float("default_float", -0.0))
            self.defaultInteger = 0
        } else if let ints = try attributes.ints("values_int64s") {
            (self.values, self.integerValues, self.valueType) = (
                ints.map { Double($0) }, ints.map { Int64($0) }, .int64
            )
            self.defaultInteger = Int64(try attributes.int("default_int64", -1))
            self.defaultValue = Double(self.defaultInteger)
        } else {
            throw attributes.error("values_int64s, values_floats or values_tensor is required")
        }
        guard keys.count == self.values.count else {
            throw attributes.error("\(keys.count) keys but \(self.values.count) values")
        }
        var index: [UInt64: Int] = [:]
        for position in 0..<keys.count {
            let key = keyIntegers.isEmpty ? Self.floatKey(keys[position]) : UInt64(bitPattern: keyIntegers[position])
            if index[key] == nil { index[key] = position }
        }
        self.index = index
    }

    private static func numbers(_ constant: Constant, _ attributes: Attributes, _ name: String) throws(EngineError) -> (
        [Double], [Int64], DType
    ) {
        switch constant.type.dtype {
        case .float32: return (constant.values(Float.self).map { Double($0) }, [], .float32)
        case .float64: return (constant.values(Double.self), [], .float64)
        case .int64:
            let values = constant.values(Int64.self)
            return (values.map { Double($0) }, values, .int64)
        case .int32:
            let values = constant.values(Int32.self).map { Int64($0) }
            return (values.map { Double($0) }, values, .int32)
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
        let x = try context.input(0, [self.keyType])
        let op = self
        let count = x.count
        return OpPlan(
            outputs: [ValueType(dtype: self.valueType, shape: x.shape)],
            kernel: { io in
                let source = io.input(0)
                let target = io.output(0)
                let integerKeys = !op.keyType.isFloatingPoint
                for element in 0..<count {
                    let key =
                        integerKeys
                        ? UInt64(bitPattern: loadInteger(source, element, op.keyType))
                        : Self.floatKey(loadDouble(source, element, op.keyType))
                    let position = op.index[key]
                    if op.valueType.isFloatingPoint {
                        store(double: position.map { op.values[$0] } ?? op.defaultValue, target, element, op.valueType)
                    } else {
                        store(
                            integer: position.map { op.integerValues[$0] } ?? op.defaultInteger, target, element,
                            op.valueType)
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
