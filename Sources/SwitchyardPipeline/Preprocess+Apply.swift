public import SwitchyardTensor

extension Preprocess {
    /// A tensor being worked on: as received, or as f32 values with a shape.
    private enum Value {
        case tensor(Tensor)
        case floats([Float], [Int])
    }

    /// Runs the steps on a request's tensors, then checks and converts them to the model's declared inputs.
    /// - Parameter tensors: the request's tensors.
    /// - Returns: the model's inputs, in the declared order (or the step results when none are declared).
    /// - Throws: `PipelineError.invalidInput` saying what was expected.
    public func apply(to tensors: [NamedTensor]) throws(PipelineError) -> [NamedTensor] {
        var values: [(String, Value)] = tensors.map { ($0.name, .tensor($0.tensor)) }
        var pixels = self.pixelLimits
        func take(_ name: String, _ op: String) throws(PipelineError) -> Value {
            guard let value = values.first(where: { $0.0 == name })?.1 else {
                let known = values.map(\.0).joined(separator: ", ")
                throw PipelineError(.invalidInput, "\(op) needs the input '\(name)' (the request has: \(known.isEmpty ? "nothing" : known))")
            }
            return value
        }
        func put(_ name: String, _ value: Value, replacing old: String) {
            values.removeAll { $0.0 == old || $0.0 == name }
            values.append((name, value))
        }
        func floats(_ value: Value, _ name: String) throws(PipelineError) -> ([Float], [Int]) {
            switch value {
            case .floats(let data, let shape): return (data, shape)
            case .tensor(let tensor): return (try Self.floats(tensor, name), tensor.shape.dims)
            }
        }
        for step in self.steps {
            switch step {
            case .image(let input, let output, let channels, let height, let width, let layout):
                guard case .tensor(let tensor) = try take(input, "image") else {
                    throw PipelineError(.invalidInput, "image needs '\(input)' as received (u8 pixels or PNG bytes)")
                }
                let value = try Self.image(
                    tensor, input, channels: channels, height: height, width: width, layout: layout, budget: &pixels)
                put(output, value, replacing: input)
            case .cast(let input, let output):
                let (data, shape) = try floats(try take(input, "cast"), input)
                put(output, .floats(data, shape), replacing: input)
            case .scale(let input, let output, let by, let offset):
                let (data, shape) = try floats(try take(input, "scale"), input)
                put(output, .floats(data.map { $0 * by + offset }, shape), replacing: input)
            case .clip(let input, let output, let low, let high):
                let (data, shape) = try floats(try take(input, "clip"), input)
                put(output, .floats(data.map { $0.isNaN ? $0 : Swift.min(Swift.max($0, low), high) }, shape), replacing: input)
            case .normalize(let input, let output, let mean, let std, let axis):
                let (data, shape) = try floats(try take(input, "normalize"), input)
                let resolved = axis < 0 ? shape.count + axis : axis
                guard resolved >= 0, resolved < shape.count else {
                    throw PipelineError(.invalidInput, "normalize axis \(axis) does not exist in '\(input)' of shape \(Shape(shape))")
                }
                let size = shape[resolved]
                for list in [mean, std] where list.count != 1 && list.count != size {
                    throw PipelineError(.invalidInput, "normalize has \(list.count) statistics for axis \(axis) of '\(input)', which has \(size) entries")
                }
                let inner = shape[(resolved + 1)...].reduce(1, *)
                var result = data
                for index in result.indices {
                    let k = (index / inner) % Swift.max(size, 1)
                    result[index] = (result[index] - mean[mean.count == 1 ? 0 : k]) / std[std.count == 1 ? 0 : k]
                }
                put(output, .floats(result, shape), replacing: input)
            case .reshape(let input, let output, let target):
                let (data, shape) = try floats(try take(input, "reshape"), input)
                var dims = target.enumerated().map { $0.element == 0 && $0.offset < shape.count ? shape[$0.offset] : $0.element }
                let known = dims.filter { $0 != -1 }.reduce(1, *)
                if let hole = dims.firstIndex(of: -1) {
                    guard known > 0, data.count % known == 0 else {
                        throw PipelineError(.invalidInput, "cannot reshape '\(input)' of shape \(Shape(shape)) to \(target)")
                    }
                    dims[hole] = data.count / known
                }
                guard dims.reduce(1, *) == data.count else {
                    throw PipelineError(.invalidInput, "cannot reshape '\(input)' of shape \(Shape(shape)) (\(data.count) values) to \(target)")
                }
                put(output, .floats(data, dims), replacing: input)
            case .onehot(let input, let output, let column, let categories, let unknownIsError):
                let (data, shape) = try floats(try take(input, "onehot"), input)
                guard shape.count == 2, column < shape[1] else {
                    throw PipelineError(.invalidInput, "onehot needs '\(input)' as [batch, features] with a column \(column), got \(Shape(shape))")
                }
                let (rows, features) = (shape[0], shape[1])
                var result: [Float] = []
                result.reserveCapacity(rows * (features - 1 + categories.count))
                for row in 0..<rows {
                    for feature in 0..<features {
                        let value = data[row * features + feature]
                        guard feature == column else {
                            result.append(value)
                            continue
                        }
                        let hit = categories.firstIndex(of: value)
                        if hit == nil, unknownIsError {
                            throw PipelineError(.invalidInput, "row \(row) of '\(input)' has category \(value) in column \(column); known: \(categories.map { "\($0)" }.joined(separator: ", "))")
                        }
                        result += categories.indices.map { $0 == hit ? 1 : 0 }
                    }
                }
                put(output, .floats(result, [rows, features - 1 + categories.count]), replacing: input)
            case .rename(let input, let output):
                put(output, try take(input, "rename"), replacing: input)
            }
        }
        var named: [NamedTensor] = []
        do {
            for (name, value) in values {
                switch value {
                case .tensor(let tensor): named.append(NamedTensor(name, tensor))
                case .floats(let data, let shape): named.append(NamedTensor(name, try Tensor(data, shape: Shape(shape))))
                }
            }
        } catch {
            throw PipelineError(.invalidInput, error.message)
        }
        return try self.conform(named)
    }

