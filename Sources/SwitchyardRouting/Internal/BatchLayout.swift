internal import SwitchyardTensor
internal import SwitchyardWire

/// What must agree for requests to share a batch: method, parameters (but the trace context, which is each
/// request's own), and per input tensor its name, dtype and row shape (every dimension past the first).
struct BatchLayout: Hashable, Sendable {
    struct Input: Hashable, Sendable {
        var name: String
        var dtype: DType
        /// A slice of the tensor's own dimensions: no array is made per request.
        var rowShape: ArraySlice<Int>
    }

    var method: String
    var parameters: [Parameter]
    var inputs: [Input]
    /// Set for a request that cannot be joined with others; makes its layout unique.
    var loner: UInt64?

    /// The layout of a request and its number of rows, or a unique layout when the request cannot be batched
    /// (no tensors, a scalar, tensors whose first dimensions disagree, or zero rows).
    /// - Parameters:
    ///   - request: the request.
    ///   - id: the request's id, which makes a loner's layout unique.
    static func of(_ request: Request, id: UInt64) -> (layout: BatchLayout, rows: Int) {
        guard let rows = Self.batchRows(of: request) else {
            return (BatchLayout(method: request.method, parameters: [], inputs: [], loner: id), 1)
        }
        let inputs = request.tensors.map { named in
            Input(name: named.name, dtype: named.tensor.dtype, rowShape: named.tensor.shape.dims.dropFirst())
        }
        var parameters = request.parameters
        if parameters.contains(where: { ParameterKey.traceContext.contains($0.key) }) {  // no copy when untraced
            parameters.removeAll { ParameterKey.traceContext.contains($0.key) }
        }
        return (BatchLayout(method: request.method, parameters: parameters, inputs: inputs, loner: nil), rows)
    }

    /// A request's rows as a batch counts them (1 for one that cannot be batched), without building its layout:
    /// what a request sent alone needs.
    static func rows(of request: Request) -> Int { Self.batchRows(of: request) ?? 1 }

    /// The first dimension all of a request's tensors share, or `nil` when it cannot be batched.
    private static func batchRows(of request: Request) -> Int? {
        var rows: Int? = nil
        for named in request.tensors {
            let shape = named.tensor.shape
            guard shape.rank >= 1, rows == nil || rows == shape[0] else { return nil }
            rows = shape[0]
        }
        guard let rows, rows > 0 else { return nil }
        return rows
    }
}
