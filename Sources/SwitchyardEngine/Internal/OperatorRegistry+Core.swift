import SwitchyardTensor

/// The operators the engine had first: linear algebra, CNN layers, activations and shape plumbing.
extension OperatorRegistry {
    static let coreOperators: [String: OperatorFactory] = [
        "Gemm": { a throws(EngineError) in try GemmOp(a) },
        "MatMul": { _ in MatMulOp() },
        "Add": { _ in BinaryOp(kind: .add) },
        "Sub": { _ in BinaryOp(kind: .sub) },
        "Mul": { _ in BinaryOp(kind: .mul) },
        "Div": { _ in BinaryOp(kind: .div) },
        "Relu": { _ in ActivationOp(fixed: .relu) },
        "LeakyRelu": { a throws(EngineError) in ActivationOp(fixed: .leakyRelu(try a.float("alpha", 0.01))) },
        "Sigmoid": { _ in ActivationOp(fixed: .sigmoid) },
        "Tanh": { _ in ActivationOp(fixed: .tanh) },
        "Clip": { a throws(EngineError) in try ActivationOp(clip: a) },
        "Softmax": { a throws(EngineError) in
            SoftmaxOp(log: false, axis: try a.int("axis", a.version >= 13 ? -1 : 1), coerce2D: a.version < 13)
        },
        "LogSoftmax": { a throws(EngineError) in
            SoftmaxOp(log: true, axis: try a.int("axis", a.version >= 13 ? -1 : 1), coerce2D: a.version < 13)
        },
        "Flatten": { a throws(EngineError) in FlattenOp(axis: try a.int("axis", 1)) },
        "Reshape": { a throws(EngineError) in try ReshapeOp(a) },
        "Transpose": { a throws(EngineError) in TransposeOp(perm: try a.ints("perm")) },
        "Identity": { _ in IdentityOp() },
        "Optional": { _ in OptionalOp(kind: .wrap) },
        "OptionalHasElement": { _ in OptionalOp(kind: .hasElement) },
        "OptionalGetElement": { _ in OptionalOp(kind: .getElement) },
        "Dropout": { a throws(EngineError) in
            try a.refuse("training_mode") { if case .int(0) = $0 { true } else { false } }
            return DropoutOp()
        },
        "Conv": { a throws(EngineError) in try ConvOp(a) },
        "MaxPool": { a throws(EngineError) in try PoolSelectOp(a, kind: .max) },
        "AveragePool": { a throws(EngineError) in try PoolSelectOp(a, kind: .average) },
        "GlobalAveragePool": { _ in GlobalAveragePoolOp() },
        "BatchNormalization": { a throws(EngineError) in
            try a.refuse("training_mode") { if case .int(0) = $0 { true } else { false } }
            try a.refuse("spatial") { if case .int(1) = $0 { true } else { false } }
            return BatchNormOp(epsilon: try a.float("epsilon", 1e-5))
        },
        "Concat": { a throws(EngineError) in
            guard a.has("axis") else { throw a.error("attribute 'axis' is required") }
            return ConcatOp(axis: try a.int("axis", 0))
        },
        "Cast": { a throws(EngineError) in
            guard let code = UInt8(exactly: try a.int("to", 0)), let dtype = DType(rawValue: code) else {
                throw a.error("Cast to element type \(try a.int("to", 0)) is not supported", .unsupportedOperator)
            }
            return CastOp(to: dtype)
        },
        "ArgMax": { a throws(EngineError) in
            ArgMaxOp(
                axis: try a.int("axis", 0),
                keepDims: try a.int("keepdims", 1) != 0,
                selectLast: try a.int("select_last_index", 0) != 0
            )
        },
        "Shape": { a throws(EngineError) in
            ShapeOp(start: try a.int("start", 0), end: a.has("end") ? try a.int("end", 0) : nil)
        },
        "Gather": { a throws(EngineError) in GatherOp(axis: try a.int("axis", 0)) },
        "Squeeze": { a throws(EngineError) in SqueezeOp(axes: try a.ints("axes"), squeeze: true) },
        "Unsqueeze": { a throws(EngineError) in SqueezeOp(axes: try a.ints("axes"), squeeze: false) },
    ]
}
