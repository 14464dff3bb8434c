import SwitchyardTensor

/// NonMaxSuppression: per batch and class, boxes by descending score (ties: lower index first), each kept unless
/// it overlaps a kept box by more than the IoU threshold. The number kept depends on the data, so it runs when the
/// boxes and scores are known (node by node for a request).
struct NonMaxSuppressionOp: Operator {
    /// Boxes are [x_center, y_center, width, height] instead of two corners.
    let centerPointBox: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        let mode = try attributes.int("center_point_box", 0)
        guard mode == 0 || mode == 1 else {
            throw attributes.error("center_point_box must be 0 or 1; it is \(mode)")
        }
        self.centerPointBox = mode == 1
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let boxesType = try context.input(0, floatTypes)
        let scoresType = try context.input(1, floatTypes)
        guard boxesType.shape.count == 3, boxesType.shape[2] == 4 else {
            throw context.error("boxes must be [batches, boxes, 4]; they are \(boxesType.shape)")
        }
        guard scoresType.shape.count == 3, scoresType.shape[0] == boxesType.shape[0],
            scoresType.shape[2] == boxesType.shape[1]
        else {
            throw context.error(
                "scores must be [\(boxesType.shape[0]), classes, \(boxesType.shape[1])] for boxes "
                    + "\(boxesType.shape); they are \(scoresType.shape)"
            )
        }
        func scalar(_ index: Int, _ name: String) throws(EngineError) -> Double? {
            guard let constant = try context.optionalConstant(index, name), constant.type.count > 0 else { return nil }
            guard constant.type.count == 1 else {
                throw context.error("\(name) must hold one value; it is \(constant.type)")
            }
            let dtype = constant.type.dtype
            return dtype.isFloatingPoint
                ? loadDouble(constant.buffer.pointer, 0, dtype) : Double(loadInteger(constant.buffer.pointer, 0, dtype))
        }
        var limit = 0  // no boxes unless the model says how many
        if context.has(2) {
            _ = try context.input(2, [.int64])
            let given = try context.constant(2, "max_output_boxes_per_class")
            guard given.type.count <= 1 else {
                throw context.error("max_output_boxes_per_class must hold one value; it is \(given.type)")
            }
            // Exporters write Int64.max for "no limit".
            if given.type.count == 1 { limit = Int(clamping: max(given.buffer.pointer.load(as: Int64.self), 0)) }
        }
        let iouThreshold = try scalar(3, "iou_threshold") ?? 0
        let scoreThreshold = try scalar(4, "score_threshold")
        guard iouThreshold >= 0 && iouThreshold <= 1 else {
            throw context.error("iou_threshold must be within 0...1; it is \(iouThreshold)")
        }
        let boxes = try context.constant(0, "NonMaxSuppression's boxes")
        let scores = try context.constant(1, "NonMaxSuppression's scores")
        let (batches, count, classes) = (boxesType.shape[0], boxesType.shape[1], scoresType.shape[1])
        typealias Box = (y0: Double, x0: Double, y1: Double, x1: Double)
        func box(_ batch: Int, _ index: Int) -> Box {
            let base = (batch * count + index) * 4
            let v = (0..<4).map { loadDouble(boxes.buffer.pointer, base + $0, boxesType.dtype) }
            if self.centerPointBox {
                return (v[1] - v[3] / 2, v[0] - v[2] / 2, v[1] + v[3] / 2, v[0] + v[2] / 2)
            }
            return (min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]), max(v[1], v[3]))
        }
        func overlaps(_ a: Box, _ b: Box) -> Bool {
            let (iy0, ix0) = (max(a.y0, b.y0), max(a.x0, b.x0))
            let (iy1, ix1) = (min(a.y1, b.y1), min(a.x1, b.x1))
            guard ix1 > ix0, iy1 > iy0 else { return false }
            let intersection = (ix1 - ix0) * (iy1 - iy0)
            let areaA = (a.x1 - a.x0) * (a.y1 - a.y0)
            let areaB = (b.x1 - b.x0) * (b.y1 - b.y0)
            let union = areaA + areaB - intersection
            guard areaA > 0, areaB > 0, union > 0 else { return false }
            return intersection / union > iouThreshold
        }
        var selected: [Int64] = []
        for batch in 0..<batches where limit > 0 {
            let corners = (0..<count).map { box(batch, $0) }
            for klass in 0..<classes {
                let base = (batch * classes + klass) * count
                var candidates: [(score: Double, index: Int)] = []
                for index in 0..<count {
                    let score = loadDouble(scores.buffer.pointer, base + index, scoresType.dtype)
                    if let scoreThreshold, !(score > scoreThreshold) { continue }
                    candidates.append((score, index))
                }
                candidates.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
                var kept: [Int] = []
                for candidate in candidates where kept.count < limit {
                    let a = corners[candidate.index]
                    if kept.contains(where: { overlaps(a, corners[$0]) }) { continue }
                    kept.append(candidate.index)
                    selected += [Int64(batch), Int64(klass), Int64(candidate.index)]
                }
            }
        }
        let result = selected
        return OpPlan(
            outputs: [ValueType(dtype: .int64, shape: [result.count / 3, 3])],
            kernel: { io in
                let target = io.output(0).assumingMemoryBound(to: Int64.self)
                for (index, value) in result.enumerated() { target[index] = value }
            }
        )
    }
}

