import CInt8GEMM
import Synchronization
import SwitchyardTensor

/// A QDQ convolution — `DequantizeLinear(x: uint8) → Conv(DequantizeLinear(w: int8), bias) [→ activations]
/// [→ QuantizeLinear]` — run in integers. On oneDNN (where it has vector int8 kernels) the whole step is one int8
/// convolution whose epilogue scales, adds the bias, applies the activations and, with a fused QuantizeLinear,
/// requantizes to uint8, so consecutive convolutions pass uint8 images. Elsewhere: uint8 im2col (padding with the
/// zero point), ``sy_gemm_u8s8_f32`` (weights packed once at load for its VNNI kernel when the CPU has one), then
/// dequantization, bias and ReLU as the products are stored, and the requantization after. 2-D, group 1.
struct QuantizedConvOp: Operator {
    let window: Window
    let filters: Int
    let channels: Int
    let kernel: (Int, Int)
    let inputScale: Float
    let inputZero: UInt8
    /// W: int8 [filters, channels, kH, kW] as ONNX stores it, for oneDNN.
    let plainWeights: Int8ConvWeights?
    /// Wᵀ and its packed form for the GEMM path, made when a plan first takes that path: with oneDNN's convolutions
    /// the weights are held once as the graph has them (and once in oneDNN's layout), not three times.
    let gemmWeights: GemmWeights
    /// inputScale × weight scale, per filter.
    let scales: [Float]
    let bias: [Float]?
    let activations: [Activation]
    /// The uint8 scale and zero point of a fused QuantizeLinear; `nil` when the result is float.
    let output: (scale: Float, zero: UInt8)?
    /// The input is float, quantized to uint8 on each call as DynamicQuantizeLinear does (onnxruntime's dynamic
    /// ConvInteger form); ``scales`` are then the weights' alone.
    let dynamicInput: Bool

    init(
        window: Window,
        weights: AlignedBuffer,
        shape: [Int],
        weightScales: [Float],
        inputScale: Float,
        inputZero: UInt8,
        bias: [Float]?,
        activations: [Activation],
        output: (scale: Float, zero: UInt8)? = nil,
        dynamicInput: Bool = false,
        oneDNN: Bool = true
    ) {
        self.dynamicInput = dynamicInput
        self.window = window
        (self.filters, self.channels) = (shape[0], shape[1])
        self.kernel = (shape[2], shape[3])
        self.gemmWeights = GemmWeights(weights, filters: shape[0], k: shape[1] * shape[2] * shape[3])
        self.plainWeights = oneDNN && OneDNN.isUsable ? Int8ConvWeights(weights) : nil
        self.inputScale = inputScale
        self.inputZero = inputZero
        self.scales = (0..<self.filters).map { inputScale * weightScales[weightScales.count == 1 ? 0 : $0] }
        self.bias = bias
        self.activations = activations
        self.output = output
    }

