/// Reductions, normalizations, scans and selections along axes.
extension OperatorRegistry {
    static let reductionOperators: [String: OperatorFactory] = [
        "ReduceSum": reduce(.sum, axesInputSince: 13), "ReduceMean": reduce(.mean, axesInputSince: 18),
        "ReduceMax": reduce(.max, axesInputSince: 18), "ReduceMin": reduce(.min, axesInputSince: 18),
        "ReduceProd": reduce(.prod, axesInputSince: 18), "ReduceL1": reduce(.l1, axesInputSince: 18),
        "ReduceL2": reduce(.l2, axesInputSince: 18), "ReduceLogSum": reduce(.logSum, axesInputSince: 18),
        "ReduceLogSumExp": reduce(.logSumExp, axesInputSince: 18),
        "ReduceSumSquare": reduce(.sumSquare, axesInputSince: 18),
        "ArgMin": { a throws(EngineError) in
            ArgMaxOp(
                axis: try a.int("axis", 0),
                keepDims: try a.int("keepdims", 1) != 0,
                selectLast: try a.int("select_last_index", 0) != 0,
                minimum: true
            )
        },
        "LayerNormalization": { a throws(EngineError) in
            LayerNormOp(axis: try a.int("axis", -1), epsilon: try a.float("epsilon", 1e-5), rms: false)
        },
        "RMSNormalization": { a throws(EngineError) in
            LayerNormOp(axis: try a.int("axis", -1), epsilon: try a.float("epsilon", 1e-5), rms: true)
        },
        "InstanceNormalization": { a throws(EngineError) in
            GroupNormOp(groups: nil, epsilon: try a.float("epsilon", 1e-5), perGroupParameters: false)
        },
        "GroupNormalization": { a throws(EngineError) in
            guard a.has("num_groups") else { throw a.error("attribute 'num_groups' is required") }
            return GroupNormOp(
                groups: try a.int("num_groups", 1),
                epsilon: try a.float("epsilon", 1e-5),
                perGroupParameters: a.version < 21
            )
        },
        "LpNormalization": { a throws(EngineError) in LpNormOp(axis: try a.int("axis", -1), p: try a.int("p", 2)) },
        "CumSum": { a throws(EngineError) in
            CumSumOp(exclusive: try a.int("exclusive", 0) != 0, reverse: try a.int("reverse", 0) != 0)
        },
        "CumProd": { a throws(EngineError) in
            CumSumOp(exclusive: try a.int("exclusive", 0) != 0, reverse: try a.int("reverse", 0) != 0, product: true)
        },
        "TopK": { a throws(EngineError) in
            TopKOp(
                axis: try a.int("axis", -1),
                largest: try a.int("largest", 1) != 0,
                sorted: try a.int("sorted", 1) != 0,
                attributeK: a.version < 10 ? try a.int("k", 0) : nil
            )
        },
        "Hardmax": { a throws(EngineError) in
            HardmaxOp(axis: try a.int("axis", a.version >= 13 ? -1 : 1), coerce2D: a.version < 13)
        },
    ]

    private static func reduce(_ kind: ReduceOp.Kind, axesInputSince: Int) -> OperatorFactory {
        { a throws(EngineError) in
            ReduceOp(
                kind: kind,
                keepDims: try a.int("keepdims", 1) != 0,
                attributeAxes: a.version < axesInputSince ? try a.ints("axes") : nil,
                noopWithEmptyAxes: try a.int("noop_with_empty_axes", 0) != 0
            )
        }
    }
}
