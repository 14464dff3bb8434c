/// Spatial operators beyond the CNN core: transposed convolution, Lp and global pooling, resizing, detection heads.
extension OperatorRegistry {
    static let spatialOperators: [String: OperatorFactory] = [
        "NonMaxSuppression": { a throws(EngineError) in try NonMaxSuppressionOp(a) },
        "RoiAlign": { a throws(EngineError) in try RoiAlignOp(a) },
        "MaxUnpool": { a throws(EngineError) in try MaxUnpoolOp(a) },
        "Col2Im": { a throws(EngineError) in try Col2ImOp(a) },
        "AffineGrid": { a throws(EngineError) in try AffineGridOp(a) },
        "ConvTranspose": { a throws(EngineError) in try ConvTransposeOp(a) },
        "LpPool": { a throws(EngineError) in try PoolSelectOp(a, kind: .lp(try a.int("p", 2))) },
        "GlobalMaxPool": { _ in PoolNDOp(kind: .max, window: nil, countIncludePad: false, columnMajorIndices: false) },
        "GlobalLpPool": { a throws(EngineError) in
            PoolNDOp(kind: .lp(try a.int("p", 2)), window: nil, countIncludePad: false, columnMajorIndices: false)
        },
    ]
}
