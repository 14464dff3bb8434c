import Foundation
import SwiftProtobuf
public import SwitchyardONNX

/// An ONNX model held as its protobuf message, for the compression tools to read and rewrite.
///
/// Reading keeps every field (opsets, metadata, value infos), so a rewritten model differs from its source only
/// where a tool changed it.
public struct ONNXModel: Sendable {
    /// The model message.
    public var proto: Onnx_ModelProto
    /// Where it came from, for messages.
    public var source: String

    /// Wraps a model message.
    /// - Parameters:
    ///   - proto: the model.
    ///   - source: a name for messages.
    public init(proto: Onnx_ModelProto, source: String = "model") {
        self.proto = proto
        self.source = source
    }

    /// Reads an `.onnx` file.
    /// - Parameter path: the file.
    /// - Throws: `CompressionError` `.io` when it cannot be read, `.invalidModel` when it is not an ONNX model,
    ///   `.unsupportedModel` when its tensors live in external files.
    public static func read(_ path: String) throws(CompressionError) -> ONNXModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CompressionError(.io, "\(path): cannot read the model")
        }
        return try Self.decode([UInt8](data), source: path)
    }

    /// Decodes the bytes of an `.onnx` file.
    /// - Parameters:
    ///   - bytes: the serialized `ModelProto`.
    ///   - source: a name for messages.
    /// - Throws: `CompressionError` as for ``read(_:)``.
    public static func decode(_ bytes: [UInt8], source: String) throws(CompressionError) -> ONNXModel {
        let proto: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            proto = try Onnx_ModelProto(serializedBytes: bytes, options: options)
        } catch {
            throw CompressionError(.invalidModel, "\(source): not an ONNX model (\(error))", cause: error)
        }
        guard proto.hasGraph, proto.irVersion > 0 else {
            throw CompressionError(.invalidModel, "\(source): not an ONNX model (no ir_version or no graph)")
        }
        for tensor in proto.graph.initializer where tensor.dataLocation == .external || !tensor.externalData.isEmpty {
            throw CompressionError(
                .unsupportedModel,
                "\(source): initializer '\(tensor.name)' is stored in an external file"
            )
        }
        return ONNXModel(proto: proto, source: source)
    }

    /// The serialized model.
    /// - Throws: `CompressionError.invalidModel` when the message cannot be encoded.
    public func serialized() throws(CompressionError) -> [UInt8] {
        do {
            return try self.proto.serializedBytes()
        } catch {
            throw CompressionError(.invalidModel, "\(self.source): cannot encode the model (\(error))", cause: error)
        }
    }

    /// Writes the model to a file.
    /// - Parameter path: the `.onnx` file to write.
    /// - Throws: `CompressionError.io` when it cannot be written.
    public func write(to path: String) throws(CompressionError) {
        let bytes = try self.serialized()
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CompressionError(.io, "\(path): cannot write the model (\(error))", cause: error)
        }
    }

    /// The default-domain opset the model imports.
    public var opset: Int {
        Int(self.proto.opsetImport.first { $0.domain == "" || $0.domain == "ai.onnx" }?.version ?? 0)
    }

    /// Bytes of every initializer's data: the weights a model file carries.
    public var weightBytes: Int {
        self.proto.graph.initializer.reduce(0) { total, tensor in
            total + tensor.dims.reduce(1) { $0 * Int($1) } * ONNXModel.elementSize(tensor.dataType)
        }
    }

    /// The names of the graph's inputs that are not initializers (what a caller feeds).
    public var inputNames: [String] {
        let initializers = Set(self.proto.graph.initializer.map(\.name))
        return self.proto.graph.input.map(\.name).filter { !initializers.contains($0) }
    }

    /// The names of the graph's outputs.
    public var outputNames: [String] { self.proto.graph.output.map(\.name) }

    /// Bytes per element of an ONNX element type code (strings count 0).
    static func elementSize(_ code: Int32) -> Int {
        switch code {
        case 1, 6, 12: 4  // float, int32, uint32
        case 2, 3, 9: 1  // uint8, int8, bool
        case 4, 5, 10, 16: 2  // uint16, int16, float16, bfloat16
        case 7, 11, 13: 8  // int64, double, uint64
        default: 0
        }
    }
}
