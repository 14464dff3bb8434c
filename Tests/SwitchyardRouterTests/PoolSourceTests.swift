import Foundation
import SwitchyardRouting
import Testing

@testable import SwitchyardRouter

/// Pool sources as the router's `--inference` lists give them, and a watched file resolved.
struct PoolSourceTests {
    @Test func listsParse() throws {
        let sources = try PoolSource.parse(list: "10.0.0.7:7402, dns:inference.fleet:7402,srv:_wire._tcp.inference,file:/etc/x,[fd00::1]:7402")
        #expect(
            sources == [
                .address(host: "10.0.0.7", port: 7402), .dns(name: "inference.fleet", port: 7402),
                .srv(name: "_wire._tcp.inference"), .file(path: "/etc/x"), .address(host: "fd00::1", port: 7402),
            ]
        )
        #expect(sources.map(\.description).last == "[fd00::1]:7402")
    }

    @Test(arguments: ["inference", "dns:inference", "srv:", "srv:name:7402", "file:", "host:0", "host:70000", ":7402"])
    func badEntriesAreRefusedWithTheirText(_ entry: String) throws {
        let error = try #require(throws: RouterError.self) { try PoolSource.parse(list: entry) }
        #expect(error.code == .invalidArgument)
    }

    @Test func aPoolFileListsEntriesAndCannotNameAnotherFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("inference.list").path
        try "# the inference hosts\n10.0.0.2:7402\n\n10.0.0.3:7402  # rack 2\ndns:localhost:7410\n".write(toFile: file, atomically: true, encoding: .utf8)
        let endpoints = try await StagePools.resolve(.file(path: file))
        let ids = Set(endpoints.map(\.id))
        #expect(ids.isSuperset(of: ["10.0.0.2:7402", "10.0.0.3:7402"]))
        #expect(ids.contains("127.0.0.1:7410") || ids.contains("[::1]:7410"))
        #expect(endpoints.first { $0.port == 7410 }?.serverName == "localhost")
        try "file:/etc/other\n".write(toFile: file, atomically: true, encoding: .utf8)
        await #expect(throws: RouterError.self) { try await StagePools.resolve(.file(path: file)) }
        await #expect(throws: RouterError.self) { try await StagePools.resolve(.file(path: directory.path + "/missing")) }
    }
}
