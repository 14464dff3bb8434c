import SwitchyardTensor

import Foundation

/// Einsum in explicit and implicit form, with `...`: a direct sum over the contracted letters, in Double.
struct EinsumOp: Operator {
    var equation: String

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let equation = self.equation.filter { !$0.isWhitespace }
        let sides = equation.components(separatedBy: "->")
        let operands = sides[0].components(separatedBy: ",")
        guard operands.count == context.inputs.count, sides.count <= 2 else {
            throw context.error(
                "equation '\(self.equation)' names \(operands.count) operands for \(context.inputs.count) inputs"
            )
        }
        let types = try context.inputs.indices.map { index throws(EngineError) in try context.input(index, numericTypes)
        }
        let dtype = types[0].dtype
        // Letters per operand, with the ellipsis expanded to capital placeholders after the letters used.
        var ellipsisRank = 0
        for (index, operand) in operands.enumerated() where operand.contains("...") {
            ellipsisRank = max(ellipsisRank, types[index].shape.count - (operand.count - 3))
        }
        let broadcastLetters = (0..<ellipsisRank).map { Character(UnicodeScalar(0x100 + $0)!) }
        func expand(_ operand: String, rank: Int?) -> [Character] {
            guard let range = operand.range(of: "...") else { return Array(operand) }
            let own = rank.map { $0 - (operand.count - 3) } ?? ellipsisRank
            return Array(operand[..<range.lowerBound]) + broadcastLetters.suffix(own)
                + Array(operand[range.upperBound...])
        }
        var letters: [[Character]] = []
        var sizes: [Character: Int] = [:]
        for (index, operand) in operands.enumerated() {
            let list = expand(operand, rank: types[index].shape.count)
            guard list.count == types[index].shape.count else {
                throw context.error(
                    "operand '\(operand)' does not match input \(index) of rank \(types[index].shape.count)"
                )
            }
            for (axis, letter) in list.enumerated() {
                let size = types[index].shape[axis]
                if let known = sizes[letter], known != size {
                    if known == 1 {
                        sizes[letter] = size
                    } else if size != 1 {
                        throw context.error("letter '\(letter)' has sizes \(known) and \(size)")
                    }
                } else if sizes[letter] == nil {
                    sizes[letter] = size
                }
            }
            letters.append(list)
        }
        var output: [Character]
        if sides.count == 2 {
            output = expand(sides[1], rank: nil)
        } else {
            var counts: [Character: Int] = [:]
            for list in letters { for letter in list { counts[letter, default: 0] += 1 } }
            output =
                broadcastLetters + counts.keys.filter { counts[$0] == 1 && !broadcastLetters.contains($0) }.sorted()
        }
        let contracted = Array(Set(letters.flatMap { $0 }).subtracting(output)).sorted()
        let all = output + contracted
        guard all.allSatisfy({ sizes[$0] != nil }) else { throw context.error("output names a letter no input has") }
        let shape = output.map { sizes[$0]! }
        let loopShape = all.map { sizes[$0]! }
        let outputCount = shape.reduce(1, *)
        let contractedCount = contracted.map { sizes[$0]! }.reduce(1, *)
        // Per input: stride of each loop letter (0 where absent or broadcast).
        let strides: [[Int]] = letters.enumerated().map { index, list in
            let own = contiguousStrides(types[index].shape)
            return all.map { letter in
                var stride = 0
                for (axis, l) in list.enumerated() where l == letter && types[index].shape[axis] != 1 {
                    stride += own[axis]
                }
                return stride
            }
        }
        let inputCount = letters.count
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: shape)],
            kernel: { io in
                let target = io.output(0)
                var sums = [Double](repeating: 0, count: outputCount)
                var position = 0
                forEachIndex(loopShape) { index in
                    var product = 1.0
                    for input in 0..<inputCount {
                        var offset = 0
                        for axis in index.indices { offset += index[axis] * strides[input][axis] }
                        let source = io.input(input)
                        product *=
                            dtype.isFloatingPoint
                            ? loadDouble(source, offset, dtype) : Double(loadInteger(source, offset, dtype))
                    }
                    sums[position / max(contractedCount, 1)] += product
                    position += 1
                }
                for (index, value) in sums.enumerated() {
                    if dtype.isFloatingPoint {
                        store(double: value, target, index, dtype)
                    } else {
                        store(integer: Int64(value), target, index, dtype)
                    }
                }
            }
        )
    }
}
