import Foundation
import SwiftProtobuf
import SwitchyardONNX
public import SwitchyardTensor

/// Reading serialized ONNX `TensorProto`s (`.pb` files, as the ONNX test data and `onnx.numpy_helper` write them).
public enum TensorProtoFile {
    /// Decodes the bytes of a serialized `TensorProto`.
    /// - Parameters:
    ///   - bytes: the protobuf bytes.
    ///   - source: a name for messages.
    /// - Returns: the tensor with the name it carries (empty when it has none).
    /// - Throws: `EngineError.invalidInput` when the bytes are not a tensor; `.unsupportedModel` for an element
    ///   type the engine does not handle.
    public static func decode(_ bytes: [UInt8], source: String = "tensor") throws(EngineError) -> NamedTensor {
        let proto: Onnx_TensorProto
        do {
            proto = try Onnx_TensorProto(serializedBytes: bytes)
        } catch {
            throw EngineError(.invalidInput, "\(source): not an ONNX TensorProto (\(error))", cause: error)
        }
        if proto.dataType == Int32(DType.float16.rawValue) {
            return try Self.half(proto, source: source)  // kept as float16 (graph constants are widened, data is not)
        }
        let constant = try TensorDecoding.constant(proto, what: source)
        let count = constant.type.byteCount
        let storage = ByteStorage(count: count) { target in
            if count > 0 { target.baseAddress!.copyMemory(from: constant.buffer.pointer, byteCount: count) }
        }
        do {
            let tensor = try Tensor(
                dtype: constant.type.dtype, shape: Shape(constant.type.shape), data: ByteView(storage: storage))
            return NamedTensor(proto.name, tensor)
        } catch {
            throw EngineError(.invalidInput, "\(source): \(error.message)")
        }
    }

    /// A float16 tensor's bits as they are: raw data, or the values packed in `int32_data`.
    private static func half(_ proto: Onnx_TensorProto, source: String) throws(EngineError) -> NamedTensor {
        let shape = proto.dims.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }), let count = Optional(shape.reduce(1, *)) else {
            throw EngineError(.invalidInput, "\(source): negative dimension")
        }
        var bytes: [UInt8]
        if proto.hasRawData {
            bytes = [UInt8](proto.rawData)
        } else {
            bytes = []
            for value in proto.int32Data { bytes += [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)] }
        }
        guard bytes.count == count * 2 else {
            throw EngineError(.invalidInput, "\(source): \(bytes.count) bytes for \(count) float16 values")
        }
        do {
            return NamedTensor(proto.name, try Tensor(dtype: .float16, shape: Shape(shape), data: ByteView(bytes)))
        } catch {
            throw EngineError(.invalidInput, "\(source): \(error.message)")
        }
    }

    /// Reads a `.pb` file holding one `TensorProto`.
    /// - Parameter path: the file.
    /// - Returns: the tensor and its name.
    /// - Throws: `EngineError.io` when the file cannot be read, else as ``decode(_:source:)``.
    public static func read(_ path: String) throws(EngineError) -> NamedTensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError(.io, "\(path): cannot read the file")
        }
        return try Self.decode([UInt8](data), source: path)
    }

    /// The ONNX element type code stored in a serialized `TensorProto`, without decoding its data.
    /// - Parameter bytes: the protobuf bytes.
    /// - Returns: `TensorProto.DataType`'s number, or `nil` when the bytes are not a tensor.
    public static func elementTypeCode(_ bytes: [UInt8]) -> Int? {
        guard let proto = try? Onnx_TensorProto(serializedBytes: bytes) else { return nil }
        return Int(proto.dataType)
    }
}
