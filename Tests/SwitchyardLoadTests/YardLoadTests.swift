import Foundation
import SwitchyardLoad
import SwitchyardTesting
import SwitchyardTransport
import Testing

/// `yard load` as users run it: against a real `switchyard-echo` process, and every bad input a clear error.
@Suite(.timeLimit(.minutes(3)))
struct YardLoadTests {
    static var tls: [String] {
        let c = Fixtures.certificates
        return ["--ca", c.caPath, "--cert", c.certificatePath("client"), "--key", c.keyPath("client")]
    }

    static func echo() async throws -> ServiceProcess {
        let c = Fixtures.certificates
        return try await ServiceProcess(
            "switchyard-echo",
            arguments: [
                "--port", "0", "--ca", c.caPath, "--cert", c.certificatePath("server"), "--key", c.keyPath("server"),
            ]
        )
    }

    @Test func sweepAgainstTheEchoServiceWritesTableJSONCSVAndPlot() async throws {
        let service = try await Self.echo()
        defer { service.kill() }
        let directory = Fixtures.temporaryDirectory()
        let run = try await YardRun.run(
            [
                "load", "--target", "127.0.0.1:\(service.port)", "--method", "echo", "--input",
                Fixtures.digits("x_test.npy"),
                "--validate", Fixtures.digits("x_test.npy"), "--requests", "200", "--warmup", "0", "--concurrency",
                "1,4",
                "--connections", "2", "--users", "5", "--json", directory + "/r.json", "--csv", directory + "/r.csv",
                "--plot", directory + "/r.svg",
            ] + Self.tls
        )
        #expect(run.status == 0, "\(run.stderr)\n\(run.stdout)")
        #expect(run.stdout.contains("p99.9 ms"))
        #expect(run.stdout.contains("closed 4"))
        #expect(run.stdout.contains("200 of 200 rows match"))
        #expect(!run.stdout.contains("\u{1B}["), "a progress line went to a pipe")
        let report = try LoadReport(json: try Data(contentsOf: URL(fileURLWithPath: directory + "/r.json")))
        #expect(report.steps.map(\.concurrency) == [1, 4])
        #expect(report.steps.allSatisfy { $0.ok == 200 && $0.errors.isEmpty && $0.validation?.mismatchedRows == 0 })
        #expect(report.input.shape == [450, 64])
        #expect(report.target.connections == 2)
        let csv = try String(contentsOfFile: directory + "/r.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 3)
        #expect(try String(contentsOfFile: directory + "/r.svg", encoding: .utf8).hasPrefix("<svg"))
    }

    @Test func openLoopRun() async throws {
        let service = try await Self.echo()
        defer { service.kill() }
        let run = try await YardRun.run(
            [
                "load", "--target", "127.0.0.1:\(service.port)", "--shape", "784", "--rate", "200", "--requests", "100",
                "--warmup", "200ms",
            ] + Self.tls
        )
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("open 200/s"))
        #expect(run.stdout.contains("from the actual send"))
    }

    /// Exit 1 and one line on standard error, naming the problem.
    @Test(arguments: [
        (["--target", "127.0.0.1:1"], "cannot reach 127.0.0.1:1"),
        (["--ca", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
        (["--input", "BAD_NPY"], "npy"),
        (["--validate", Fixtures.digits("y_test.npy")], "one entry per input row"),
    ])
    func runErrorsAreOneLine(_ arguments: [String], _ mentions: String) async throws {
        let directory = Fixtures.temporaryDirectory()
        let bad = directory + "/bad.npy"
        try Data("\u{93}NUMPY but not really".utf8).write(to: URL(fileURLWithPath: bad))
        var full = ["load", "--requests", "5"] + Self.tls + arguments.map { $0 == "BAD_NPY" ? bad : $0 }
        if !arguments.contains("--input") { full += ["--shape", "4"] }
        if !arguments.contains("--target") { full += ["--target", "127.0.0.1:1"] }
        let run = try await YardRun.run(full)
        #expect(run.status == 1, "\(run.stdout)")
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        #expect(run.stderr.lowercased().contains(mentions.lowercased()), "\(run.stderr)")
    }

    @Test func aForeignCertificateAuthorityIsOneLineNotAHang() async throws {
        let service = try await Self.echo()
        defer { service.kill() }
        let f = Fixtures.foreign
        let run = try await YardRun.run([
            "load", "--target", "127.0.0.1:\(service.port)", "--shape", "4", "--requests", "5",
            "--ca", f.caPath, "--cert", f.certificatePath("client"), "--key", f.keyPath("client"),
        ])
        #expect(run.status == 1)
        #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("cannot reach"), "\(run.stderr)")
    }

    /// Nonsense flag values are refused before anything is sent, naming the flag.
    @Test(arguments: [
        (["--concurrency", "abc"], "--concurrency"), (["--concurrency", "0"], "concurrency"),
        (["--rate", "-5"], "rate"),
        (["--duration", "10x"], "--duration"), (["--connections", "0"], "--connections"),
        (["--shape", "0"], "--shape"),
        (["--rate", "10", "--concurrency", "2"], "not both"), (["--timeout", "0"], "timeout"),
        (["--target", "nohost"], "--target"),
        (["--rows-per-request", "0"], "--rows-per-request"), (["--users", "-1"], "--users"),
    ])
    func badFlagsAreRefused(_ arguments: [String], _ mentions: String) async throws {
        var full = ["load", "--requests", "5"] + arguments
        if !arguments.contains("--shape") { full += ["--shape", "4"] }
        let run = try await YardRun.run(full)
        #expect(run.status == 64, "\(run.stderr)")
        let first = run.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("Error:") && first.contains(mentions), "\(run.stderr)")
    }
}
