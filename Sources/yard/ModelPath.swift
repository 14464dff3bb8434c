import Foundation

/// Resolves what a user passes as `--model`: an `.onnx` file, a version directory holding
/// `model.onnx`, or a model directory of a repository (its highest version).
func resolveModelPath(_ path: String) -> String {
    let manager = FileManager.default
    guard let children = try? manager.contentsOfDirectory(atPath: path) else { return path }
    if children.contains("model.onnx") { return path + "/model.onnx" }
    let versions = children.compactMap { Int($0) }.filter { manager.fileExists(atPath: "\(path)/\($0)/model.onnx") }
    guard let latest = versions.max() else { return path }
    return "\(path)/\(latest)/model.onnx"
}
