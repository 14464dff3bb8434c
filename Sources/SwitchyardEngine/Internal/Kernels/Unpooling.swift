import SwitchyardTensor

/// MaxUnpool: each pooled value written back where MaxPool found it (its flat index into the unpooled tensor of
/// the same batch and channel layout), zeros elsewhere. The output size is `output_shape` when given (MaxPool's
/// input size; the indices address it, as in onnxruntime and PyTorch), else inferred from kernel, strides and pads.
struct MaxUnpoolOp: Operator {
    let kernel: [Int]
    let strides: [Int]?
    let pads: [Int]?

    init(_ attributes: Attributes) throws(EngineError) {
        guard let kernel = try attributes.ints("kernel_shape"), !kernel.isEmpty, kernel.allSatisfy({ $0 > 0 }) else {
            throw attributes.error("kernel_shape is required and must be positive")
        }
        self.kernel = kernel
        self.strides = try attributes.ints("strides")
        self.pads = try attributes.ints("pads")
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, numericTypes)
        let indices = try context.input(1, [.int64])
        let spatial = self.kernel.count
        guard x.shape.count == spatial + 2, indices.shape == x.shape else {
            throw context.error(
                "X must be N×C×\(spatial) spatial axes and I of the same shape; they are \(x.shape) and "
                    + "\(indices.shape)"
            )
        }
        let strides = self.strides ?? [Int](repeating: 1, count: spatial)
        let pads = self.pads ?? [Int](repeating: 0, count: 2 * spatial)
        guard strides.count == spatial, pads.count == 2 * spatial, strides.allSatisfy({ $0 > 0 }) else {
            throw context.error("strides and pads must match the \(spatial) spatial axes")
        }
        var shape = Array(x.shape.prefix(2))
        for axis in 0..<spatial {
            shape.append(
                (x.shape[axis + 2] - 1) * strides[axis] - pads[axis] - pads[axis + spatial] + self.kernel[axis]
            )
        }
        if let given = try context.optionalConstant(2, "MaxUnpool's output_shape") {
            guard let dims = given.integers, dims.count == x.shape.count,
                Array(dims.prefix(2)) == Array(shape.prefix(2)),
                dims.allSatisfy({ $0 >= 0 })
            else {
                throw context.error(
                    "output_shape must be [\(x.shape[0]), \(x.shape[1]), sizes...]; it is \(given.type)"
                )
            }
            shape = dims
        }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw context.error("the output would be \(shape)") }
        let total = shape.reduce(1, *)
        let width = x.dtype.elementSize
        let count = x.count
        return OpPlan(
            outputs: [ValueType(dtype: x.dtype, shape: shape)],
            kernel: { io throws(EngineError) in
                let (source, target) = (io.input(0), io.output(0))
                let positions = io.input(1).assumingMemoryBound(to: Int64.self)
                target.initializeMemory(as: UInt8.self, repeating: 0, count: total * width)
                for index in 0..<count {
                    let position = positions[index]
                    guard position >= 0 && position < total else {
                        throw EngineError(
                            .invalidInput,
                            "node '\(context.node)' (MaxUnpool): index \(position) is outside the output's \(total) "
                                + "elements"
                        )
                    }
                    (target + Int(position) * width).copyMemory(from: source + index * width, byteCount: width)
                }
            }
        )
    }
}

/// Col2Im: the inverse of im2col — columns [N, C·∏block, L] summed back into images [N, C, image_shape...], the
/// block sliding with strides, dilations and pads (PyTorch's `nn.Fold`).
struct Col2ImOp: Operator {
    let dilations: [Int]?
    let pads: [Int]?
    let strides: [Int]?

