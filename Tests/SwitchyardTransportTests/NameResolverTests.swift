import Testing

@testable import SwitchyardTransport

/// SRV answers decoded from DNS messages, and /etc/hosts names through getaddrinfo.
struct NameResolverTests {
    /// A DNS answer for `_wire._tcp.fleet` with two SRV records, the second target compressed to a pointer.
    static let answer: [UInt8] = {
        func name(_ labels: [String]) -> [UInt8] { labels.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0] }
        var message: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
        message += name(["_wire", "_tcp", "fleet"]) + [0, 33, 0, 1]
        // answer 1: owner is a pointer to the question's name (offset 12); target b.fleet in full
        let target1 = name(["b", "fleet"])
        message += [0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 30, 0, UInt8(6 + target1.count)]
        message += [0, 10, 0, 60, 0x1C, 0xF2] + target1  // priority 10, weight 60, port 7410
        // answer 2: target "c" + pointer to "fleet" inside the first target
        let fleetOffset = message.count - target1.count + 2
        let target2: [UInt8] = [1, UInt8(ascii: "c"), 0xC0, UInt8(fleetOffset)]
        message += [0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 30, 0, UInt8(6 + target2.count)]
        message += [0, 5, 0, 0, 0x1C, 0xF3] + target2  // priority 5, weight 0, port 7411
        return message
    }()

    @Test func serviceRecordsAreDecoded() throws {
        let records = try NameResolver.parseServiceRecords(Self.answer)
        #expect(
            records == [
                ServiceRecord(priority: 10, weight: 60, port: 7410, target: "b.fleet"),
                ServiceRecord(priority: 5, weight: 0, port: 7411, target: "c.fleet"),
            ]
        )
    }

    @Test func truncatedAndLoopingMessagesAreErrorsNotCrashes() throws {
        for cut in stride(from: 13, to: Self.answer.count - 1, by: 3) {
            #expect(throws: TransportError.self) { try NameResolver.parseServiceRecords(Array(Self.answer.prefix(cut))) }
        }
        var looping = Self.answer
        looping[12] = 0xC0  // the question's name points at itself
        looping[13] = 12
        #expect(throws: TransportError.self) { try NameResolver.parseServiceRecords(looping) }
    }

    @Test func localhostResolvesThroughTheHostsFile() async throws {
        let addresses = try await NameResolver.addresses(of: "localhost")
        #expect(addresses.contains("127.0.0.1") || addresses.contains("::1"))
    }
}
