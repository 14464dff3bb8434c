import SwitchyardTensor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One activation of a recurrent cell, by its ONNX name, with its alpha and beta.
struct CellActivation: Sendable {
    var name: String
    var alpha: Float
    var beta: Float

    static let known: Set<String> = [
        "sigmoid", "tanh", "relu", "affine", "leakyrelu", "thresholdedrelu", "scaledtanh", "hardsigmoid", "elu",
        "softsign", "softplus",
    ]

    /// Alpha and beta defaults of the activations that take them.
    init(name: String, alpha: Float?, beta: Float?) {
        self.name = name.lowercased()
        switch self.name {
        case "leakyrelu": (self.alpha, self.beta) = (alpha ?? 0.01, 0)
        case "thresholdedrelu": (self.alpha, self.beta) = (alpha ?? 1, 0)
        case "hardsigmoid": (self.alpha, self.beta) = (alpha ?? 0.2, beta ?? 0.5)
        case "elu": (self.alpha, self.beta) = (alpha ?? 1, 0)
        case "scaledtanh", "affine": (self.alpha, self.beta) = (alpha ?? 1, beta ?? 0)
        default: (self.alpha, self.beta) = (alpha ?? 0, beta ?? 0)
        }
    }

    @inline(__always)
    func callAsFunction(_ x: Float) -> Float {
        switch self.name {
        case "sigmoid": return x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x))
        case "tanh": return tanhf(x)
        case "relu": return max(x, 0)
        case "affine": return self.alpha * x + self.beta
        case "leakyrelu": return x < 0 ? self.alpha * x : x
        case "thresholdedrelu": return x > self.alpha ? x : 0
        case "scaledtanh": return self.alpha * tanhf(self.beta * x)
        case "hardsigmoid": return max(0, min(1, self.alpha * x + self.beta))
        case "elu": return x < 0 ? self.alpha * (expf(x) - 1) : x
        case "softsign": return x / (1 + abs(x))
        default: return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x))  // softplus
        }
    }
}

/// RNN, GRU and LSTM (all directions, sequence lengths, initial states, peepholes, clip, both layouts).
struct RecurrentOp: Operator {
    enum Cell: Sendable { case rnn, gru, lstm }
    var cell: Cell
    var hidden: Int
    var direction: String
    var activations: [CellActivation]
    var clip: Float?
    var linearBeforeReset: Bool
    var inputForget: Bool
    var batchFirst: Bool

