/// The dimensions of a tensor, outermost first. The first dimension is the batch dimension wherever
/// a model or a batcher needs one.
public struct Shape: Hashable, Sendable, RandomAccessCollection, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// The dimensions; each is zero or more.
    public private(set) var dims: [Int]

    /// Makes a shape.
    /// - Parameter dims: the dimensions; negative values are a programming error.
    public init(_ dims: [Int]) {
        precondition(dims.allSatisfy { $0 >= 0 }, "negative dimension in \(dims)")
        self.dims = dims
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    public var startIndex: Int { self.dims.startIndex }
    public var endIndex: Int { self.dims.endIndex }
    public subscript(position: Int) -> Int { self.dims[position] }

    /// The number of dimensions.
    public var rank: Int { self.dims.count }

    /// The product of the dimensions (0 when one is 0), or `nil` when it overflows `Int`.
    public var elementCount: Int? {
        if self.dims.contains(0) { return 0 }  // exact, however large the other dimensions
        var total = 1
        for dim in self.dims {
            let (product, overflow) = total.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            total = product
        }
        return total
    }

    /// The same shape with its first dimension replaced.
    /// - Parameter batch: the new first dimension.
    public func withBatch(_ batch: Int) -> Shape {
        guard let first = self.dims.first, first != batch else { return self }  // unchanged: no new array
        var copy = self
        copy.dims[0] = batch
        return copy
    }

    public var description: String { "[" + self.dims.map(String.init).joined(separator: ",") + "]" }
}
