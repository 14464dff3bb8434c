public import Foundation
internal import Synchronization
public import SwitchyardWire

/// One line per request, as CSV (`sent_unix_s,latency_ms,code,measured`): when it was sent (wall clock, so that
/// the lines line up with events outside the load client), how long its answer took from the send, its status
/// (`ok` or the error's) and whether it counted toward the step (warm-up requests do not). For tests and incidents
/// that count every request, e.g. failures while an instance leaves.
public final class RequestLog: Sendable {
    private let handle: FileHandle
    private let buffer = Mutex<[UInt8]>([])

    /// Creates (or empties) `path` and writes the header.
    /// - Throws: when the file cannot be created.
    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data("sent_unix_s,latency_ms,code,measured\n".utf8))
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        self.handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try self.handle.seekToEnd()
    }

    /// Records one request.
    /// - Parameters:
    ///   - sent: when it was sent, wall clock.
    ///   - latency: from the send to the answer or the failure.
    ///   - code: its status (`nil`: answered).
    ///   - measured: whether it counted toward the step.
    public func record(sent: Date, latency: Duration, code: Status.Code?, measured: Bool) {
        let milliseconds = Double(latency.components.seconds) * 1000 + Double(latency.components.attoseconds) / 1e15
        let line = String(format: "%.6f,%.3f,", sent.timeIntervalSince1970, milliseconds)
            + (code.map { $0.metricName } ?? "ok") + (measured ? ",1\n" : ",0\n")
        let full = self.buffer.withLock { buffer -> [UInt8]? in
            buffer += Array(line.utf8)
            guard buffer.count >= 64 << 10 else { return nil }
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        if let full { self.handle.write(Data(full)) }
    }

    /// Writes what is buffered and closes the file.
    public func close() {
        let rest = self.buffer.withLock { buffer in
            defer { buffer.removeAll() }
            return buffer
        }
        self.handle.write(Data(rest))
        try? self.handle.close()
    }
}
