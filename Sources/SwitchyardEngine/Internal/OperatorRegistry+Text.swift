/// String operators of the default domain: concatenation, splitting, normalization and regular expressions.
extension OperatorRegistry {
    static let textOperators: [String: OperatorFactory] = [
        "StringConcat": { _ in StringConcatOp() },
        "StringSplit": { a throws(EngineError) in try StringSplitOp(a) },
        "StringNormalizer": { a throws(EngineError) in try StringNormalizerOp(a) },
        "RegexFullMatch": { a throws(EngineError) in try RegexFullMatchOp(a) },
    ]
}
