import Foundation
public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
internal import Synchronization
import SwitchyardTransport

/// The router's stage pools and where their instances come from: discovery (``PoolSource``: addresses, DNS names
/// re-resolved, SRV records, watched files) and the operator's `pool.add`, `pool.remove` and `pool.drain`.
///
/// Every `interval`, and soon after an instance of a discovered pool fails its health check or is ejected, each
/// stage's sources are resolved again: an instance that appears is added to its pool (health-checked first, then a
/// slowly rising share), one that disappears is removed (drained: it gets no new requests, and leaves when those in
/// flight have finished). A source that cannot be resolved now keeps what it last resolved to. An instance the
/// operator added stays until the operator removes it; one the operator removed stays out until added again.
public final class StagePools: Service, Sendable {
    /// One stage: its name and pool.
    public struct Stage: Sendable {
        /// `preprocess`, `inference` or `postprocess`.
        public var name: String
        /// Its instances.
        public var pool: UpstreamPool<ContinuousClock>

        /// Names a stage's pool.
        public init(name: String, pool: UpstreamPool<ContinuousClock>) {
            self.name = name
            self.pool = pool
        }
    }

    private struct Discovered {
        var sources: [PoolSource]
        /// What each source resolved to last (kept when it cannot be resolved now).
        var resolved: [PoolSource: Set<PoolEndpoint>] = [:]
        var added: Set<PoolEndpoint> = []
        var removed: Set<String> = []
        var lastError: String?
    }

    private let stages: [Stage]
    private let discovered: Mutex<[String: Discovered]>
    private let interval: Duration
    private let makeUpstream: @Sendable (PoolEndpoint) throws -> any Upstream
    private let health: HealthChecker?
    private let membershipObservers = Mutex<[@Sendable (String, Int) -> Void]>([])
    private let logger: Logger
    private let wake = WakeSignal()
    /// Set by ``refreshSoon()``; a wake without it is an instance's trouble.
    private let refreshRequested = Atomic<Bool>(false)
    private let refreshing = Mutex(false)

    /// Makes the pools' discovery; nothing is resolved until ``run()`` or ``refresh()``.
    /// - Parameters:
    ///   - stages: the pools, each with the sources of its instances.
    ///   - interval: time between two resolutions.
    ///   - health: the pools' health checks, told to check new instances at once.
    ///   - logger: membership changes are logged at info level.
    ///   - makeUpstream: makes the client of a new instance.
    public init(
        stages: [(Stage, [PoolSource])],
        interval: Duration,
        health: HealthChecker?,
        logger: Logger,
        makeUpstream: @escaping @Sendable (PoolEndpoint) throws -> any Upstream
    ) {
        self.stages = stages.map(\.0)
        self.discovered = Mutex(
            Dictionary(stages.map { ($0.0.name, Discovered(sources: $0.1)) }, uniquingKeysWith: { first, _ in first })
        )
        self.interval = interval
        self.health = health
        self.logger = logger
        self.makeUpstream = makeUpstream
        for stage in self.stages {
            stage.pool.observeTrouble { [wake = self.wake] in wake.signal() }
        }
    }

    /// Tells `observer` a stage's instance count after each change (the router's batches in flight scale with it).
    public func observeMembership(_ observer: @escaping @Sendable (String, Int) -> Void) {
        self.membershipObservers.withLock { $0.append(observer) }
    }

    private func onMembership(_ stage: String, _ count: Int) {
        for observer in self.membershipObservers.withLock({ $0 }) { observer(stage, count) }
    }

    /// The stages' names, in order.
    public var names: [String] { self.stages.map(\.name) }

