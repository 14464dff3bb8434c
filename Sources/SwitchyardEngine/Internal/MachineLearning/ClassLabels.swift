import SwitchyardTensor

/// The class labels of a classifier: int64 labels, or strings (answered as a string tensor).
struct ClassLabels: Sendable {
    let ints: [Int64]
    let strings: StringList?

    /// Reads `ints` or `strings` (exactly one must be given).
    init(_ attributes: Attributes, ints: String, strings: String) throws(EngineError) {
        let integers = try attributes.ints(ints)
        let texts = try attributes.strings(strings)
        switch (integers, texts) {
        case (let values?, nil):
            self.ints = values.map { Int64($0) }
            self.strings = nil
        case (nil, let values?):
            self.ints = []
            self.strings = StringList(values)
        default:
            throw attributes.error("exactly one of '\(ints)' and '\(strings)' must be given")
        }
    }

    var count: Int { self.strings?.count ?? self.ints.count }
    var dtype: DType { self.strings == nil ? .int64 : .bytes }

    /// Writes label `index` as element `row` of the labels output.
    @inline(__always)
    func store(index: Int, into output: UnsafeMutableRawPointer, _ row: Int) {
        if let strings = self.strings {
            StringElements.set(output, row, strings[index])
        } else {
            output.storeBytes(of: self.ints[index], toByteOffset: row * 8, as: Int64.self)
        }
    }

    /// Writes a literal label, where onnxruntime answers a number rather than one of the labels; with string
    /// labels it answers the label at that position.
    @inline(__always)
    func store(literal: Int64, into output: UnsafeMutableRawPointer, _ row: Int) {
        if let strings = self.strings {
            StringElements.set(output, row, strings[Int(literal)])
        } else {
            output.storeBytes(of: literal, toByteOffset: row * 8, as: Int64.self)
        }
    }
}