    /// Whether a QuantizeLinear after these activations can be folded into the step: scaling commutes with them.
    static func requantizes(after activations: [Activation]) -> Bool {
        activations.allSatisfy { activation in
            switch activation {
            case .relu, .leakyRelu, .clip: true
            case .sigmoid, .tanh: false
            }
        }
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [self.dynamicInput ? .float32 : .uint8])
        guard x.shape.count == 4, x.shape[1] == self.channels else {
            throw context.error("input \(x.shape) is not N×\(self.channels)×H×W")
        }
        if let weights = self.plainWeights, let plan = try self.oneDNNPlan(context, x.shape, weights) { return plan }
        return try self.gemmPlan(context)
    }

    func gemmPlan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, [self.dynamicInput ? .float32 : .uint8])
        guard x.shape.count == 4, x.shape[1] == self.channels else {
            throw context.error("input \(x.shape) is not N×\(self.channels)×H×W")
        }
        let (height, width) = (x.shape[2], x.shape[3])
        let (outSize, begin, _) = try self.window.resolve([height, width], context)
        let (outHeight, outWidth) = (outSize[0], outSize[1])
        let (kh, kw) = self.kernel
        let k = self.channels * kh * kw
        let stride = (k + 3) / 4 * 4
        let positions = outHeight * outWidth
        let batch = x.shape[0]
        let columnsBytes = alignUp(positions * stride + 64)
        let productBytes = alignUp(positions * self.filters * 4)
        let resultBytes = self.output == nil ? 0 : alignUp(batch * self.filters * positions * 4)
        let requantize = self.output
        let dynamic = self.dynamicInput
        let imageCount = batch * self.channels * height * width
        let quantizedBytes = dynamic ? alignUp(imageCount) : 0
        let scaleBytes = dynamic ? alignUp(self.filters * 4) : 0
        let (filters, channels, fixedZero) = (self.filters, self.channels, self.inputZero)
        let (sh, sw) = (self.window.strides[0], self.window.strides[1])
        let (dh, dw) = (self.window.dilations[0], self.window.dilations[1])
        let (ph, pw) = (begin[0], begin[1])
        let relu = self.activations == [.relu]
        let rest = relu ? [] : self.activations
        let (weights, packed) = self.gemmWeights.made()
        let (scales, bias) = (self.scales, self.bias)
        let fixedScales = AlignedBuffer(count: filters * 4)
        for filter in 0..<filters {
            fixedScales.pointer.storeBytes(of: scales[filter], toByteOffset: filter * 4, as: Float.self)
        }
        let threads = BLAS.threadCount
        return OpPlan(
            outputs: [
                ValueType(dtype: requantize == nil ? .float32 : .uint8, shape: [batch, filters, outHeight, outWidth])
            ],
            kernel: { io throws(EngineError) in
                let columns = io.scratch.assumingMemoryBound(to: UInt8.self)
                let product = (io.scratch + columnsBytes).assumingMemoryBound(to: Float.self)
                let out =
                    requantize == nil
                    ? io.outF32(0) : (io.scratch + columnsBytes + productBytes).assumingMemoryBound(to: Float.self)
                var input = io.input(0).assumingMemoryBound(to: UInt8.self)
                var zero = fixedZero
                var scalePointer = fixedScales.pointer.assumingMemoryBound(to: Float.self)
                if dynamic {
                    let own = io.scratch + columnsBytes + productBytes + resultBytes
                    let quantized = own.assumingMemoryBound(to: UInt8.self)
                    let (scale, dynamicZero) = dynamicQuantization(io.f32(0), imageCount)
                    quantizeUInt8(io.f32(0), imageCount, scale: scale, zero: dynamicZero, quantized)
                    (input, zero) = (UnsafePointer(quantized), dynamicZero)
                    scalePointer = (own + quantizedBytes).assumingMemoryBound(to: Float.self)
                    for filter in 0..<filters { scalePointer[filter] = scale * scales[filter] }
                }
                for image in 0..<batch {
                    let source = input + image * channels * height * width
                    // im2col, one row of K per output position; outside the image is the zero point (float 0)
                    for oy in 0..<outHeight {
                        for ox in 0..<outWidth {
                            let row = columns + (oy * outWidth + ox) * stride
                            var index = 0
                            for channel in 0..<channels {
                                let plane = source + channel * height * width
                                for i in 0..<kh {
                                    let y = oy * sh - ph + i * dh
                                    if y < 0 || y >= height {
                                        for _ in 0..<kw {
                                            row[index] = zero
                                            index += 1
                                        }
                                        continue
                                    }
                                    let line = plane + y * width
                                    for j in 0..<kw {
                                        let xx = ox * sw - pw + j * dw
                                        row[index] = xx >= 0 && xx < width ? line[xx] : zero
                                        index += 1
                                    }
                                }
                            }
                        }
                    }
                    func gemm(_ biasPointer: UnsafePointer<Float>?) -> Int32 {
                        sy_gemm_u8s8_f32(
                            Int32(threads),
                            Int64(positions),
                            Int64(filters),
                            Int64(k),
                            columns,
                            Int64(stride),
                            zero,
                            weights.pointer.assumingMemoryBound(to: Int8.self),
                            Int64(filters),
                            packed?.weights.pointer.assumingMemoryBound(to: Int8.self),
                            packed?.columnSums.pointer.assumingMemoryBound(to: Int32.self),
                            scalePointer,
                            biasPointer,
                            relu ? 1 : 0,
                            product,
                            Int64(filters)
                        )
                    }
                    let status = bias.map { bias in bias.withUnsafeBufferPointer { gemm($0.baseAddress) } } ?? gemm(nil)
                    guard status == 0 else {
                        throw EngineError(.unavailable, "oneDNN's int8 GEMM failed (status \(status))")
                    }
                    // [positions, filters] → [filters, positions]
                    let target = out + image * filters * positions
                    for position in 0..<positions {
                        let line = product + position * filters
                        for filter in 0..<filters { target[filter * positions + position] = line[filter] }
                    }
                }
                for activation in rest { apply(activation, out, batch * filters * positions) }
                if let requantize {
                    quantizeUInt8(
                        out,
                        batch * filters * positions,
                        scale: requantize.scale,
                        zero: requantize.zero,
                        io.output(0).assumingMemoryBound(to: UInt8.self)
                    )
                }
            },
            scratch: columnsBytes + productBytes + resultBytes + quantizedBytes + scaleBytes
        )
    }
}

