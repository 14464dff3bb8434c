#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads tensors whose bytes live beside the model (`model.onnx` + a data file, as `onnx.save` writes
/// models over 2 GB). Files must lie inside the model's folder: absolute locations, `..` and symbolic
/// links that lead out of it are refused.
struct ExternalData {
    /// The model's folder, resolved; `nil` when the model came as bytes with no folder.
    let directory: String?

    init(directory: String?) {
        self.directory = directory.flatMap { path in
            guard let resolved = realpath(path, nil) else { return nil }
            defer { free(resolved) }
            return String(cString: resolved)
        }
    }

    /// The `byteCount` bytes a tensor's `external_data` entries point at.
    func read(_ entries: [String: String], byteCount: Int, what: String) throws(EngineError) -> AlignedBuffer {
        guard let directory else {
            throw EngineError(
                .unsupportedModel,
                "\(what) keeps its data in an external file, which needs the model loaded from its folder (a path)"
            )
        }
        guard let location = entries["location"], !location.isEmpty else {
            throw EngineError(.invalidModel, "\(what) keeps its data externally but names no location")
        }
        let components = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !location.contains("\\"), !location.contains("\u{0}"),
            !components.contains(where: { $0 == ".." || $0.isEmpty })
        else {
            throw EngineError(
                .invalidModel,
                "\(what): external data location '\(location)' must be a relative path inside the model's folder"
            )
        }
        let offset = try Self.number(entries["offset"], "offset", what) ?? 0
        let length = try Self.number(entries["length"], "length", what)
        if let length, length != byteCount {
            throw EngineError(
                .invalidModel,
                "\(what): external data length \(length) differs from the \(byteCount) bytes its shape needs"
            )
        }
        let joined = directory + "/" + location
        guard let resolvedPointer = realpath(joined, nil) else {
            throw EngineError(.io, "\(what): external data file '\(location)' cannot be found beside the model")
        }
        let resolved = String(cString: resolvedPointer)
        free(resolvedPointer)
        guard resolved.hasPrefix(directory + "/") else {
            throw EngineError(
                .invalidModel,
                "\(what): external data file '\(location)' leads outside the model's folder"
            )
        }
        let descriptor = open(resolved, O_RDONLY)
        guard descriptor >= 0 else {
            throw EngineError(.io, "\(what): external data file '\(location)' cannot be opened (errno \(errno))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw EngineError(.io, "\(what): external data '\(location)' is not a regular file")
        }
        let size = Int(status.st_size)
        guard offset <= size, byteCount <= size - offset else {
            throw EngineError(
                .invalidModel,
                "\(what): external data needs bytes \(offset)..<\(offset + byteCount) of '\(location)', which has \(size)"
            )
        }
        let buffer = AlignedBuffer(count: byteCount)
        var done = 0
        while done < byteCount {
            let got = pread(descriptor, buffer.pointer + done, byteCount - done, off_t(offset + done))
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw EngineError(.io, "\(what): reading '\(location)' failed (errno \(errno))") }
            done += got
        }
        return buffer
    }

    private static func number(_ text: String?, _ key: String, _ what: String) throws(EngineError) -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw EngineError(.invalidModel, "\(what): external data \(key) '\(text)' is not a non-negative integer")
        }
        return value
    }
}