    /// Checks the tensors against the declared inputs and converts each to its declared dtype.
    private func conform(_ tensors: [NamedTensor]) throws(PipelineError) -> [NamedTensor] {
        guard !self.inputs.isEmpty else { return tensors }
        let expected = self.inputs.map(\.rendered).joined(separator: ", ")
        for tensor in tensors where !self.inputs.contains(where: { $0.name == tensor.name }) {
            throw PipelineError(.invalidInput, "unexpected input '\(tensor.name)'; the model takes \(expected)")
        }
        var result: [NamedTensor] = []
        for input in self.inputs {
            guard let tensor = tensors.first(where: { $0.name == input.name })?.tensor else {
                throw PipelineError(.invalidInput, "missing input '\(input.name)'; the model takes \(expected)")
            }
            let shape = tensor.shape.dims
            let fits = shape.count == input.shape.count && zip(shape, input.shape).allSatisfy { $1 == nil || $0 == $1 }
            guard fits else {
                throw PipelineError(.invalidInput, "input '\(input.name)' has shape \(tensor.shape), expected \(input.rendered)")
            }
            result.append(NamedTensor(input.name, try Self.convert(tensor, to: input.dtype, input.name)))
        }
        return result
    }

    /// The elements of a numeric tensor as f32.
    static func floats(_ tensor: Tensor, _ name: String) throws(PipelineError) -> [Float] {
        do {
            switch tensor.dtype {
            case .float32: return try tensor.scalars(as: Float.self)
            case .float64: return try tensor.scalars(as: Double.self).map { Float($0) }
            case .int64: return try tensor.scalars(as: Int64.self).map { Float($0) }
            case .int32: return try tensor.scalars(as: Int32.self).map { Float($0) }
            case .uint8: return try tensor.scalars(as: UInt8.self).map { Float($0) }
            case .int8: return try tensor.scalars(as: Int8.self).map { Float($0) }
            case .bool: return try tensor.scalars(as: Bool.self).map { $0 ? 1 : 0 }
            case .float16, .bfloat16, .bytes:
                throw PipelineError(.invalidInput, "input '\(name)' is \(tensor.dtype); accepted: f32, f64, i64, i32, u8, i8, bool")
            }
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(.invalidInput, "\(error)")
        }
    }

