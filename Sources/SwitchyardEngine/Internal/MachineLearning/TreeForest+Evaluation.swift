import SwitchyardTensor

extension TreeForest {
    /// Sums (or takes the minimum, maximum or average of) every tree's votes for `rows` rows of `input`.
    ///
    /// - Parameters:
    ///   - input: the rows, `stride` elements each, of `dtype` (float32, float64, int64 or int32).
    ///   - scores: `rows × targets` accumulators, written here.
    ///   - hasScore: `rows × targets` flags: whether some reached leaf voted for the target (onnxruntime's
    ///     classifiers decide labels and binary scores by them).
    ///   - rowBuffer: `stride` doubles for rows that take the general walk.
    ///   - order: `rows` ints of scratch.
    func accumulate<A: BinaryFloatingPoint>(
        input: UnsafeRawPointer,
        dtype: DType,
        rows: Int,
        stride: Int,
        scores: UnsafeMutablePointer<A>,
        hasScore: UnsafeMutablePointer<Bool>,
        rowBuffer: UnsafeMutablePointer<Double>,
        order: UnsafeMutablePointer<Int>
    ) {
        let targets = self.spec.targets
        let initial: A =
            switch self.spec.aggregate {
            case .sum, .average: 0
            case .min: A.greatestFiniteMagnitude
            case .max: -A.greatestFiniteMagnitude
            }
        scores.initialize(repeating: initial, count: rows * targets)
        hasScore.initialize(repeating: false, count: rows * targets)
        var general = 0  // rows for the general walk are listed from the end of `order`
        var fast = 0
        if dtype == .float32, self.fastNodes != nil {
            let x = input.assumingMemoryBound(to: Float.self)
            for row in 0..<rows {
                let line = x + row * stride
                var clean = true
                for column in 0..<stride where line[column].isNaN {
                    clean = false
                    break
                }
                if clean {
                    order[fast] = row
                    fast += 1
                } else {
                    general += 1
                    order[rows - general] = row
                }
            }
        } else {
            for row in 0..<rows { order[row] = row }
            general = rows
        }
        let values = (A.self == Double.self ? self.votesDouble : self.votesFloat).pointer.assumingMemoryBound(
            to: A.self
        )
        if fast > 0 {
            self.walkFast(
                input.assumingMemoryBound(to: Float.self),
                stride: stride,
                rows: order,
                count: fast,
                scores: scores,
                hasScore: hasScore,
                values: values
            )
        }
        for position in (rows - general)..<rows {
            let row = order[position]
            self.loadRow(input, dtype: dtype, row: row, stride: stride, into: rowBuffer)
            self.walkGeneral(
                rowBuffer,
                scores: scores + row * targets,
                hasScore: hasScore + row * targets,
                values: values
            )
        }
    }

    /// Converts a row to doubles the way onnxruntime compares it: floats and doubles exactly, integers through
    /// the thresholds' type.
    private func loadRow(
        _ input: UnsafeRawPointer,
        dtype: DType,
        row: Int,
        stride: Int,
        into buffer: UnsafeMutablePointer<Double>
    ) {
        let base = row * stride
        switch dtype {
        case .float32:
            let x = input.assumingMemoryBound(to: Float.self) + base
            for column in 0..<stride { buffer[column] = Double(x[column]) }
        case .float64:
            let x = input.assumingMemoryBound(to: Double.self) + base
            for column in 0..<stride { buffer[column] = x[column] }
        case .int64:
            let x = input.assumingMemoryBound(to: Int64.self) + base
            for column in 0..<stride {
                buffer[column] = self.spec.doublePrecision ? Double(x[column]) : Double(Float(x[column]))
            }
        default:
            let x = input.assumingMemoryBound(to: Int32.self) + base
            for column in 0..<stride {
                buffer[column] = self.spec.doublePrecision ? Double(x[column]) : Double(Float(x[column]))
            }
        }
    }

    /// One row through every tree, with every mode and onnxruntime's NaN rules.
    private func walkGeneral<A: BinaryFloatingPoint>(
        _ x: UnsafePointer<Double>,
        scores: UnsafeMutablePointer<A>,
        hasScore: UnsafeMutablePointer<Bool>,
        values: UnsafePointer<A>
    ) {
        let branches = self.spec.branches
        for root in self.spec.roots {
            var reference = root
            while reference >= 0 {
                let branch = branches[Int(reference)]
                let value = x[branch.feature]
                let taken: Bool
                if value.isNaN && branch.missingTracksTrue {
                    taken = true
                } else {
                    switch branch.mode {
                    case .leq: taken = value <= branch.threshold
                    case .lt: taken = value < branch.threshold
                    case .gte: taken = value >= branch.threshold
                    case .gt: taken = value > branch.threshold
                    case .eq: taken = value == branch.threshold
                    case .neq: taken = value != branch.threshold
                    case .member: taken = branch.members.contains(value)
                    }
                }
                reference = taken ? branch.onTrue : branch.onFalse
            }
            self.vote(leaf: Int(~reference), scores: scores, hasScore: hasScore, values: values)
        }
    }