    /// Resolves every interval (sooner after a failure) until graceful shutdown.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.refresh()
                let until = ContinuousClock.now.advanced(by: self.interval)
                let earliest = ContinuousClock.now.advanced(by: .seconds(1))  // failures trigger at most once a second
                // woken by refreshSoon() or by an instance's trouble; no polling between
                while !Task.isCancelled, await self.wake.wait(until: until) {
                    if self.refreshRequested.exchange(false, ordering: .relaxed) { break }
                    if ContinuousClock.now < earliest { try? await Task.sleep(until: min(earliest, until)) }
                    if self.hasFailingDiscoveredInstance { break }
                }
            }
        }
    }

    /// Resolves again soon (after a membership change by the operator or the config).
    public func refreshSoon() {
        self.refreshRequested.store(true, ordering: .relaxed)
        self.wake.signal()
    }

    /// Whether an instance of a pool with resolved sources fails its health check or is ejected: its address may
    /// have moved.
    private var hasFailingDiscoveredInstance: Bool {
        let dynamic = self.discovered.withLock { discovered in
            Set(discovered.filter { $0.value.sources.contains { !$0.isStatic } }.keys)
        }
        return self.stages.contains { stage in
            dynamic.contains(stage.name)
                && stage.pool.statistics.contains { (!$0.healthy && !$0.awaitingHealthCheck) || $0.ejected }
        }
    }

    /// Resolves every stage's sources and brings its pool in line.
    public func refresh() async {
        // one refresh at a time; a caller arriving meanwhile is covered by the one running
        guard
            self.refreshing.withLock({ busy in
                defer { busy = true }
                return !busy
            })
        else { return }
        defer { self.refreshing.withLock { $0 = false } }
        for stage in self.stages {
            let sources = self.discovered.withLock { $0[stage.name]?.sources ?? [] }
            var results: [PoolSource: Set<PoolEndpoint>] = [:]
            var errors: [String] = []
            for source in sources {
                do {
                    results[source] = try await Self.resolve(source)
                } catch {
                    errors.append("\(source): \(error)")
                }
            }
            let desired = self.discovered.withLock { discovered -> Set<PoolEndpoint> in
                var entry = discovered[stage.name] ?? Discovered(sources: sources)
                // a source that failed keeps its last answer; sources no longer listed are forgotten
                entry.resolved = Dictionary(
                    uniqueKeysWithValues: entry.sources.compactMap { source in
                        (results[source] ?? entry.resolved[source]).map { (source, $0) }
                    }
                )
                entry.lastError = errors.isEmpty ? nil : errors.joined(separator: "; ")
                discovered[stage.name] = entry
                let all = entry.resolved.values.reduce(into: entry.added) { $0.formUnion($1) }
                return all.filter { !entry.removed.contains($0.id) }
            }
            for error in errors {
                self.logger.warning(
                    "cannot resolve a pool source; keeping what it resolved to last",
                    metadata: ["stage": "\(stage.name)", "error": "\(error)"]
                )
            }
            self.apply(desired, to: stage)
        }
    }

    /// Adds the desired instances the pool lacks and removes those it has beyond them.
    private func apply(_ desired: Set<PoolEndpoint>, to stage: Stage) {
        let current = stage.pool.statistics
        let present = Set(current.filter { !$0.removing }.map(\.id))
        let wanted = Dictionary(desired.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var changed = false
        for (id, endpoint) in wanted.sorted(by: { $0.key < $1.key }) where !present.contains(id) {
            do {
                let upstream = try self.makeUpstream(endpoint)
                stage.pool.add(.init(id: id, upstream: upstream), awaitingHealthCheck: true)
                changed = true
                self.logger.info(
                    "instance joins the pool; health check first, then slow start",
                    metadata: ["stage": "\(stage.name)", "instance": "\(id)"]
                )
            } catch {
                self.logger.error(
                    "cannot make a client for a new instance",
                    metadata: ["stage": "\(stage.name)", "instance": "\(id)", "error": "\(error)"]
                )
            }
        }
        for id in present.subtracting(wanted.keys).sorted() {
            stage.pool.remove(id)
            changed = true
            self.logger.info(
                "instance leaves the pool; draining",
                metadata: ["stage": "\(stage.name)", "instance": "\(id)"]
            )
        }
        if changed {
            self.health?.checkSoon()
            self.onMembership(stage.name, stage.pool.members.count)
        }
    }

    /// Resolves one source.
    static func resolve(_ source: PoolSource) async throws -> Set<PoolEndpoint> {
        switch source {
        case .address(let host, let port):
            return [PoolEndpoint(host: host, port: port)]
        case .dns(let name, let port):
            return Set(
                try await NameResolver.addresses(of: name).map { PoolEndpoint(host: $0, port: port, serverName: name) }
            )
        case .srv(let name):
            var endpoints = Set<PoolEndpoint>()
            for record in try await NameResolver.serviceRecords(name) {
                let target = record.target.hasSuffix(".") ? String(record.target.dropLast()) : record.target
                for address in try await NameResolver.addresses(of: target) {
                    endpoints.insert(PoolEndpoint(host: address, port: record.port, serverName: target))
                }
            }
            return endpoints
        case .file(let path):
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw RouterError(.invalidArgument, "cannot read the pool file \(path): \(error.localizedDescription)")
            }
            var endpoints = Set<PoolEndpoint>()
            for line in text.split(whereSeparator: \.isNewline) {
                let entry = String(line.prefix { $0 != "#" }).trimmingSpaces()
                guard !entry.isEmpty else { continue }
                endpoints.formUnion(try await Self.resolve(try PoolSource.parse(entry, allowFiles: false)))
            }
            return endpoints
        }
    }

    // MARK: Reload and administration

    /// Replaces a stage's sources (a reloaded config) and resolves them at once.
    /// - Throws: `RouterError` for a stage the router does not have.
    public func update(stage name: String, sources: [PoolSource]) async throws {
        try self.discovered.withLock { discovered in
            guard discovered[name] != nil else { throw RouterError(.notFound, "no stage '\(name)'") }
            discovered[name]!.sources = sources
        }
        await self.refresh()
    }

    /// The operator adds an instance (it stays until the operator removes it).
    /// - Throws: `RouterError` for an unknown stage or an address that is not `HOST:PORT`.
    public func add(stage name: String, address: String) async throws {
        guard case .address(let host, let port) = try PoolSource.parse(address, allowFiles: false) else {
            throw RouterError(.invalidArgument, "pool.add takes an instance's HOST:PORT, got '\(address)'")
        }
        let endpoint = PoolEndpoint(host: host, port: port)
        try self.discovered.withLock { discovered in
            guard discovered[name] != nil else { throw Self.unknownStage(name, self.names) }
            discovered[name]!.added.insert(endpoint)
            discovered[name]!.removed.remove(endpoint.id)
        }
        // a drained instance that is still a member takes requests again at once
        if let member = try self.stage(name).pool.members.first(where: { $0.id == endpoint.id }) {
            try self.stage(name).pool.add(member)
        }
        await self.refresh()
    }

    /// The operator removes an instance: drained, then out of the pool; discovery does not bring it back until the
    /// operator adds it again.
    /// - Throws: `RouterError` for an unknown stage or an instance the pool does not have.
    public func remove(stage name: String, instance id: String) async throws {
        let stage = try self.stage(name)
        try self.discovered.withLock { discovered in
            guard
                stage.pool.members.contains(where: { $0.id == id })
                    || discovered[name]!.added.contains(where: { $0.id == id })
            else { throw RouterError(.notFound, "the \(name) pool has no instance \(id)") }
            discovered[name]!.removed.insert(id)
            discovered[name]!.added = discovered[name]!.added.filter { $0.id != id }
        }
        stage.pool.remove(id)
        self.onMembership(name, stage.pool.members.count)
        self.logger.info(
            "instance removed by the operator; draining",
            metadata: ["stage": "\(name)", "instance": "\(id)"]
        )
    }

    /// The operator drains an instance: no new requests, those in flight finish; it stays listed (draining) until
    /// removed, or added again.
    /// - Throws: `RouterError` for an unknown stage or an instance the pool does not have.
    public func drain(stage name: String, instance id: String) throws {
        let stage = try self.stage(name)
        guard stage.pool.drain(id) else { throw RouterError(.notFound, "the \(name) pool has no instance \(id)") }
        self.logger.info("instance drained by the operator", metadata: ["stage": "\(name)", "instance": "\(id)"])
    }

    /// Every stage's sources and instances, as JSON (for `pool.list`).
    public func listJSON() -> String {
        let discovered = self.discovered.withLock { $0 }
        var stages: [[String: Any]] = []
        for stage in self.stages {
            let entry = discovered[stage.name]
            let instances: [[String: Any]] = stage.pool.statistics.map { instance in
                let state =
                    instance.removing
                    ? "removing"
                    : instance.draining
                        ? "draining"
                        : instance.awaitingHealthCheck
                            ? "checking" : instance.ejected ? "ejected" : instance.healthy ? "serving" : "unhealthy"
                return [
                    "id": instance.id, "state": state, "in_flight": instance.inFlight,
                    "weight": (instance.weight * 100).rounded() / 100, "ejections": instance.ejections,
                    "added_by_operator": entry?.added.contains { $0.id == instance.id } ?? false,
                ]
            }
            var object: [String: Any] = [
                "stage": stage.name, "sources": (entry?.sources ?? []).map(\.description), "instances": instances,
                "removed_by_operator": (entry?.removed ?? []).sorted(),
            ]
            if let error = entry?.lastError { object["resolution_error"] = error }
            stages.append(object)
        }
        let data = (try? JSONSerialization.data(withJSONObject: ["stages": stages], options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func stage(_ name: String) throws -> Stage {
        guard let stage = self.stages.first(where: { $0.name == name }) else {
            throw Self.unknownStage(name, self.names)
        }
        return stage
    }

    private static func unknownStage(_ name: String, _ names: [String]) -> RouterError {
        RouterError(.notFound, "no stage '\(name)' (stages: \(names.joined(separator: ", ")))")
    }
}

extension PoolSource {
    /// An address given as such: nothing to resolve again.
    var isStatic: Bool {
        if case .address = self { return true }
        return false
    }
}
