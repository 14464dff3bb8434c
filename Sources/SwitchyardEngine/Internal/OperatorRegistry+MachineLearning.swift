/// The `ai.onnx.ml` operators: classical models exported by skl2onnx, onnxmltools and friends.
extension OperatorRegistry {
    static let machineLearningOperators: [String: OperatorFactory] = [
        "ArrayFeatureExtractor": { _ in ArrayFeatureExtractorOp() },
        "CategoryMapper": { a throws(EngineError) in try CategoryMapperOp(a) },
        "CastMap": { a throws(EngineError) in throw mapRefusal(a) },
        "DictVectorizer": { a throws(EngineError) in throw mapRefusal(a) },
        "Binarizer": { a throws(EngineError) in try BinarizerOp(a) },
        "FeatureVectorizer": { a throws(EngineError) in try FeatureVectorizerOp(a) },
        "Imputer": { a throws(EngineError) in try ImputerOp(a) },
        "LabelEncoder": { a throws(EngineError) in try LabelEncoderOp(a) },
        "LinearClassifier": { a throws(EngineError) in try LinearClassifierOp(a) },
        "LinearRegressor": { a throws(EngineError) in try LinearRegressorOp(a) },
        "Normalizer": { a throws(EngineError) in try NormalizerOp(a) },
        "OneHotEncoder": { a throws(EngineError) in try OneHotEncoderOp(a) },
        "Scaler": { a throws(EngineError) in try ScalerOp(a) },
        "SVMClassifier": { a throws(EngineError) in try SVMClassifierOp(a) },
        "SVMRegressor": { a throws(EngineError) in try SVMRegressorOp(a) },
        "TreeEnsemble": { a throws(EngineError) in try TreeEnsembleOp(a) },
        "TreeEnsembleClassifier": { a throws(EngineError) in try TreeEnsembleClassifierOp(a) },
        "TreeEnsembleRegressor": { a throws(EngineError) in try TreeEnsembleRegressorOp(a) },
        "ZipMap": { a throws(EngineError) in try ZipMapOp(a) },
    ]
}

/// CastMap and DictVectorizer take maps, which no wire tensor carries: the refusal says how to export instead.
private func mapRefusal(_ attributes: Attributes) -> EngineError {
    attributes.error(
        "takes a map, and requests carry tensors only; export the model after it, with one float column per feature "
            + "(models/README.md says how with skl2onnx)", .unsupportedOperator)
}