    static func convert(_ tensor: Tensor, to dtype: DType, _ name: String) throws(PipelineError) -> Tensor {
        if tensor.dtype == dtype { return tensor }
        let values = try Self.floats(tensor, name)
        do {
            switch dtype {
            case .float32: return try Tensor(values, shape: tensor.shape)
            case .float64: return try Tensor(values.map(Double.init), shape: tensor.shape)
            case .int64: return try Tensor(values.map { Int64($0.rounded()) }, shape: tensor.shape)
            case .int32: return try Tensor(values.map { Int32($0.rounded()) }, shape: tensor.shape)
            case .uint8: return try Tensor(values.map { UInt8(Swift.min(255, Swift.max(0, $0.rounded()))) }, shape: tensor.shape)
            default: throw PipelineError(.invalidInput, "input '\(name)' cannot be converted to \(dtype)")
            }
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(.invalidInput, "\(error)")
        }
    }

    private static func image(
        _ tensor: Tensor, _ name: String, channels: Int, height: Int, width: Int, layout: String,
        budget: inout PixelBudget
    ) throws(PipelineError) -> Value {
        // 8-bit pixels per image, widened to floats one image at a time by the resize
        var images: [(pixels: ArraySlice<UInt8>, height: Int, width: Int)] = []
        switch tensor.dtype {
        case .bytes:
            guard tensor.shape.rank == 1 else { throw PipelineError(.invalidInput, "image '\(name)' as PNG bytes must be [batch], got \(tensor.shape)") }
            let elements: [ByteView]
            do { elements = try tensor.byteElements() } catch { throw PipelineError(.invalidInput, error.message) }
            for (index, element) in elements.enumerated() {
                do {
                    let decoded = try Image.decodePNG(element.bytes, channels: channels, budget: &budget)
                    images.append((decoded.pixels[...], decoded.height, decoded.width))
                } catch {
                    throw PipelineError(.invalidInput, "image \(index) of '\(name)': \(error.message)")
                }
            }
        case .uint8:
            let dims = tensor.shape.dims
            let fits = (channels == 1 && dims.count == 3) || (dims.count == 4 && dims[3] == channels)
            guard fits, dims[1] > 0, dims[2] > 0 else {
                throw PipelineError(.invalidInput, "image '\(name)' must be u8 [batch, height, width\(channels == 1 ? "" : ", \(channels)")], got \(tensor.shape)")
            }
            for _ in 0..<dims[0] { try budget.take(height: dims[1], width: dims[2]) }
            let pixels: [UInt8]
            do { pixels = try tensor.scalars(as: UInt8.self) } catch { throw PipelineError(.invalidInput, "image '\(name)': \(error.message)") }
            let per = dims[1] * dims[2] * channels
            for index in 0..<dims[0] { images.append((pixels[(index * per)..<((index + 1) * per)], dims[1], dims[2])) }
        default:
            throw PipelineError(.invalidInput, "image '\(name)' must be u8 pixels or PNG bytes, got \(tensor.dtype)")
        }
        var data: [Float] = []
        data.reserveCapacity(images.count * height * width * channels)
        for image in images {
            let resized = Image.resize(image.pixels, height: image.height, width: image.width, channels: channels, toHeight: height, toWidth: width)
            if layout == "nchw" {
                for c in 0..<channels { for p in 0..<(height * width) { data.append(resized[p * channels + c]) } }
            } else {
                data += resized
            }
        }
        let shape: [Int] = switch layout {
        case "flat": [images.count, height * width * channels]
        case "nchw": [images.count, channels, height, width]
        default: [images.count, height, width, channels]
        }
        return .floats(data, shape)
    }
}
