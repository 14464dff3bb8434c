/// The `ai.onnx.ml` operators: classical models exported by skl2onnx and friends.
extension OperatorRegistry {
    static let machineLearningOperators: [String: OperatorFactory] = [
        "ArrayFeatureExtractor": { _ in ArrayFeatureExtractorOp() },
        "LinearClassifier": { a throws(EngineError) in try LinearClassifierOp(a) },
        "Normalizer": { a throws(EngineError) in try NormalizerOp(a) },
    ]
}
