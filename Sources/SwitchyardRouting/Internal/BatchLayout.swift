internal import SwitchyardTensor
internal import SwitchyardWire

/// What must agree for requests to share a batch: method, parameters, and per input tensor its name, dtype
/// and row shape (every dimension past the first).
struct BatchLayout: Hashable, Sendable {
    struct Input: Hashable, Sendable {
        var name: String
        var dtype: DType
        var rowShape: [Int]
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
        var inputs: [Input] = []
        inputs.reserveCapacity(request.tensors.count)
        var rows: Int? = nil
        var batchable = !request.tensors.isEmpty
        for named in request.tensors {
            let shape = named.tensor.shape
            guard shape.rank >= 1, rows == nil || rows == shape[0] else {
                batchable = false
                break
            }
            rows = shape[0]
            inputs.append(Input(name: named.name, dtype: named.tensor.dtype, rowShape: Array(shape.dims.dropFirst())))
        }
        if batchable, let rows, rows > 0 {
            return (
                BatchLayout(method: request.method, parameters: request.parameters, inputs: inputs, loner: nil), rows
            )
        }
        return (BatchLayout(method: request.method, parameters: [], inputs: [], loner: id), 1)
    }
}