extension QuantizedConvOp {
    /// A convolution's int8 weights for the GEMM path — Wᵀ [K, filters] row-major and its packed form for the VNNI
    /// kernel — made from the graph's O×I×kH×kW constant the first time a plan needs them.
    final class GemmWeights: Sendable {
        private let source: AlignedBuffer
        private let filters: Int
        private let k: Int
        private struct Made: @unchecked Sendable {
            var weights: AlignedBuffer
            var packed: (weights: AlignedBuffer, columnSums: AlignedBuffer)?
        }
        private let state = Mutex<Made?>(nil)

        init(_ source: AlignedBuffer, filters: Int, k: Int) {
            (self.source, self.filters, self.k) = (source, filters, k)
        }

        /// Whether a plan has made them (for tests of what a model holds).
        var isMade: Bool { self.state.withLock { $0 != nil } }

        /// Wᵀ and its packed form (nil on CPUs without the VNNI kernel), made once.
        func made() -> (weights: AlignedBuffer, packed: (weights: AlignedBuffer, columnSums: AlignedBuffer)?) {
            let made = self.state.withLock { state in
                if let state { return state }
                let (filters, k) = (self.filters, self.k)
                let weights = AlignedBuffer(count: k * filters)
                let source = self.source.pointer.assumingMemoryBound(to: Int8.self)
                let transposed = weights.pointer.assumingMemoryBound(to: Int8.self)
                for filter in 0..<filters {
                    for index in 0..<k { transposed[index * filters + filter] = source[filter * k + index] }
                }
                let made = Made(weights: weights, packed: Int8Packing.pack(transposed, k: k, n: filters))
                state = made
                return made
            }
            return (made.weights, made.packed)
        }
    }
}