    @inline(__always)
    private func vote<A: BinaryFloatingPoint>(
        leaf: Int,
        scores: UnsafeMutablePointer<A>,
        hasScore: UnsafeMutablePointer<Bool>,
        values: UnsafePointer<A>
    ) {
        let starts = self.leafStart.pointer.assumingMemoryBound(to: Int32.self)
        let voteTarget = self.voteTargets.pointer.assumingMemoryBound(to: Int32.self)
        for index in Int(starts[leaf])..<Int(starts[leaf + 1]) {
            let target = Int(voteTarget[index])
            let value = values[index]
            switch self.spec.aggregate {
            case .sum, .average: scores[target] += value
            case .min: if !hasScore[target] || value < scores[target] { scores[target] = value }
            case .max: if !hasScore[target] || value > scores[target] { scores[target] = value }
            }
            hasScore[target] = true
        }
    }

    /// Rows `rows[0..<count]` (none holding NaN) through every tree in the fast layout, eight rows at a time.
    private func walkFast<A: BinaryFloatingPoint>(
        _ x: UnsafePointer<Float>,
        stride: Int,
        rows: UnsafePointer<Int>,
        count: Int,
        scores: UnsafeMutablePointer<A>,
        hasScore: UnsafeMutablePointer<Bool>,
        values: UnsafePointer<A>
    ) {
        let targets = self.spec.targets
        let nodes = self.fastNodes!.pointer.assumingMemoryBound(to: FastNode.self)
        let leafStart = self.leafStart.pointer.assumingMemoryBound(to: Int32.self)
        let voteTarget = self.voteTargets.pointer.assumingMemoryBound(to: Int32.self)
        @inline(__always) func add(_ slot: Int32, _ row: Int) {
            let leaf = Int(nodes[Int(slot)].leaf)
            let line = scores + row * targets
            let flags = hasScore + row * targets
            var index = Int(leafStart[leaf])
            let end = Int(leafStart[leaf + 1])
            while index < end {
                let target = Int(voteTarget[index])
                line[target] += values[index]
                flags[target] = true
                index += 1
            }
        }
        @inline(__always) func step(_ slot: Int32, _ line: UnsafePointer<Float>) -> Int32 {
            let node = nodes[Int(slot)]
            return node.next &+ (line[Int(node.feature)] <= node.threshold ? 0 : 1)
        }
        for tree in 0..<self.fastRoots.count {
            let root = self.fastRoots[tree]
            let depth = Int(self.fastDepths[tree])
            var block = 0
            while block + 8 <= count {
                let r0 = rows[block]
                let r1 = rows[block + 1]
                let r2 = rows[block + 2]
                let r3 = rows[block + 3]
                let r4 = rows[block + 4]
                let r5 = rows[block + 5]
                let r6 = rows[block + 6]
                let r7 = rows[block + 7]
                let x0 = x + r0 * stride
                let x1 = x + r1 * stride
                let x2 = x + r2 * stride
                let x3 = x + r3 * stride
                let x4 = x + r4 * stride
                let x5 = x + r5 * stride
                let x6 = x + r6 * stride
                let x7 = x + r7 * stride
                var s0 = root
                var s1 = root
                var s2 = root
                var s3 = root
                var s4 = root
                var s5 = root
                var s6 = root
                var s7 = root
                for _ in 0..<depth {
                    s0 = step(s0, x0)
                    s1 = step(s1, x1)
                    s2 = step(s2, x2)
                    s3 = step(s3, x3)
                    s4 = step(s4, x4)
                    s5 = step(s5, x5)
                    s6 = step(s6, x6)
                    s7 = step(s7, x7)
                }
                add(s0, r0)
                add(s1, r1)
                add(s2, r2)
                add(s3, r3)
                add(s4, r4)
                add(s5, r5)
                add(s6, r6)
                add(s7, r7)
                block += 8
            }
            while block < count {
                let row = rows[block]
                let line = x + row * stride
                var slot = root
                for _ in 0..<depth { slot = step(slot, line) }
                add(slot, row)
                block += 1
            }
        }
    }
}
