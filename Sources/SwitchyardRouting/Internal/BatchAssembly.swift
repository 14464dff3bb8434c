internal import SwitchyardTensor
internal import SwitchyardWire

/// Joins requests into one batched request and splits the batched answer back.
enum BatchAssembly {
    /// One request's tensors joined by rows with the others'. Nothing is copied: each joined tensor keeps the
    /// members' views, which the transport writes one after another into the batch's frame. A single request is
    /// returned as it is.
    /// - Parameter requests: requests of one ``BatchLayout``.
    /// - Throws: `RoutingError.malformedBatch` when the tensors cannot be joined.
    static func join(_ requests: [Request]) throws(RoutingError) -> Request {
        precondition(!requests.isEmpty, "a batch has at least one request")
        var batch = requests[0]
        batch.timeout = nil
        guard requests.count > 1 else { return batch }
        batch.idempotent = requests.allSatisfy(\.idempotent)
        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(batch.tensors.count)
        for (index, named) in batch.tensors.enumerated() {
            do {
                let joined = try Tensor(joiningRows: requests.map { $0.tensors[index].tensor })
                tensors.append(NamedTensor(named.name, joined))
            } catch {
                throw RoutingError(.malformedBatch, "cannot join input \(named.name): \(error)", cause: error)
            }
        }
        batch.tensors = tensors
        return batch
    }

    /// Splits a batched response so that each request gets its own rows, in order.
    ///
    /// Every output tensor must have the batch's rows as its first dimension. Parameters are copied to each part.
    /// - Parameters:
    ///   - response: the upstream's answer to the batch.
    ///   - rowCounts: the rows of each request, in batch order.
    /// - Throws: `RoutingError.malformedBatch` when an output does not have one row per input row.
    static func split(_ response: Response, rowCounts: [Int]) throws(RoutingError) -> [Response] {
        guard rowCounts.count > 1 else { return [response] }
        let total = rowCounts.reduce(0, +)
        var parts = [Response](repeating: Response(parameters: response.parameters), count: rowCounts.count)
        for index in parts.indices { parts[index].tensors.reserveCapacity(response.tensors.count) }
        for named in response.tensors {
            let shape = named.tensor.shape
            guard shape.rank >= 1, shape[0] == total else {
                throw RoutingError(
                    .malformedBatch,
                    "output \(named.name) has shape \(shape); a batch of \(total) rows needs \(total) rows of output"
                )
            }
            do {
                let slices = try Self.rows(of: named.tensor, counts: rowCounts)
                for (index, slice) in slices.enumerated() {
                    parts[index].tensors.append(NamedTensor(named.name, slice))
                }
            } catch {
                throw RoutingError(.malformedBatch, "cannot split output \(named.name): \(error)", cause: error)
            }
        }
        return parts
    }

    /// Consecutive row ranges of `tensor`, without copying the data.
    private static func rows(of tensor: Tensor, counts: [Int]) throws(TensorError) -> [Tensor] {
        var result: [Tensor] = []
        result.reserveCapacity(counts.count)
        if tensor.dtype.byteWidth != nil {
            var start = 0
            for count in counts {
                result.append(try tensor.rows(start..<(start + count)))
                start += count
            }
            return result
        }
        // bytes: each row holds `perRow` length-prefixed elements; walk them to find the row boundaries.
        let perRow = Shape(Array(tensor.shape.dims.dropFirst())).elementCount ?? 0
        var offset = 0
        try tensor.data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws(TensorError) in
            for count in counts {
                let begin = offset
                for _ in 0..<(count * perRow) {
                    guard raw.count - offset >= 4 else { throw TensorError(.malformedBytes, "truncated bytes tensor") }
                    let length = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
                    offset += 4 + length
                    guard offset <= raw.count else {
                        throw TensorError(.malformedBytes, "bytes element runs past the end")
                    }
                }
                result.append(
                    try Tensor(
                        dtype: .bytes,
                        shape: tensor.shape.withBatch(count),
                        data: tensor.data.slice(begin..<offset)
                    )
                )
            }
        }
        return result
    }
}
