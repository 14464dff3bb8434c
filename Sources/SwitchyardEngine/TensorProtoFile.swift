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
        let dtype: DType
        let shape: [Int]
        let storage: ByteStorage
        if proto.dataType == Int32(DType.float16.rawValue) || proto.dataType == Int32(DType.bfloat16.rawValue) {
            // Kept as they are (the engine's constants widen them to f32).
            let bits: [UInt16]
            (shape, bits) = try TensorDecoding.halfBits(proto, what: source, external: nil)
            dtype = proto.dataType == Int32(DType.float16.rawValue) ? .float16 : .bfloat16
            storage = bits.withUnsafeBytes { raw in ByteStorage(uninitializedCount: raw.count) { $0.copyMemory(from: raw) } }
        } else {
            let constant = try TensorDecoding.constant(proto, what: source)
            (dtype, shape) = (constant.type.dtype, constant.type.shape)
            if dtype == .bytes {
                storage = StringElements.wire(constant.buffer.pointer, count: constant.type.count)
            } else {
                let count = constant.type.byteCount
                storage = ByteStorage(count: count) { target in
                    if count > 0 { target.baseAddress!.copyMemory(from: constant.buffer.pointer, byteCount: count) }
                }
            }
        }
        do {
            let tensor = try Tensor(dtype: dtype, shape: Shape(shape), data: ByteView(storage: storage))
            return NamedTensor(proto.name, tensor)
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
