import NIOCore

/// The JSON bodies of the gateway's other endpoints: server and model metadata, Triton's model configuration and
/// statistics, and errors.
enum MetadataEncoder {
    /// The protocol extensions the gateway offers, as Triton names them in `GET /v2`.
    static let extensions = ["binary_tensor_data", "model_configuration", "parameters", "statistics"]

    /// `{"error": message}`.
    static func error(_ message: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var writer = JSONWriter(buffer: allocator.buffer(capacity: message.utf8.count + 16))
        writer.raw("{\"error\":")
        writer.string(message)
        writer.raw("}")
        return writer.buffer
    }

    /// `GET /v2`.
    static func server(name: String, version: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var writer = JSONWriter(buffer: allocator.buffer(capacity: 160))
        writer.raw("{\"name\":")
        writer.string(name)
        writer.raw(",\"version\":")
        writer.string(version)
        writer.raw(",\"extensions\":[")
        for (index, name) in Self.extensions.enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.string(name)
        }
        writer.raw("]}")
        return writer.buffer
    }

    /// `GET /v2/models/{name}[/versions/{v}]`: name, versions, platform, inputs and outputs with -1 for any size.
    static func model(_ model: ModelMetadata, version: String?, allocator: ByteBufferAllocator) -> ByteBuffer {
        var writer = JSONWriter(buffer: allocator.buffer(capacity: 256))
        writer.raw("{\"name\":")
        writer.string(model.name)
        writer.raw(",\"versions\":[")
        for (index, known) in (version.map { [$0] } ?? model.versions).enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.string(known)
        }
        writer.raw("],\"platform\":")
        writer.string(model.platform)
        writer.raw(",\"inputs\":")
        Self.tensors(model.inputs, into: &writer)
        writer.raw(",\"outputs\":")
        Self.tensors(model.outputs, into: &writer)
        writer.raw("}")
        return writer.buffer
    }

    private static func tensors(_ tensors: [TensorMetadata], into writer: inout JSONWriter) {
        writer.byte(UInt8(ascii: "["))
        for (index, tensor) in tensors.enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.raw("{\"name\":")
            writer.string(tensor.name)
            writer.raw(",\"datatype\":")
            writer.string(tensor.dtype.oipName)
            writer.raw(",\"shape\":")
            Self.integers(tensor.shape, into: &writer)
            writer.raw("}")
        }
        writer.byte(UInt8(ascii: "]"))
    }

    private static func integers(_ values: [Int], into writer: inout JSONWriter) {
        writer.byte(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.integer(value)
        }
        writer.byte(UInt8(ascii: "]"))
    }

    /// `GET /v2/models/{name}/config`, in the shape of Triton's model configuration: dims leave out the batch
    /// dimension when the model batches.
    static func configuration(_ model: ModelMetadata, allocator: ByteBufferAllocator) -> ByteBuffer {
        var writer = JSONWriter(buffer: allocator.buffer(capacity: 512))
        writer.raw("{\"name\":")
        writer.string(model.name)
        writer.raw(",\"platform\":")
        writer.string(model.platform)
        writer.raw(",\"backend\":\"switchyard\",\"max_batch_size\":")
        writer.integer(model.maxBatchSize)
        for (key, tensors) in [("input", model.inputs), ("output", model.outputs)] {
            writer.raw(",")
            writer.key(key)
            writer.byte(UInt8(ascii: "["))
            for (index, tensor) in tensors.enumerated() {
                if index > 0 { writer.byte(UInt8(ascii: ",")) }
                writer.raw("{\"name\":")
                writer.string(tensor.name)
                writer.raw(",\"data_type\":")
                writer.string(tensor.dtype.tritonConfigName)
                writer.raw(",\"dims\":")
                let batched = model.maxBatchSize > 0 && tensor.shape.first == -1
                Self.integers(batched ? Array(tensor.shape.dropFirst()) : tensor.shape, into: &writer)
                writer.raw("}")
            }
            writer.byte(UInt8(ascii: "]"))
        }
        writer.raw(",\"version_policy\":")
        switch model.versionPolicy {
        case .latest(let count):
            writer.raw("{\"latest\":{\"num_versions\":")
            writer.integer(count)
            writer.raw("}}")
        case .specific(let versions):
            writer.raw("{\"specific\":{\"versions\":")
            Self.integers(versions, into: &writer)
            writer.raw("}}")
        case .all:
            writer.raw("{\"all\":{}}")
        }
        writer.raw(",\"dynamic_batching\":{\"preferred_batch_size\":")
        Self.integers(model.batching.preferredBatchSizes, into: &writer)
        writer.raw(",\"max_queue_delay_microseconds\":")
        writer.integer(model.batching.maxQueueDelayMicroseconds)
        writer.raw(",\"default_queue_policy\":{\"max_queue_size\":")
        writer.integer(model.batching.maxQueueSize)
        writer.raw("}}}")
        return writer.buffer
    }

    /// `GET /v2/models[/{name}[/versions/{v}]]/stats`: Triton's statistics shape, with the figures the router has.
    static func statistics(
        _ entries: [(model: String, version: String, figures: InferenceStatistics.Figures)],
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        var writer = JSONWriter(buffer: allocator.buffer(capacity: 64 + entries.count * 256))
        writer.raw("{\"model_stats\":[")
        for (index, entry) in entries.enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.raw("{\"name\":")
            writer.string(entry.model)
            writer.raw(",\"version\":")
            writer.string(entry.version)
            writer.raw(",\"last_inference\":")
            writer.integer(entry.figures.lastInferenceMilliseconds)
            writer.raw(",\"inference_count\":")
            writer.integer(entry.figures.inferenceCount)
            writer.raw(",\"inference_stats\":{\"success\":{\"count\":")
            writer.integer(entry.figures.successCount)
            writer.raw(",\"ns\":")
            writer.integer(entry.figures.successNanoseconds)
            writer.raw("},\"fail\":{\"count\":")
            writer.integer(entry.figures.failCount)
            writer.raw(",\"ns\":")
            writer.integer(entry.figures.failNanoseconds)
            writer.raw("}}}")
        }
        writer.raw("]}")
        return writer.buffer
    }
}
