import SwitchyardTensor

/// Whole-layer operators of sequence and image models: recurrent cells, resizing, losses, Einsum.
extension OperatorRegistry {
    static let layerOperators: [String: OperatorFactory] = [
        "RNN": { a throws(EngineError) in try RecurrentOp(a, cell: .rnn) },
        "GRU": { a throws(EngineError) in try RecurrentOp(a, cell: .gru) },
        "LSTM": { a throws(EngineError) in try RecurrentOp(a, cell: .lstm) },
        "Resize": { a throws(EngineError) in try ResizeOp(a, upsample: false) },
        "GridSample": { a throws(EngineError) in try GridSampleOp(a) },
        "Upsample": { a throws(EngineError) in try ResizeOp(a, upsample: true) },
        "NegativeLogLikelihoodLoss": { a throws(EngineError) in try LossOp(a, softmax: false) },
        "SoftmaxCrossEntropyLoss": { a throws(EngineError) in try LossOp(a, softmax: true) },
        "Attention": { a throws(EngineError) in try AttentionOp(a) },
        "HannWindow": window(.hann), "HammingWindow": window(.hamming), "BlackmanWindow": window(.blackman),
        "LRN": { a throws(EngineError) in
            LRNOp(
                size: try a.int("size", 0), alpha: try a.float("alpha", 1e-4), beta: try a.float("beta", 0.75),
                bias: try a.float("bias", 1))
        },
        "MeanVarianceNormalization": { a throws(EngineError) in MeanVarianceNormOp(axes: try a.ints("axes") ?? [0, 2, 3]) },
        "ReverseSequence": { a throws(EngineError) in
            ReverseSequenceOp(batchAxis: try a.int("batch_axis", 1), timeAxis: try a.int("time_axis", 0))
        },
        "CenterCropPad": { a throws(EngineError) in CenterCropPadOp(axes: try a.ints("axes")) },
        "SwiGLU": { a throws(EngineError) in SwiGLUOp(alpha: try a.float("alpha", 1)) },
        "RotaryEmbedding": { a throws(EngineError) in
            RotaryEmbeddingOp(
                interleaved: try a.int("interleaved", 0) != 0, rotaryDim: try a.int("rotary_embedding_dim", 0),
                heads: try a.int("num_heads", 0))
        },
        "Einsum": { a throws(EngineError) in
            guard a.has("equation") else { throw a.error("attribute 'equation' is required") }
            return EinsumOp(equation: try a.string("equation", ""))
        },
    ]

    private static func window(_ kind: WindowOp.Kind) -> OperatorFactory {
        { a throws(EngineError) in
            guard let code = UInt8(exactly: try a.int("output_datatype", 1)), let dtype = DType(rawValue: code),
                dtype != .bytes
            else { throw a.error("output_datatype is not supported", .unsupportedOperator) }
            return WindowOp(kind: kind, periodic: try a.int("periodic", 1) != 0, dtype: dtype)
        }
    }
}
