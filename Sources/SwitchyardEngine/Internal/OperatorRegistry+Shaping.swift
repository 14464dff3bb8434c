import SwitchyardTensor

/// Operators that move, repeat, cut or make tensors without arithmetic.
extension OperatorRegistry {
    static let shapingOperators: [String: OperatorFactory] = [
        "Slice": { a throws(EngineError) in try SliceOp(a) },
        "Expand": { _ in ExpandOp() },
        "Tile": { a throws(EngineError) in
            guard a.version >= 6 else { throw a.error("Tile before opset 6 is not supported", .unsupportedOperator) }
            return TileOp()
        },
        "Split": { a throws(EngineError) in try SplitOp(a) },
        "Pad": { a throws(EngineError) in try PadOp(a) },
        "ConstantOfShape": { a throws(EngineError) in try ConstantOfShapeOp(a) },
        "Range": { _ in RangeOp() },
        "Size": { _ in SizeOp() },
        "Trilu": { a throws(EngineError) in TriluOp(upper: try a.int("upper", 1) != 0) },
        "DepthToSpace": { a throws(EngineError) in
            let mode = try a.string("mode", "DCR")
            guard mode == "DCR" || mode == "CRD" else { throw a.error("mode '\(mode)' is not DCR or CRD") }
            return DepthSpaceOp(blockSize: try a.int("blocksize", 0), toSpace: true, columnRowDepth: mode == "CRD")
        },
        "SpaceToDepth": { a throws(EngineError) in
            let mode = try a.string("mode", "DCR")
            guard mode == "DCR" || mode == "CRD" else { throw a.error("mode '\(mode)' is not DCR or CRD") }
            return DepthSpaceOp(blockSize: try a.int("blocksize", 0), toSpace: false, columnRowDepth: mode == "CRD")
        },
        "CastLike": { _ in CastLikeOp() },
        "BitCast": { a throws(EngineError) in
            guard let code = UInt8(exactly: try a.int("to", 0)), let dtype = DType(rawValue: code), dtype != .bytes
            else {
                throw a.error("BitCast to element type \(try a.int("to", 0)) is not supported", .unsupportedOperator)
            }
            return BitCastOp(to: dtype)
        },
        "EyeLike": { a throws(EngineError) in
            var dtype: DType? = nil
            if a.has("dtype") {
                guard let code = UInt8(exactly: try a.int("dtype", 0)), let known = DType(rawValue: code) else {
                    throw a.error("dtype \(try a.int("dtype", 0)) is not supported", .unsupportedOperator)
                }
                dtype = known
            }
            return EyeLikeOp(dtype: dtype, k: try a.int("k", 0))
        },
        "OneHot": { a throws(EngineError) in OneHotOp(axis: try a.int("axis", -1)) },
        "NonZero": { _ in NonZeroOp() },
        "Unique": { a throws(EngineError) in try UniqueOp(a) },
        "Compress": { a throws(EngineError) in CompressOp(axis: a.has("axis") ? try a.int("axis", 0) : nil) },
    ]
}