    init(_ attributes: Attributes, cell: Cell) throws(EngineError) {
        self.cell = cell
        self.hidden = try attributes.int("hidden_size", 0)
        guard self.hidden > 0 else { throw attributes.error("hidden_size must be positive") }
        self.direction = try attributes.string("direction", "forward")
        guard ["forward", "reverse", "bidirectional"].contains(self.direction) else {
            throw attributes.error("direction '\(self.direction)' is not forward, reverse or bidirectional")
        }
        let directions = self.direction == "bidirectional" ? 2 : 1
        let defaults: [String] =
            switch cell {
            case .rnn: ["Tanh"]
            case .gru: ["Sigmoid", "Tanh"]
            case .lstm: ["Sigmoid", "Tanh", "Tanh"]
            }
        let names =
            try attributes.strings("activations") ?? Array(repeating: defaults, count: directions).flatMap { $0 }
        guard names.count == defaults.count * directions else {
            throw attributes.error("activations needs \(defaults.count * directions) names, got \(names.count)")
        }
        let alphas = try attributes.floats("activation_alpha") ?? []
        let betas = try attributes.floats("activation_beta") ?? []
        var list: [CellActivation] = []
        for (index, name) in names.enumerated() {
            guard CellActivation.known.contains(name.lowercased()) else {
                throw attributes.error("activation '\(name)' is not supported", .unsupportedOperator)
            }
            list.append(
                CellActivation(
                    name: name,
                    alpha: index < alphas.count ? alphas[index] : nil,
                    beta: index < betas.count ? betas[index] : nil
                )
            )
        }
        self.activations = list
        self.clip = attributes.has("clip") ? try attributes.float("clip", 0) : nil
        self.linearBeforeReset = try attributes.int("linear_before_reset", 0) != 0
        self.inputForget = try attributes.int("input_forget", 0) != 0
        self.batchFirst = try attributes.int("layout", 0) != 0
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [.float32])
        let w = try context.input(1, [.float32])
        let r = try context.input(2, [.float32])
        guard x.shape.count == 3 else { throw context.error("X must be 3-D, got \(x.shape)") }
        let (sequence, batch) = self.batchFirst ? (x.shape[1], x.shape[0]) : (x.shape[0], x.shape[1])
        let inputSize = x.shape[2]
        let gates: Int =
            switch self.cell {
            case .rnn: 1
            case .gru: 3
            case .lstm: 4
            }
        let directions = self.direction == "bidirectional" ? 2 : 1
        let h = self.hidden
        guard w.shape == [directions, gates * h, inputSize], r.shape == [directions, gates * h, h] else {
            throw context.error("W \(w.shape) or R \(r.shape) do not fit \(directions) direction(s), hidden \(h)")
        }
        if context.has(3) {
            guard try context.input(3, [.float32]).shape == [directions, 2 * gates * h] else {
                throw context.error("B must be [\(directions), \(2 * gates * h)]")
            }
        }
        if context.has(4) { _ = try context.input(4, [.int32]) }
        let statePositions = self.cell == .lstm ? [5, 6] : [5]
        for position in statePositions where context.has(position) {
            guard try context.input(position, [.float32]).shape == [directions, batch, h] else {
                throw context.error("initial state \(position) must be [\(directions), \(batch), \(h)]")
            }
        }
        if self.cell == .lstm && context.has(7) {
            guard try context.input(7, [.float32]).shape == [directions, 3 * h] else {
                throw context.error("P must be [\(directions), \(3 * h)]")
            }
        }
        let yShape = self.batchFirst ? [batch, sequence, directions, h] : [sequence, directions, batch, h]
        let stateShape = self.batchFirst ? [batch, directions, h] : [directions, batch, h]
        var outputs = [ValueType(dtype: .float32, shape: yShape), ValueType(dtype: .float32, shape: stateShape)]
        if self.cell == .lstm { outputs.append(ValueType(dtype: .float32, shape: stateShape)) }
        let gateWidth = gates * h
        // Scratch: X·Wᵀ for every step, the recurrent product, the states.
        let scratchFloats =
            sequence * batch * gateWidth + batch * gateWidth + 4 * batch * h + batch * inputSize * sequence
        let me = self
        return OpPlan(
            outputs: outputs,
            kernel: { io in me.run(io, sequence: sequence, batch: batch, inputSize: inputSize, directions: directions)
            },
            scratch: scratchFloats * MemoryLayout<Float>.size
        )
    }

    private func run(_ io: IO, sequence: Int, batch: Int, inputSize: Int, directions: Int) {
        let h = self.hidden
        let gates: Int =
            switch self.cell {
            case .rnn: 1
            case .gru: 3
            case .lstm: 4
            }
        let gateWidth = gates * h
        let scratch = io.scratch.assumingMemoryBound(to: Float.self)
        let projected = scratch  // [sequence, batch, gateWidth]
        let recurrent = projected + sequence * batch * gateWidth  // [batch, gateWidth]
        let state = recurrent + batch * gateWidth  // [batch, h]
        let cellState = state + batch * h
        let reset = cellState + batch * h
        let update = reset + batch * h
        let timeMajor = update + batch * h  // X as [sequence, batch, input]
        let x = io.f32(0)
        if self.batchFirst {
            for b in 0..<batch {
                for t in 0..<sequence {
                    (timeMajor + (t * batch + b) * inputSize).update(
                        from: x + (b * sequence + t) * inputSize,
                        count: inputSize
                    )
                }
            }
        } else {
            timeMajor.update(from: x, count: sequence * batch * inputSize)
        }
        let lengths: [Int] = (0..<batch).map { b in
            io.has(4) ? min(max(Int(io.input(4).load(fromByteOffset: b * 4, as: Int32.self)), 0), sequence) : sequence
        }
        let y = io.outF32(0)
        let wantY = io.outs.count > 0 && io.outs[0] >= 0
        if wantY { y.update(repeating: 0, count: sequence * directions * batch * h) }
        let perDirection = self.activations.count / directions
        for direction in 0..<directions {
            let reverse = self.direction == "reverse" || direction == 1
            let w = io.f32(1) + direction * gateWidth * inputSize
            let r = io.f32(2) + direction * gateWidth * h
            let bias = io.has(3) ? io.f32(3) + direction * 2 * gateWidth : nil
            let peephole = self.cell == .lstm && io.has(7) ? io.f32(7) + direction * 3 * h : nil
            let f = self.activations[direction * perDirection]
            let g = perDirection > 1 ? self.activations[direction * perDirection + 1] : f
            let hAct = perDirection > 2 ? self.activations[direction * perDirection + 2] : g
            // All steps' input projections at once: [sequence·batch, input] × Wᵀ.
            sgemm(
                transA: false,
                transB: true,
                m: sequence * batch,
                n: gateWidth,
                k: inputSize,
                alpha: 1,
                a: timeMajor,
                lda: inputSize,
                b: w,
                ldb: inputSize,
                beta: 0,
                c: projected,
                ldc: gateWidth
            )
            if let bias {
                for row in 0..<(sequence * batch) {
                    let line = projected + row * gateWidth
                    for column in 0..<gateWidth {
                        // GRU keeps the recurrent bias of the candidate gate apart (it is reset with the state).
                        let candidate = self.cell == .gru && column >= 2 * h
                        line[column] += bias[column] + (candidate ? 0 : bias[gateWidth + column])
                    }
                }
            }
            if io.has(5) {
                state.update(from: io.f32(5) + direction * batch * h, count: batch * h)
            } else {
                state.update(repeating: 0, count: batch * h)
            }
            if self.cell == .lstm {
                if io.has(6) {
                    cellState.update(from: io.f32(6) + direction * batch * h, count: batch * h)
                } else {
                    cellState.update(repeating: 0, count: batch * h)
                }
            }
            for step in 0..<sequence {
                sgemm(
                    transA: false,
                    transB: true,
                    m: batch,
                    n: gateWidth,
                    k: h,
                    alpha: 1,
                    a: state,
                    lda: h,
                    b: r,
                    ldb: h,
                    beta: 0,
                    c: recurrent,
                    ldc: gateWidth
                )
                for b in 0..<batch {
                    let length = lengths[b]
                    guard step < length else { continue }
                    let t = reverse ? length - 1 - step : step
                    let xg = projected + (t * batch + b) * gateWidth
                    let hg = recurrent + b * gateWidth
                    let hPrevious = state + b * h
                    let out =
                        y
                        + ((self.batchFirst
                            ? (b * sequence + t) * directions + direction : (t * directions + direction) * batch + b)
                            * h)
                    switch self.cell {
                    case .rnn:
                        for j in 0..<h {
                            hPrevious[j] = f(self.clipped(xg[j] + hg[j]))
                        }
                    case .gru:
                        let rb = bias.map { $0 + gateWidth + 2 * h }
                        let resetGate = reset + b * h
                        let updateGate = update + b * h
                        for j in 0..<h {
                            updateGate[j] = f(self.clipped(xg[j] + hg[j]))
                            resetGate[j] = f(self.clipped(xg[h + j] + hg[h + j]))
                        }
                        for j in 0..<h {
                            let recurrentCandidate: Float
                            if self.linearBeforeReset {
                                recurrentCandidate = resetGate[j] * (hg[2 * h + j] + (rb?[j] ?? 0))
                            } else {
                                var sum: Float = 0
                                let row = r + (2 * h + j) * h
                                for k in 0..<h { sum += row[k] * resetGate[k] * hPrevious[k] }
                                recurrentCandidate = sum + (rb?[j] ?? 0)
                            }
                            xg[2 * h + j] = g(self.clipped(xg[2 * h + j] + recurrentCandidate))
                        }
                        for j in 0..<h {
                            hPrevious[j] = (1 - updateGate[j]) * xg[2 * h + j] + updateGate[j] * hPrevious[j]
                        }
                    case .lstm:
                        let c = cellState + b * h
                        for j in 0..<h {
                            var i = xg[j] + hg[j]
                            var o = xg[h + j] + hg[h + j]
                            var fg = xg[2 * h + j] + hg[2 * h + j]
                            let candidate = g(self.clipped(xg[3 * h + j] + hg[3 * h + j]))
                            if let peephole {
                                i += peephole[j] * c[j]
                                fg += peephole[2 * h + j] * c[j]
                            }
                            let inputGate = f(self.clipped(i))
                            let forgetGate = self.inputForget ? 1 - inputGate : f(self.clipped(fg))
                            c[j] = forgetGate * c[j] + inputGate * candidate
                            if let peephole { o += peephole[h + j] * c[j] }
                            let outputGate = f(self.clipped(o))
                            hPrevious[j] = outputGate * hAct(c[j])
                        }
                    }
                    if wantY { out.update(from: hPrevious, count: h) }
                }
            }
            // Final states: the last valid step of each sequence.
            if io.outs.count > 1 && io.outs[1] >= 0 {
                let target = io.outF32(1)
                for b in 0..<batch {
                    let at = self.batchFirst ? (b * directions + direction) * h : (direction * batch + b) * h
                    (target + at).update(from: state + b * h, count: h)
                }
            }
            if self.cell == .lstm && io.outs.count > 2 && io.outs[2] >= 0 {
                let target = io.outF32(2)
                for b in 0..<batch {
                    let at = self.batchFirst ? (b * directions + direction) * h : (direction * batch + b) * h
                    (target + at).update(from: cellState + b * h, count: h)
                }
            }
        }
    }

    @inline(__always) private func clipped(_ value: Float) -> Float {
        guard let clip else { return value }
        return min(max(value, -clip), clip)
    }
}
