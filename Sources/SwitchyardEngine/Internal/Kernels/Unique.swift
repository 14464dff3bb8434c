import SwitchyardTensor

/// Unique: the distinct elements (or, with `axis`, the distinct slices along it), sorted ascending or in order of
/// first occurrence, with the first-occurrence indices, each input's position in the result, and the counts. The
/// result's length depends on the data, so it runs when the input is known (node by node for a request).
struct UniqueOp: Operator {
    let axis: Int?
    let sorted: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        self.axis = attributes.has("axis") ? try attributes.int("axis", 0) : nil
        let sorted = try attributes.int("sorted", 1)
        guard sorted == 0 || sorted == 1 else { throw attributes.error("sorted must be 0 or 1; it is \(sorted)") }
        self.sorted = sorted == 1
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, numericTypes.union([.bool]))
        let axis = try self.axis.map { value throws(EngineError) in
            guard !x.shape.isEmpty else { throw context.error("axis \(value) given for a scalar input") }
            return try normalizeAxis(value, rank: x.shape.count, context)
        }
        let data = try context.constant(0, "Unique's input")
        let shape = axis == nil ? [x.count] : x.shape
        let along = axis ?? 0
        let dim = shape[along]
        let outer = shape.prefix(along).reduce(1, *)
        let inner = shape.suffix(from: along + 1).reduce(1, *)
        let width = x.dtype.elementSize
        let pointer = UnsafeRawPointer(data.buffer.pointer)
        func element(_ slice: Int, _ o: Int, _ j: Int) -> Int { (o * dim + slice) * inner + j }
        // Slices compared by value: floats as doubles (0 and -0 alike), integers exactly.
        let found: (sorted: [Int], first: [Int], inverse: [Int])
        if x.dtype.isFloatingPoint {
            found = Self.distinct(dim) { slice in
                (0..<outer).flatMap { o in (0..<inner).map { loadDouble(pointer, element(slice, o, $0), x.dtype) } }
            }
        } else {
            found = Self.distinct(dim) { slice in
                (0..<outer).flatMap { o in (0..<inner).map { loadInteger(pointer, element(slice, o, $0), x.dtype) } }
            }
        }
        // Each distinct value's first-occurrence slice, in output order.
        let ranked = self.sorted ? found.sorted : found.first
        let inverse = found.inverse
        var position = [Int: Int]()
        for (rank, slice) in ranked.enumerated() { position[slice] = rank }
        let mapped = inverse.map { Int64(position[$0]!) }
        var counts = [Int64](repeating: 0, count: ranked.count)
        for value in mapped { counts[Int(value)] += 1 }
        var yShape = shape
        yShape[along] = ranked.count
        if axis == nil { yShape = [ranked.count] }
        let indices = ranked.map { Int64($0) }
        let tallies = counts
        let chosen = ranked
        return OpPlan(
            outputs: [
                ValueType(dtype: x.dtype, shape: yShape), ValueType(dtype: .int64, shape: [ranked.count]),
                ValueType(dtype: .int64, shape: [dim]), ValueType(dtype: .int64, shape: [ranked.count]),
            ],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                for o in 0..<outer {
                    for (rank, slice) in chosen.enumerated() where inner > 0 {
                        (target + (o * chosen.count + rank) * inner * width).copyMemory(
                            from: source + (o * dim + slice) * inner * width,
                            byteCount: inner * width
                        )
                    }
                }
                for (output, values) in [(1, indices), (2, mapped), (3, tallies)] where io.outs.count > output {
                    let pointer = io.output(output).assumingMemoryBound(to: Int64.self)
                    for (index, value) in values.enumerated() { pointer[index] = value }
                }
            }
        )
    }

    /// The distinct keys among `count` slices: their first occurrences sorted by key, and each slice's first
    /// occurrence.
    private static func distinct<K: Comparable & Hashable>(
        _ count: Int,
        key: (Int) -> [K]
    ) -> (sorted: [Int], first: [Int], inverse: [Int]) {
        var first: [[K]: Int] = [:]
        var keys: [[K]] = []
        var inverse = [Int](repeating: 0, count: count)
        var firsts: [Int] = []
        for slice in 0..<count {
            let value = key(slice)
            if let seen = first[value] {
                inverse[slice] = seen
            } else {
                first[value] = slice
                inverse[slice] = slice
                firsts.append(slice)
            }
            keys.append(value)
        }
        let sorted = firsts.sorted { a, b in keys[a].lexicographicallyPrecedes(keys[b]) }
        return (sorted, firsts, inverse)
    }
}

/// Det: the determinant of each square matrix in the last two axes (LU with partial pivoting, in doubles).
struct DetOp: Operator {
    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        guard x.shape.count >= 2, x.shape[x.shape.count - 1] == x.shape[x.shape.count - 2] else {
            throw context.error("the input must be [..., M, M]; it is \(x.shape)")
        }
        let n = x.shape[x.shape.count - 1]
        let batchShape = Array(x.shape.dropLast(2))
        let batches = batchShape.reduce(1, *)
        let dtype = x.dtype
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: batchShape)],
            kernel: { io in
                var a = [Double](repeating: 0, count: n * n)
                for batch in 0..<batches {
                    for index in 0..<(n * n) { a[index] = loadDouble(io.input(0), batch * n * n + index, dtype) }
                    var determinant = 1.0
                    for column in 0..<n {
                        var pivot = column
                        for row in (column + 1)..<max(n, column + 1)
                        where abs(a[row * n + column]) > abs(a[pivot * n + column]) {
                            pivot = row
                        }
                        if a[pivot * n + column] == 0 {
                            determinant = 0
                            break
                        }
                        if pivot != column {
                            for k in 0..<n { a.swapAt(pivot * n + k, column * n + k) }
                            determinant = -determinant
                        }
                        let diagonal = a[column * n + column]
                        determinant *= diagonal
                        for row in (column + 1)..<max(n, column + 1) {
                            let factor = a[row * n + column] / diagonal
                            if factor == 0 { continue }
                            for k in column..<n { a[row * n + k] -= factor * a[column * n + k] }
                        }
                    }
                    store(double: determinant, io.output(0), batch, dtype)
                }
            }
        )
    }
}
