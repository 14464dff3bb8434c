import SwitchyardTensor

/// The string elements of a known value, decoded as UTF-8 (invalid bytes replaced).
private func texts(_ constant: Constant) -> [String] {
    constant.stringValues.map { String(decoding: $0, as: UTF8.self) }
}

/// StringConcat: the elementwise concatenation of two string tensors, broadcast as NumPy does.
struct StringConcatOp: Operator {
    var acceptsStrings: Bool { true }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let a = try context.input(0, [.bytes])
        let b = try context.input(1, [.bytes])
        guard let shape = broadcastShapes(a.shape, b.shape) else {
            throw context.error("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        var left: [Int] = []
        var right: [Int] = []
        forEachOffset(shape, broadcastStrides(a.shape, to: shape)) { _, offset in left.append(offset) }
        forEachOffset(shape, broadcastStrides(b.shape, to: shape)) { _, offset in right.append(offset) }
        let (first, second) = (left, right)
        return OpPlan(
            outputs: [ValueType(dtype: .bytes, shape: shape)],
            kernel: { io in
                let (x, y, target) = (io.input(0), io.input(1), io.output(0))
                for index in first.indices {
                    var joined = [UInt8](StringElements.bytes(StringElements.element(x, first[index])))
                    joined += StringElements.bytes(StringElements.element(y, second[index]))
                    StringElements.set(target, index, io.strings.add(joined))
                }
            }
        )
    }
}

/// StringSplit: each element split on `delimiter` (kept empty parts, as Python's `str.split(sep)`), or on runs of
/// whitespace without one, at most `maxsplit` times; parts padded with empty strings to the longest, and the counts.
struct StringSplitOp: Operator {
    var acceptsStrings: Bool { true }
    let delimiter: String
    let maxSplits: Int?

    init(_ attributes: Attributes) throws(EngineError) {
        self.delimiter = try attributes.string("delimiter", "")
        self.maxSplits = attributes.has("maxsplit") ? try attributes.int("maxsplit", 0) : nil
        if let maxSplits, maxSplits < 0 { throw attributes.error("maxsplit must not be negative; it is \(maxSplits)") }
    }

    func split(_ text: String) -> [String] {
        let limit = self.maxSplits ?? Int.max
        if !self.delimiter.isEmpty {
            // On the UTF-8 bytes: a valid delimiter matches only at character boundaries.
            let (bytes, separator) = (Array(text.utf8), Array(self.delimiter.utf8))
            var parts: [String] = []
            var start = 0
            var index = 0
            while index + separator.count <= bytes.count && parts.count < limit {
                if bytes[index..<(index + separator.count)].elementsEqual(separator) {
                    parts.append(String(decoding: bytes[start..<index], as: UTF8.self))
                    index += separator.count
                    start = index
                } else {
                    index += 1
                }
            }
            parts.append(String(decoding: bytes[start...], as: UTF8.self))
            return parts
        }
        var parts: [String] = []
        var rest = Substring(text).drop(while: \.isWhitespace)
        while !rest.isEmpty {
            if parts.count == limit {
                parts.append(String(rest.reversed().drop(while: \.isWhitespace).reversed()))
                break
            }
            let word = rest.prefix { !$0.isWhitespace }
            parts.append(String(word))
            rest = rest[word.endIndex...].drop(while: \.isWhitespace)
        }
        return parts
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.bytes])
        let parts = texts(try context.constant(0, "StringSplit's input")).map(self.split)
        let width = parts.map(\.count).max() ?? 0
        var padded: [[UInt8]] = []
        for list in parts {
            padded += list.map { Array($0.utf8) } + [[UInt8]](repeating: [], count: width - list.count)
        }
        let counts = parts.map { Int64($0.count) }
        let values = padded
        return OpPlan(
            outputs: [ValueType(dtype: .bytes, shape: x.shape + [width]), ValueType(dtype: .int64, shape: x.shape)],
            kernel: { io in
                for (index, bytes) in values.enumerated() {
                    StringElements.set(io.output(0), index, io.strings.add(bytes))
                }
                if io.outs.count > 1 {
                    let target = io.output(1).assumingMemoryBound(to: Int64.self)
                    for (index, count) in counts.enumerated() { target[index] = count }
                }
            }
        )
    }
}

/// StringNormalizer: removes the elements that are stop words (compared case-insensitively unless
/// `is_case_sensitive`) and changes the case of the rest; [C] or [1, C] in, the kept elements out ([""] when none).
struct StringNormalizerOp: Operator {
    var acceptsStrings: Bool { true }
    let caseChange: String
    let caseSensitive: Bool
    let stopwords: [String]

    init(_ attributes: Attributes) throws(EngineError) {
        self.caseChange = try attributes.string("case_change_action", "NONE")
        guard ["NONE", "LOWER", "UPPER"].contains(self.caseChange) else {
            throw attributes.error("case_change_action must be NONE, LOWER or UPPER; it is '\(self.caseChange)'")
        }
        self.caseSensitive = try attributes.int("is_case_sensitive", 0) != 0
        self.stopwords = try attributes.strings("stopwords") ?? []
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.bytes])
        guard x.shape.count == 1 || (x.shape.count == 2 && x.shape[0] == 1) else {
            throw context.error("the input must be [C] or [1, C]; it is \(x.shape)")
        }
        let stops = Set(self.caseSensitive ? self.stopwords : self.stopwords.map { $0.lowercased() })
        var kept = texts(try context.constant(0, "StringNormalizer's input")).filter {
            !stops.contains(self.caseSensitive ? $0 : $0.lowercased())
        }
        switch self.caseChange {
        case "LOWER": kept = kept.map { $0.lowercased() }
        case "UPPER": kept = kept.map { $0.uppercased() }
        default: break
        }
        if kept.isEmpty { kept = [""] }
        let values = kept.map { Array($0.utf8) }
        return OpPlan(
            outputs: [ValueType(dtype: .bytes, shape: x.shape.count == 1 ? [values.count] : [1, values.count])],
            kernel: { io in
                for (index, bytes) in values.enumerated() {
                    StringElements.set(io.output(0), index, io.strings.add(bytes))
                }
            }
        )
    }
}

/// RegexFullMatch: whether each element matches `pattern` as a whole (Swift's regular expressions with RE2's ASCII
/// classes and word boundaries; RE2-only syntax is refused at load).
struct RegexFullMatchOp: Operator {
    var acceptsStrings: Bool { true }
    let pattern: String

    init(_ attributes: Attributes) throws(EngineError) {
        self.pattern = try attributes.string("pattern", "")
        do {
            _ = try Regex(self.pattern)
        } catch {
            throw attributes.error("pattern '\(self.pattern)' is not a regular expression the engine reads: \(error)")
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.bytes])
        let (pattern, count) = (self.pattern, x.count)
        return OpPlan(
            outputs: [ValueType(dtype: .bool, shape: x.shape)],
            kernel: { io throws(EngineError) in
                let regex: Regex<AnyRegexOutput>
                do {
                    // RE2's classes and word boundaries, as the operator specifies: ASCII.
                    regex = try Regex(pattern).wordBoundaryKind(.simple).asciiOnlyCharacterClasses()
                } catch {
                    throw context.error("pattern '\(pattern)': \(error)")
                }
                let target = io.output(0).assumingMemoryBound(to: UInt8.self)
                for index in 0..<count {
                    let text = String(
                        decoding: StringElements.bytes(StringElements.element(io.input(0), index)),
                        as: UTF8.self
                    )
                    target[index] = text.wholeMatch(of: regex) != nil ? 1 : 0
                }
            }
        )
    }
}
