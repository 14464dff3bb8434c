/// Element and slice addressing: gathers and scatters.
extension OperatorRegistry {
    static let indexingOperators: [String: OperatorFactory] = [
        "GatherElements": { a throws(EngineError) in GatherElementsOp(axis: try a.int("axis", 0)) },
        "GatherND": { a throws(EngineError) in GatherNDOp(batchDims: try a.int("batch_dims", 0)) },
        "ScatterND": { a throws(EngineError) in ScatterNDOp(reduction: try reduction(a)) },
        "ScatterElements": { a throws(EngineError) in
            ScatterElementsOp(axis: try a.int("axis", 0), reduction: try reduction(a))
        },
        "Scatter": { a throws(EngineError) in ScatterElementsOp(axis: try a.int("axis", 0), reduction: .none) },
    ]

    private static func reduction(_ a: Attributes) throws(EngineError) -> ScatterReduction {
        let name = try a.string("reduction", "none")
        guard let reduction = ScatterReduction(rawValue: name) else {
            throw a.error("reduction '\(name)' is not none, add, mul, max or min")
        }
        return reduction
    }
}
