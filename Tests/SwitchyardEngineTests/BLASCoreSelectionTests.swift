import Foundation
import SwitchyardEngine
import Testing

/// OpenBLAS kernel selection: the decision table, and that this process and `yard` run kernels that match the CPU.
struct BLASCoreSelectionTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var cpu: CPUFeatures
        var library: String
        var available: Set<String> = ["Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake"]
        var expected: String?
        var description: String { self.name }
    }

    static let sse = CPUFeatures { $0.intel = true }
    static let sandyBridge = CPUFeatures {
        $0.intel = true
        $0.avx = true
        $0.osYMM = true
    }
    static let haswell = CPUFeatures {
        $0 = sandyBridge
        $0.avx2 = true
        $0.fma = true
    }
    static let zen2 = CPUFeatures {
        $0 = haswell
        $0.intel = false
        $0.amd = true
    }
    static let skylakeX = CPUFeatures {
        $0 = haswell
        $0.avx512f = true
        $0.avx512dq = true
        $0.avx512cd = true
        $0.avx512bw = true
        $0.avx512vl = true
        $0.osZMM = true
    }
    static let sapphireRapids = CPUFeatures {
        $0 = skylakeX
        $0.avx512vnni = true
        $0.avx512bf16 = true
    }
    static let zen4 = CPUFeatures {
        $0 = sapphireRapids
        $0.intel = false
        $0.amd = true
    }

    static let cases: [Case] = [
        Case(name: "AVX-512 Xeon OpenBLAS does not know", cpu: skylakeX, library: "Prescott", expected: "SkylakeX"),
        Case(name: "AVX-512 BF16 Xeon", cpu: sapphireRapids, library: "Prescott", expected: "Cooperlake"),
        Case(
            name: "BF16 CPU, library without Cooperlake",
            cpu: sapphireRapids,
            library: "Prescott",
            available: ["Haswell", "SkylakeX"],
            expected: "SkylakeX"
        ),
        Case(name: "AVX-512 Xeon already on SkylakeX", cpu: skylakeX, library: "SkylakeX", expected: nil),
        Case(name: "AVX-512 Xeon the library put on Haswell", cpu: skylakeX, library: "Haswell", expected: "SkylakeX"),
        Case(
            name: "AVX-512 CPU whose OS does not save ZMM state",
            cpu: CPUFeatures {
                $0 = skylakeX
                $0.osZMM = false
            },
            library: "Prescott",
            expected: "Haswell"
        ),
        Case(name: "Zen 4 the library put on Zen", cpu: zen4, library: "Zen", expected: "Cooperlake"),
        Case(name: "Zen 2 on Zen", cpu: zen2, library: "Zen", expected: nil),
        Case(name: "Zen 2 OpenBLAS does not know", cpu: zen2, library: "Prescott", expected: "Zen"),
        Case(name: "Haswell on Haswell", cpu: haswell, library: "Haswell", expected: nil),
        Case(name: "AVX2 Intel OpenBLAS does not know", cpu: haswell, library: "Prescott", expected: "Haswell"),
        Case(name: "Excavator keeps its own kernels", cpu: zen2, library: "Excavator", expected: nil),
        Case(name: "AVX-only CPU on Nehalem kernels", cpu: sandyBridge, library: "Nehalem", expected: "Sandybridge"),
        Case(name: "SSE-only CPU", cpu: sse, library: "Prescott", expected: nil),
        Case(
            name: "a library with no switchable cores",
            cpu: skylakeX,
            library: "Prescott",
            available: [],
            expected: nil
        ),
        Case(name: "a core the operator forced higher", cpu: haswell, library: "SkylakeX", expected: nil),
        Case(name: "core names are case-insensitive", cpu: skylakeX, library: "SKYLAKEX", expected: nil),
    ]

    @Test(arguments: cases)
    func decision(_ entry: Case) {
        let chosen = BLASCoreSelection.choose(cpu: entry.cpu, libraryCore: entry.library, available: entry.available)
        #expect(chosen == entry.expected)
    }

    @Test func cpuLevels() {
        #expect(Self.sse.level == 1)
        #expect(Self.sandyBridge.level == 2)
        #expect(Self.haswell.level == 3)
        #expect(Self.skylakeX.level == 4)
        #expect(Self.sapphireRapids.level == 5)
        #expect(Self.sapphireRapids.summary == "AVX-512 BF16 VNNI")
        #expect(BLASCoreSelection.level(ofCore: "Prescott") == 1)
        #expect(BLASCoreSelection.level(ofCore: "Zen") == 3)
    }

    /// The process running this test: OpenBLAS must run kernels of the CPU's instruction-set level (capped at
    /// AVX-512, the newest kernels Debian's OpenBLAS has), whatever the library picked by itself.
    @Test func thisProcessRunsKernelsMatchingTheCPU() throws {
        let selection = BLAS.coreSelection
        #expect(selection.cpu == CPUFeatures.host)
        #if arch(x86_64)
        if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !forced.isEmpty {
            #expect(selection.outcome == .environment)
            return
        }
        #expect(selection.outcome != .unsupported, "\(selection)")
        #expect(selection.outcome != .failed, "\(selection)")
        let wanted = min(selection.cpu.level, 4)
        #expect(BLASCoreSelection.level(ofCore: selection.core) >= wanted, "\(selection)")
        if BLASCoreSelection.level(ofCore: selection.libraryCore) < wanted {
            #expect(selection.outcome == .switched, "\(selection)")
        }
        // The selection does not leak into child processes' environment.
        #expect(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil)
        #endif
    }

    /// `yard model inspect` reports the core; OPENBLAS_CORETYPE in the environment is honoured as given.
    @Test func yardReportsTheCoreAndHonoursTheEnvironment() throws {
        let own = BLAS.coreSelection
        var report = try Self.inspect(environment: [:])
        #expect(report["core"] as? String == own.core)
        #expect(report["library_core"] as? String == own.libraryCore)
        #expect(report["selection"] as? String == own.outcome.rawValue)
        #if arch(x86_64)
        report = try Self.inspect(environment: ["OPENBLAS_CORETYPE": "Nehalem"])
        #expect(report["core"] as? String == "Nehalem")
        #expect(report["selection"] as? String == "environment")
        #endif
    }

    private static func inspect(environment: [String: String]) throws -> [String: Any] {
        let yard = YardCommandTests.yard
        try #require(FileManager.default.isExecutableFile(atPath: yard), "no yard binary at \(yard)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: yard)
        process.arguments = ["model", "inspect", "--json", Fixtures.digitsModel]
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = nil
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(object["blas"] as? [String: Any])
    }
}
