/// Elementwise math, activations, comparisons and logic.
extension OperatorRegistry {
    static let mathOperators: [String: OperatorFactory] = [
        "Abs": unary(.abs), "Neg": unary(.neg), "Sign": unary(.sign), "Sqrt": unary(.sqrt), "Exp": unary(.exp),
        "Log": unary(.log), "Reciprocal": unary(.reciprocal), "Floor": unary(.floor), "Ceil": unary(.ceil),
        "Round": unary(.round), "Sin": unary(.sin), "Cos": unary(.cos), "Tan": unary(.tan), "Asin": unary(.asin),
        "Acos": unary(.acos), "Atan": unary(.atan), "Sinh": unary(.sinh), "Cosh": unary(.cosh),
        "Asinh": unary(.asinh), "Acosh": unary(.acosh), "Atanh": unary(.atanh), "Erf": unary(.erf),
        "Softsign": unary(.softsign), "Softplus": unary(.softplus), "Mish": unary(.mish),
        "HardSwish": unary(.hardSwish), "Det": { _ in DetOp() },
        "DFT": { a throws(EngineError) in try DFTOp(a) }, "STFT": { a throws(EngineError) in try STFTOp(a) },
        "MelWeightMatrix": { a throws(EngineError) in try MelWeightMatrixOp(a) },
        "Elu": { a throws(EngineError) in UnaryOp(kind: .elu(try a.float("alpha", 1))) },
        "Celu": { a throws(EngineError) in UnaryOp(kind: .celu(try a.float("alpha", 1))) },
        "Selu": { a throws(EngineError) in
            UnaryOp(
                kind: .selu(
                    alpha: try a.float("alpha", 1.67326319217681884765625),
                    gamma: try a.float("gamma", 1.05070102214813232421875)
                )
            )
        },
        "ThresholdedRelu": { a throws(EngineError) in UnaryOp(kind: .thresholdedRelu(try a.float("alpha", 1))) },
        "HardSigmoid": { a throws(EngineError) in
            UnaryOp(kind: .hardSigmoid(alpha: try a.float("alpha", 0.2), beta: try a.float("beta", 0.5)))
        },
        "Gelu": { a throws(EngineError) in
            let approximate = try a.string("approximate", "none")
            guard ["none", "tanh"].contains(approximate) else {
                throw a.error("approximate '\(approximate)' is not 'none' or 'tanh'")
            }
            return UnaryOp(kind: .gelu(tanh: approximate == "tanh"))
        },
        "Shrink": { a throws(EngineError) in
            UnaryOp(kind: .shrink(bias: try a.float("bias", 0), lambda: try a.float("lambd", 0.5)))
        },
        "Swish": { a throws(EngineError) in UnaryOp(kind: .swish(try a.float("alpha", 1))) },
        "IsNaN": { _ in FloatPredicateOp(kind: .isNaN) },
        "IsInf": { a throws(EngineError) in
            FloatPredicateOp(
                kind: .isInf(
                    positive: try a.int("detect_positive", 1) != 0,
                    negative: try a.int("detect_negative", 1) != 0
                )
            )
        },
        "Not": { _ in NotOp() }, "BitwiseNot": { _ in NotOp() },
        "Pow": { _ in BinaryOp(kind: .pow) },
        "Mod": { a throws(EngineError) in BinaryOp(kind: .mod(fmod: try a.int("fmod", 0) != 0)) },
        "PRelu": { _ in BinaryOp(kind: .prelu) },
        "BitShift": { a throws(EngineError) in
            let direction = try a.string("direction", "")
            guard direction == "LEFT" || direction == "RIGHT" else {
                throw a.error("direction must be LEFT or RIGHT, got '\(direction)'")
            }
            return BinaryOp(kind: direction == "LEFT" ? .shiftLeft : .shiftRight)
        },
        "BitwiseAnd": { _ in BinaryOp(kind: .bitAnd) }, "BitwiseOr": { _ in BinaryOp(kind: .bitOr) },
        "BitwiseXor": { _ in BinaryOp(kind: .bitXor) },
        "Equal": { _ in CompareOp(kind: .equal) }, "Less": { _ in CompareOp(kind: .less) },
        "Greater": { _ in CompareOp(kind: .greater) }, "LessOrEqual": { _ in CompareOp(kind: .lessOrEqual) },
        "GreaterOrEqual": { _ in CompareOp(kind: .greaterOrEqual) },
        "And": { _ in LogicalOp(kind: .and) }, "Or": { _ in LogicalOp(kind: .or) },
        "Xor": { _ in LogicalOp(kind: .xor) },
        "Max": { _ in VariadicOp(kind: .max) }, "Min": { _ in VariadicOp(kind: .min) },
        "Sum": { _ in VariadicOp(kind: .sum) }, "Mean": { _ in VariadicOp(kind: .mean) },
        "Where": { _ in WhereOp() },
    ]

    private static func unary(_ kind: UnaryOp.Kind) -> OperatorFactory { { _ in UnaryOp(kind: kind) } }
}
