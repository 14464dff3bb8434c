import Foundation
import SwitchyardTesting
import Testing

/// Each service executable links only the native libraries its work needs: the module split keeps OpenBLAS (the
/// engine) and libpng (the image pipeline) out of the services that do not run them. Read with `ldd` from the
/// built binaries, so a dependency that creeps back in through a shared module fails here.
struct LinkageTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var product: String
        var forbidden: [String]
        var testDescription: String { self.product }
    }

    static let openBLAS = "libopenblas"
    static let png = "libpng"

    static let cases = [
        Case(product: "switchyard-echo", forbidden: [openBLAS, png]),
        Case(product: "switchyard-router", forbidden: [openBLAS, png]),
        Case(product: "switchyard-monitor", forbidden: [openBLAS, png]),
        Case(product: "switchyard-preprocess", forbidden: [openBLAS]),
        Case(product: "switchyard-postprocess", forbidden: [openBLAS]),
        Case(product: "switchyard-inference", forbidden: [png]),
    ]

    @Test(arguments: cases)
    func linksOnlyWhatItUses(_ entry: Case) throws {
        let libraries = try Self.sharedLibraries(of: entry.product)
        #expect(!libraries.isEmpty, "ldd listed nothing for \(entry.product)")
        for library in entry.forbidden {
            #expect(!libraries.contains { $0.hasPrefix(library) }, "\(entry.product) links \(library): \(libraries)")
        }
    }

    /// The engine's and the pipeline's libraries are where they belong, so the test above can fail.
    @Test func theEngineAndThePipelineLinkTheirLibraries() throws {
        #expect(try Self.sharedLibraries(of: "switchyard-inference").contains { $0.hasPrefix(Self.openBLAS) })
        #expect(try Self.sharedLibraries(of: "switchyard-preprocess").contains { $0.hasPrefix(Self.png) })
    }

    /// The names of the shared libraries `product` loads, as `ldd` prints them (`libopenblas.so.0`).
    static func sharedLibraries(of product: String) throws -> [String] {
        let path = ServiceProcess.productsDirectory.appendingPathComponent(product).path
        try #require(FileManager.default.isExecutableFile(atPath: path), "\(path) is not built")
        let ldd = Process()
        ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        ldd.arguments = [path]
        let pipe = Pipe()
        ldd.standardOutput = pipe
        try ldd.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        ldd.waitUntilExit()
        try #require(ldd.terminationStatus == 0, "ldd \(path) exited with \(ldd.terminationStatus)")
        return String(decoding: output, as: UTF8.self).split(separator: "\n").compactMap { line in
            line.split(separator: " ").first.map { String($0.trimmingCharacters(in: .whitespaces)) }
        }
    }
}