/// RoiAlign: for each region (x0, y0, x1, y1 in input pixels × spatial_scale) an output_height × output_width
/// grid of bins, each the average (or maximum) of bilinear samples, as Mask R-CNN's heads use it.
struct RoiAlignOp: Operator {
    let maximum: Bool
    let height: Int
    let width: Int
    let samplingRatio: Int
    let spatialScale: Double
    /// Regions' corners shift by half a pixel (`half_pixel`, the default from opset 16).
    let halfPixel: Bool

    init(_ attributes: Attributes) throws(EngineError) {
        let mode = try attributes.string("mode", "avg")
        guard mode == "avg" || mode == "max" else { throw attributes.error("mode must be avg or max; it is '\(mode)'") }
        self.maximum = mode == "max"
        self.height = try attributes.int("output_height", 1)
        self.width = try attributes.int("output_width", 1)
        self.samplingRatio = try attributes.int("sampling_ratio", 0)
        self.spatialScale = Double(try attributes.float("spatial_scale", 1))
        guard self.height >= 1, self.width >= 1, self.samplingRatio >= 0 else {
            throw attributes.error("output_height and output_width must be at least 1 and sampling_ratio at least 0")
        }
        let transform = try attributes.string(
            "coordinate_transformation_mode",
            attributes.version >= 16 ? "half_pixel" : "output_half_pixel"
        )
        guard transform == "half_pixel" || transform == "output_half_pixel" else {
            throw attributes.error(
                "coordinate_transformation_mode must be half_pixel or output_half_pixel; it is '\(transform)'"
            )
        }
        self.halfPixel = transform == "half_pixel"
    }

    func plan(_ context: PlanContext) throws(EngineError) -> OpPlan {
        let x = try context.input(0, floatTypes)
        let rois = try context.input(1, [x.dtype])
        let indices = try context.input(2, [.int64])
        guard x.shape.count == 4, x.shape[2] >= 1, x.shape[3] >= 1 else {
            throw context.error("X must be [N, C, H, W] with H, W ≥ 1; it is \(x.shape)")
        }
        guard rois.shape.count == 2, rois.shape[1] == 4 else {
            throw context.error("rois must be [regions, 4]; they are \(rois.shape)")
        }
        guard indices.shape == [rois.shape[0]] else {
            throw context.error("batch_indices must be [\(rois.shape[0])]; they are \(indices.shape)")
        }
        let (batches, channels, inHeight, inWidth) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let regions = rois.shape[0]
        let dtype = x.dtype
        let op = self
        return OpPlan(
            outputs: [ValueType(dtype: dtype, shape: [regions, channels, self.height, self.width])],
            kernel: { io throws(EngineError) in
                let (data, boxes, output) = (io.input(0), io.input(1), io.output(0))
                let batchIndices = io.input(2).assumingMemoryBound(to: Int64.self)
                for region in 0..<regions {
                    let batch = batchIndices[region]
                    guard batch >= 0 && batch < batches else {
                        throw EngineError(
                            .invalidInput,
                            "node '\(context.node)' (RoiAlign): batch index \(batch) of region \(region) is outside "
                                + "0..<\(batches)"
                        )
                    }
                    let corners = (0..<4).map { loadDouble(boxes, region * 4 + $0, dtype) * op.spatialScale }
                    guard let samples = op.samples(corners, inHeight, inWidth) else {
                        throw EngineError(
                            .invalidInput,
                            "node '\(context.node)' (RoiAlign): region \(region) \(corners) is not finite or needs "
                                + "more than \(RoiAlignOp.maxGrid) samples per bin and axis"
                        )
                    }
                    for channel in 0..<channels {
                        let plane = (Int(batch) * channels + channel) * inHeight * inWidth
                        let out = (region * channels + channel) * op.height * op.width
                        for bin in 0..<(op.height * op.width) {
                            var value = 0.0
                            var first = true
                            for sample in samples.bins[bin] {
                                var parts = (0.0, 0.0, 0.0, 0.0)
                                parts.0 = sample.w.0 * loadDouble(data, plane + sample.p.0, dtype)
                                parts.1 = sample.w.1 * loadDouble(data, plane + sample.p.1, dtype)
                                parts.2 = sample.w.2 * loadDouble(data, plane + sample.p.2, dtype)
                                parts.3 = sample.w.3 * loadDouble(data, plane + sample.p.3, dtype)
                                if op.maximum {
                                    let m = max(max(parts.0, parts.1), max(parts.2, parts.3))
                                    value = first ? m : max(value, m)
                                    first = false
                                } else {
                                    value += parts.0 + parts.1 + parts.2 + parts.3
                                }
                            }
                            if !op.maximum { value /= Double(samples.count) }
                            store(double: value, output, out + bin, dtype)
                        }
                    }
                }
            }
        )
    }