    init(_ attributes: Attributes) throws(EngineError) {
        self.dilations = try attributes.ints("dilations")
        self.pads = try attributes.ints("pads")
        self.strides = try attributes.ints("strides")
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, numericTypes)
        guard let image = try context.constant(1, "Col2Im's image_shape").integers,
            let block = try context.constant(2, "Col2Im's block_shape").integers,
            image.count == block.count, !image.isEmpty
        else {
            throw context.error("image_shape and block_shape must be integer lists of the same length")
        }
        let spatial = image.count
        let dilations = self.dilations ?? [Int](repeating: 1, count: spatial)
        let strides = self.strides ?? [Int](repeating: 1, count: spatial)
        let pads = self.pads ?? [Int](repeating: 0, count: 2 * spatial)
        guard dilations.count == spatial, strides.count == spatial, pads.count == 2 * spatial,
            dilations.allSatisfy({ $0 > 0 }), strides.allSatisfy({ $0 > 0 }), block.allSatisfy({ $0 > 0 }),
            image.allSatisfy({ $0 > 0 })
        else {
            throw context.error("dilations, strides, pads, image_shape and block_shape must fit \(spatial) axes")
        }
        let taps = block.reduce(1, *)
        guard x.shape.count == 3, x.shape[1] % taps == 0 else {
            throw context.error("the input must be [N, C·\(taps), L]; it is \(x.shape)")
        }
        var slides: [Int] = []
        for axis in 0..<spatial {
            let extent = (block[axis] - 1) * dilations[axis] + 1
            let span = image[axis] + pads[axis] + pads[axis + spatial] - extent
            guard span >= 0 else { throw context.error("the block does not fit the padded image on axis \(axis)") }
            slides.append(span / strides[axis] + 1)
        }
        let blocks = slides.reduce(1, *)
        let slideCounts = slides
        guard x.shape[2] == blocks else {
            throw context.error("the input has \(x.shape[2]) blocks; image, block, strides and pads give \(blocks)")
        }
        let (batch, channels) = (x.shape[0], x.shape[1] / taps)
        let pixels = image.reduce(1, *)
        let (imageStrides, blockStrides, slideStrides) = (
            contiguousStrides(image), contiguousStrides(block), contiguousStrides(slides)
        )
        let dtype = x.dtype
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: [batch, channels] + image)],
            kernel: { io in
                let (source, target) = (io.input(0), io.output(0))
                var sums = [Double](repeating: 0, count: pixels)
                for plane in 0..<(batch * channels) {
                    for index in sums.indices { sums[index] = 0 }
                    for tap in 0..<taps {
                        for slide in 0..<blocks {
                            var offset = 0
                            var inside = true
                            for axis in 0..<spatial {
                                let k = tap / blockStrides[axis] % block[axis]
                                let s = slide / slideStrides[axis] % slideCounts[axis]
                                let position = s * strides[axis] - pads[axis] + k * dilations[axis]
                                if position < 0 || position >= image[axis] {
                                    inside = false
                                    break
                                }
                                offset += position * imageStrides[axis]
                            }
                            if inside {
                                sums[offset] += loadDouble(source, (plane * taps + tap) * blocks + slide, dtype)
                            }
                        }
                    }
                    for (index, value) in sums.enumerated() {
                        store(double: value, target, plane * pixels + index, dtype)
                    }
                }
            }
        )
    }
}

/// AffineGrid: for each of N affine matrices θ (2×3 or 3×4), the sampling grid GridSample reads: θ·(x, y[, z], 1)
/// at every output position, positions spread over [−1, 1] (pixel centres, or corners with `align_corners`).
struct AffineGridOp: Operator {
    let alignCorners: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        self.alignCorners = try attributes.int("align_corners", 0) != 0
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let theta = try context.input(0, floatTypes)
        guard let size = try context.constant(1, "AffineGrid's size").integers, size.count == 4 || size.count == 5,
            size.allSatisfy({ $0 > 0 })
        else {
            throw context.error("size must be [N, C, H, W] or [N, C, D, H, W] of positive sizes")
        }
        let spatial = size.count - 2
        let batch = size[0]
        guard theta.shape == [batch, spatial, spatial + 1] else {
            throw context.error("theta must be [\(batch), \(spatial), \(spatial + 1)]; it is \(theta.shape)")
        }
        let dims = Array(size.suffix(spatial))  // D, H, W or H, W
        let align = self.alignCorners
        @Sendable func coordinate(_ index: Int, _ count: Int) -> Double {
            if align { return count == 1 ? -1 : -1 + 2 * Double(index) / Double(count - 1) }
            return -1 + (2 * Double(index) + 1) / Double(count)
        }
        let points = dims.reduce(1, *)
        let strides = contiguousStrides(dims)
        let dtype = theta.dtype
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: [batch] + dims + [spatial])],
            kernel: { io in
                let (matrices, target) = (io.input(0), io.output(0))
                for n in 0..<batch {
                    let m = (0..<(spatial * (spatial + 1))).map {
                        loadDouble(matrices, n * spatial * (spatial + 1) + $0, dtype)
                    }
                    for point in 0..<points {
                        // Homogeneous (x, y[, z], 1): x runs along the last axis.
                        var vector = [Double](repeating: 1, count: spatial + 1)
                        for axis in 0..<spatial {
                            let along = spatial - 1 - axis
                            vector[axis] = coordinate(point / strides[along] % dims[along], dims[along])
                        }
                        for row in 0..<spatial {
                            var value = 0.0
                            for column in 0...spatial { value += m[row * (spatial + 1) + column] * vector[column] }
                            store(double: value, target, (n * points + point) * spatial + row, dtype)
                        }
                    }
                }
            }
        )
    }
}