extension Fusion {
    /// Runs QDQ convolutions in integers (``QuantizedConvOp``): a 2-D, group-1 Conv whose input is
    /// `DequantizeLinear` of a uint8 value with scalar scale and zero point, and whose weight is `DequantizeLinear` of
    /// an int8 constant with zero points of 0 (per tensor or per output channel); its bias may be float or the int32
    /// `DequantizeLinear` onnxruntime's QDQ writes. A Mul by a constant scalar, activations and a QuantizeLinear to
    /// uint8 after it join the step. The DequantizeLinear steps are dropped once nothing else reads them.
    static func fuseQuantizedConv(_ graph: inout Graph, oneDNN: Bool) {
        let (readers, producer) = Self.valueUses(of: graph)
        let outputs = Set(graph.outputs.map(\.value))
        var removed = Set<Int>()
        func dequantize(_ value: Int) -> (input: Int, scale: [Float], zero: Constant?, axis: Int)? {
            Self.dequantization(of: value, graph, producer)
        }
        for index in graph.nodes.indices where graph.nodes[index].opType == "Conv" && graph.nodes[index].domain == "" {
            let node = graph.nodes[index]
            guard let conv = node.op as? ConvOp, conv.group == 1, conv.activations.isEmpty, node.inputs.count >= 2,
                let xValue = node.inputs[0], let wValue = node.inputs[1],
                let x = dequantize(xValue), x.scale.count == 1, graph.constants[x.input] == nil,
                (x.zero == nil || (x.zero!.type.dtype == .uint8 && x.zero!.type.count == 1)),
                let w = dequantize(wValue), let weights = graph.constants[w.input], weights.type.dtype == .int8,
                weights.type.shape.count == 4,
                w.scale.count == 1 || (w.scale.count == weights.type.shape[0] && w.axis == 0),
                w.zero.map({ $0.type.dtype == .int8 && $0.values(Int8.self).allSatisfy { $0 == 0 } }) ?? true
            else { continue }
            let filters = weights.type.shape[0]
            var bias: [Float]? = nil
            if node.inputs.count > 2, let bValue = node.inputs[2] {
                if let values = graph.constants[bValue]?.floats, values.count == filters {
                    bias = values
                } else if let b = dequantize(bValue), let raw = graph.constants[b.input], raw.type.dtype == .int32,
                    raw.type.count == filters, b.scale.count == 1 || b.scale.count == filters,
                    b.zero.map({ $0.values(Int32.self).allSatisfy { $0 == 0 } }) ?? true
                {
                    let values = raw.values(Int32.self)
                    bias = (0..<filters).map { Float(values[$0]) * b.scale[b.scale.count == 1 ? 0 : $0] }
                } else {
                    continue
                }
            }
            var window = conv.window
            window.kernel = [weights.type.shape[2], weights.type.shape[3]]
            // Attributes a Conv may omit: strides and dilations of 1, no padding.
            if window.strides.isEmpty { window.strides = [1, 1] }
            if window.dilations.isEmpty { window.dilations = [1, 1] }
            if window.pads.isEmpty { window.pads = [0, 0, 0, 0] }
            guard window.strides.count == 2, window.dilations.count == 2, window.pads.count == 4 else { continue }
            var last = index
            var fusedAway: [Int] = []
            var scales = w.scale
            /// The sole reader of `value`, when it is no graph output.
            func sole(_ value: Int) -> Int? {
                guard !outputs.contains(value), let list = readers[value], list.count == 1, !removed.contains(list[0]),
                    graph.nodes[list[0]].domain == ""
                else { return nil }
                return list[0]
            }
            /// The sole reader of `last`'s output.
            func next() -> Int? { graph.nodes[last].outputs[0].flatMap(sole) }
            // A Mul by a constant scalar (a residual branch's scale) folds into the scales and the bias.
            if let mul = next(), graph.nodes[mul].opType == "Mul", graph.nodes[mul].inputs.count == 2,
                let out = graph.nodes[last].outputs[0],
                let other = graph.nodes[mul].inputs[0] == out ? graph.nodes[mul].inputs[1] : graph.nodes[mul].inputs[0],
                let factor = graph.constants[other]?.floats, factor.count == 1,
                graph.constants[other]?.type.shape.allSatisfy({ $0 == 1 }) == true, factor[0].isFinite
            {
                scales = scales.map { $0 * factor[0] }
                bias = bias?.map { $0 * factor[0] }
                last = mul
                fusedAway.append(mul)
            }
            let trailing = Self.trailingActivations(after: last, graph, sole: sole)
            let activations = trailing.activations
            last = trailing.nodes.last ?? last
            fusedAway += trailing.nodes
            // A QuantizeLinear to uint8 with a constant scalar scale: the step writes uint8.
            var requantize: (scale: Float, zero: UInt8)? = nil
            if QuantizedConvOp.requantizes(after: activations), let q = next(),
                graph.nodes[q].opType == "QuantizeLinear", let quantize = graph.nodes[q].op as? QuantizeLinearOp,
                quantize.blockSize == 0, quantize.outputType == nil || quantize.outputType == .uint8,
                graph.nodes[q].inputs.count >= 2, let scaleID = graph.nodes[q].inputs[1],
                let scale = graph.constants[scaleID]?.floats, scale.count == 1, scale[0] > 0, scale[0].isFinite
            {
                let zeroID = graph.nodes[q].inputs.count > 2 ? graph.nodes[q].inputs[2] : nil
                let zero = zeroID.flatMap { graph.constants[$0] }
                if zeroID == nil || (zero?.type.dtype == .uint8 && zero?.type.count == 1) {
                    requantize = (scale[0], zero.map { $0.values(UInt8.self)[0] } ?? 0)
                    last = q
                    fusedAway.append(q)
                }
            }
            let zero = x.zero.map { $0.values(UInt8.self)[0] } ?? 0
            let op = QuantizedConvOp(
                window: window,
                weights: weights.buffer,
                shape: weights.type.shape,
                weightScales: scales,
                inputScale: x.scale[0],
                inputZero: zero,
                bias: bias,
                activations: activations,
                output: requantize,
                oneDNN: oneDNN
            )
            Self.replace(
                index,
                through: last,
                in: &graph,
                by: op,
                opType: "QuantizedConv",
                suffix: "+int8",
                input: x.input
            )
            removed.formUnion(fusedAway)
        }
        guard !removed.isEmpty || graph.nodes.contains(where: { $0.opType == "QuantizedConv" }) else { return }
        Self.remove(removed, from: &graph)
    }
}