    /// One bilinear sample: the four neighbours' offsets in a plane and their weights.
    struct Sample {
        var p: (Int, Int, Int, Int)
        var w: (Double, Double, Double, Double)
    }

    /// The most samples per bin along an axis: a region from a request may be any size.
    static let maxGrid = 4096

    /// Each bin's samples for one region, and the average's divisor; `nil` for a region that is not finite or
    /// needs over ``maxGrid`` samples per bin and axis.
    func samples(_ corners: [Double], _ inHeight: Int, _ inWidth: Int) -> (bins: [[Sample]], count: Int)? {
        guard corners.allSatisfy(\.isFinite) else { return nil }
        let offset = self.halfPixel ? 0.5 : 0
        let (x0, y0) = (corners[0] - offset, corners[1] - offset)
        var (roiWidth, roiHeight) = (corners[2] - offset - x0, corners[3] - offset - y0)
        if !self.halfPixel {
            roiWidth = max(roiWidth, 1)
            roiHeight = max(roiHeight, 1)
        }
        let binHeight = roiHeight / Double(self.height)
        let binWidth = roiWidth / Double(self.width)
        let adaptiveH = (roiHeight / Double(self.height)).rounded(.up)
        let adaptiveW = (roiWidth / Double(self.width)).rounded(.up)
        guard self.samplingRatio > 0 || (adaptiveH <= Double(Self.maxGrid) && adaptiveW <= Double(Self.maxGrid)) else {
            return nil
        }
        let gridH = self.samplingRatio > 0 ? self.samplingRatio : max(Int(adaptiveH), 0)
        let gridW = self.samplingRatio > 0 ? self.samplingRatio : max(Int(adaptiveW), 0)
        var bins: [[Sample]] = []
        bins.reserveCapacity(self.height * self.width)
        for ph in 0..<self.height {
            for pw in 0..<self.width {
                var bin: [Sample] = []
                for iy in 0..<max(gridH, 0) {
                    var y = y0 + Double(ph) * binHeight + (Double(iy) + 0.5) * binHeight / Double(gridH)
                    for ix in 0..<max(gridW, 0) {
                        var x = x0 + Double(pw) * binWidth + (Double(ix) + 0.5) * binWidth / Double(gridW)
                        if y < -1 || y > Double(inHeight) || x < -1 || x > Double(inWidth) {
                            bin.append(Sample(p: (0, 0, 0, 0), w: (0, 0, 0, 0)))
                            continue
                        }
                        y = max(y, 0)
                        x = max(x, 0)
                        var (yLow, xLow) = (Int(y), Int(x))
                        var (yHigh, xHigh) = (yLow + 1, xLow + 1)
                        var (sy, sx) = (y, x)
                        if yLow >= inHeight - 1 {
                            (yLow, yHigh) = (inHeight - 1, inHeight - 1)
                            sy = Double(yLow)
                        }
                        if xLow >= inWidth - 1 {
                            (xLow, xHigh) = (inWidth - 1, inWidth - 1)
                            sx = Double(xLow)
                        }
                        let (ly, lx) = (sy - Double(yLow), sx - Double(xLow))
                        let (hy, hx) = (1 - ly, 1 - lx)
                        bin.append(
                            Sample(
                                p: (
                                    yLow * inWidth + xLow, yLow * inWidth + xHigh, yHigh * inWidth + xLow,
                                    yHigh * inWidth + xHigh
                                ),
                                w: (hy * hx, hy * lx, ly * hx, ly * lx)
                            )
                        )
                    }
                }
                bins.append(bin)
            }
        }
        return (bins, max(gridH * gridW, 1))
    }
}
