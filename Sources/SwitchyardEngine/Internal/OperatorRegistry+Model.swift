/// Whole-layer operators of sequence and image models: recurrent cells, resizing, losses, Einsum.
extension OperatorRegistry {
    static let layerOperators: [String: OperatorFactory] = [
        "RNN": { a throws(EngineError) in try RecurrentOp(a, cell: .rnn) },
        "GRU": { a throws(EngineError) in try RecurrentOp(a, cell: .gru) },
        "LSTM": { a throws(EngineError) in try RecurrentOp(a, cell: .lstm) },
        "Resize": { a throws(EngineError) in try ResizeOp(a, upsample: false) },
        "Upsample": { a throws(EngineError) in try ResizeOp(a, upsample: true) },
        "NegativeLogLikelihoodLoss": { a throws(EngineError) in try LossOp(a, softmax: false) },
        "SoftmaxCrossEntropyLoss": { a throws(EngineError) in try LossOp(a, softmax: true) },
        "Attention": { a throws(EngineError) in try AttentionOp(a) },
        "Einsum": { a throws(EngineError) in
            guard a.has("equation") else { throw a.error("attribute 'equation' is required") }
            return EinsumOp(equation: try a.string("equation", ""))
        },
    ]
}
