public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
internal import Synchronization
import SwitchyardWire

/// Active health checks of the router's stage pools, after Envoy's `health_checks`: every `interval` each
/// instance is asked `health` within `timeout`; `unhealthyThreshold` failures in a row mark it unhealthy (the
/// pool stops sending to it while a healthy one is left) and `healthyThreshold` passes mark it healthy again
/// (re-admitting it at once if outlier detection had ejected it).
public final class HealthChecker: Service {
    /// One pool to watch.
    public struct Target: Sendable {
        /// The stage's name for logs and readiness messages, e.g. `inference`.
        public var stage: String
        /// The pool whose members are checked and told.
        public var pool: UpstreamPool<ContinuousClock>
        /// Whether the router is ready only while an instance of this pool passes (not so for the release leader:
        /// a follower keeps serving its last known releases while the leader is away).
        public var requiredForReadiness: Bool

        /// Names a pool.
        public init(stage: String, pool: UpstreamPool<ContinuousClock>, requiredForReadiness: Bool = true) {
            self.stage = stage
            self.pool = pool
            self.requiredForReadiness = requiredForReadiness
        }
    }

    /// The timing and thresholds, with Envoy's names.
    public struct Configuration: Sendable {
        public var interval: Duration = .seconds(2)
        public var timeout: Duration = .seconds(1)
        public var unhealthyThreshold = 2
        public var healthyThreshold = 1

        public init() {}
    }

    private struct Verdict {
        var healthy: Bool? = nil  // nil until the first check finished
        var passes = 0
        var failures = 0
    }

    private let targets: [Target]
    private let configuration: Configuration
    private let logger: Logger
    private let verdicts: Mutex<[String: Verdict]>  // by "stage/instance"
    /// What each inference instance's last passed check said it has loaded ("model/version"), by instance.
    private let loaded = Mutex<[String: Set<String>]>([:])
    /// What each inference instance's `model.list` said last: versions and their states, each model's limits.
    private let catalogs = Mutex<[String: InstanceCatalog]>([:])

    /// One inference instance's models, from its `model.list` answer.
    struct InstanceCatalog: Sendable {
        /// "model/version" to `ready`, `loading` or `failed: ...`.
        var versions: [String: String] = [:]
        /// Each served model's batching limits (the `model.limits` JSON).
        var limits: [String: ModelLimits] = [:]
    }
    /// Set by ``checkSoon()``: the next round starts without waiting out the interval.
    private let wake = WakeSignal()

    /// Makes a checker; nothing is checked until ``run()``.
    public init(targets: [Target], configuration: Configuration = Configuration(), logger: Logger) {
        self.targets = targets
        self.configuration = configuration
        self.logger = logger
        self.verdicts = Mutex([:])
    }

    /// Why the router is not ready: a stage without a healthy instance, or checks not run yet; `nil` when ready.
    public var notReadyReason: String? {
        let verdicts = self.verdicts.withLock { $0 }
        for target in self.targets where target.requiredForReadiness {
            let states = target.pool.members.map { verdicts["\(target.stage)/\($0.id)"]?.healthy }
            if states.contains(where: { $0 == true }) { continue }
            if states.allSatisfy({ $0 == nil }) { return "the \(target.stage) instances have not been checked yet" }
            return
                "no \(target.stage) instance passes its health check (\(target.pool.members.map(\.id).joined(separator: ", ")))"
        }
        return nil
    }

    /// The versions of `model` that the healthy inference instances report loaded, ascending; `nil` before any
    /// inference instance passed a check.
    /// - Parameter model: the model's name.
    public func readyVersions(of model: String) -> [String]? {
        let verdicts = self.verdicts.withLock { $0 }
        let loaded = self.loaded.withLock { $0 }
        guard !loaded.isEmpty else { return nil }
        var versions = Set<String>()
        for (instance, models) in loaded where verdicts["inference/\(instance)"]?.healthy == true {
            for entry in models {
                guard let slash = entry.lastIndex(of: "/"), entry[..<slash] == model else { continue }
                versions.insert(String(entry[entry.index(after: slash)...]))
            }
        }
        return versions.sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
    }

    /// Whether a healthy inference instance reports `version` of `model` loaded (``readyVersions(of:)`` contains it),
    /// without building the list: asked for every request that names a version. `nil` before any inference instance
    /// passed a check.
    /// - Parameters:
    ///   - model: the model's name.
    ///   - version: the version.
    public func isReady(model: String, version: String) -> Bool? {
        let entry = model + "/" + version
        let holders = self.loaded.withLock { loaded -> [String]? in
            guard !loaded.isEmpty else { return nil }
            return loaded.compactMap { $0.value.contains(entry) ? $0.key : nil }
        }
        guard let holders else { return nil }
        guard !holders.isEmpty else { return false }
        return self.verdicts.withLock { verdicts in
            holders.contains { verdicts["inference/\($0)"]?.healthy == true }
        }
    }

    /// The models that healthy inference instances serve now (a ready version on at least one).
    public var servedModels: Set<String> {
        let verdicts = self.verdicts.withLock { $0 }
        return self.loaded.withLock { loaded in
            Set(
                loaded.filter { verdicts["inference/\($0.key)"]?.healthy == true }.values.flatMap { models in
                    models.compactMap { entry in entry.lastIndex(of: "/").map { String(entry[..<$0]) } }
                }
            )
        }
    }

    /// A served model's batching limits as its instances' `model.list` gave them (`nil` when none did).
    /// - Parameter model: the model's name.
    public func limits(of model: String) -> ModelLimits? {
        let catalogs = self.catalogs.withLock { $0 }
        return catalogs.keys.sorted().compactMap { catalogs[$0]?.limits[model] }.first
    }

    /// Why no healthy inference instance serves `model`: still loading, failed to load (with the instance's
    /// reason), only on instances that fail their checks, or not in any repository.
    /// - Parameter model: the model's name.
    public func unservedReason(_ model: String) -> String {
        let verdicts = self.verdicts.withLock { $0 }
        let catalogs = self.catalogs.withLock { $0 }
        let loaded = self.loaded.withLock { $0 }
        guard !loaded.isEmpty || !catalogs.isEmpty else { return "no inference instance has passed a health check yet" }
        var states: [String] = []
        for (instance, catalog) in catalogs.sorted(by: { $0.key < $1.key }) {
            for (key, state) in catalog.versions.sorted(by: { $0.key < $1.key })
            where key.hasPrefix(model + "/") && state != "ready" {
                states.append("version \(key.dropFirst(model.count + 1)) on \(instance): \(state)")
            }
        }
        if !states.isEmpty { return "no inference instance serves it (\(states.joined(separator: "; ")))" }
        let unhealthy = loaded.filter { entry in entry.value.contains { $0.hasPrefix(model + "/") } }.keys
            .filter { verdicts["inference/\($0)"]?.healthy != true }.sorted()
        if !unhealthy.isEmpty {
            return
                "only inference instances that fail their health checks have it (\(unhealthy.joined(separator: ", ")))"
        }
        let served = self.servedModels.sorted()
        return
            "no inference instance has it (models served: \(served.isEmpty ? "none" : served.joined(separator: ", ")))"
    }

    static func catalog(_ answer: Response) -> InstanceCatalog {
        var catalog = InstanceCatalog()
        for parameter in answer.parameters {
            if parameter.key == ParameterKey.modelLimits {
                if let limits = ModelLimits(json: parameter.value) { catalog.limits[limits.name] = limits }
            } else if parameter.key.contains("/") {
                catalog.versions[parameter.key] = parameter.value
            }
        }
        return catalog
    }

    /// Checks every instance every interval until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.checkAll()
                // the interval, cut short by checkSoon() (a new instance is checked at once)
                _ = await self.wake.wait(until: ContinuousClock.now.advanced(by: self.configuration.interval))
            }
        }
    }

    /// Starts the next round of checks now rather than at the end of the interval (after a membership change).
    public func checkSoon() { self.wake.signal() }

    /// One round: every instance of every pool at once.
    func checkAll() async {
        // instances that left their pool leave the verdicts too: one that comes back is checked afresh
        let current = Set(self.targets.flatMap { target in target.pool.members.map { "\(target.stage)/\($0.id)" } })
        let inference = Set(self.targets.filter { $0.stage == "inference" }.flatMap { $0.pool.members.map(\.id) })
        self.verdicts.withLock { verdicts in verdicts = verdicts.filter { current.contains($0.key) } }
        self.loaded.withLock { loaded in loaded = loaded.filter { inference.contains($0.key) } }
        self.catalogs.withLock { catalogs in catalogs = catalogs.filter { inference.contains($0.key) } }
        await withDiscardingTaskGroup { group in
            for target in self.targets {
                for member in target.pool.members {
                    group.addTask { await self.check(member, of: target) }
                }
            }
        }
    }

    private func check(_ member: UpstreamPool<ContinuousClock>.Member, of target: Target) async {
        let passed: Bool
        var failure = ""
        do {
            let answer = try await member.upstream.call(
                Request(method: Method.health, idempotent: true),
                deadline: .now.advanced(by: self.configuration.timeout)
            )
            passed = true
            if target.stage == "inference" {  // the inference service names the versions it serves: model/version
                let models = Set(answer.parameters.filter { $0.key == ParameterKey.model }.map(\.value))
                self.loaded.withLock { $0[member.id] = models }
                // and what its repository holds, with each model's batching limits (older instances do not answer)
                if let list = try? await member.upstream.call(
                    Request(method: Method.modelList, idempotent: true),
                    deadline: .now.advanced(by: self.configuration.timeout)
                ) {
                    self.catalogs.withLock { $0[member.id] = Self.catalog(list) }
                }
            }
        } catch {
            passed = false
            failure = "\(RoutingError.status(for: error))"
        }
        if Task.isCancelled { return }
        let key = "\(target.stage)/\(member.id)"
        let change = self.verdicts.withLock { verdicts -> Bool? in
            var verdict = verdicts[key] ?? Verdict()
            if passed {
                verdict.passes += 1
                verdict.failures = 0
            } else {
                verdict.failures += 1
                verdict.passes = 0
            }
            let before = verdict.healthy
            if passed, before != true, verdict.passes >= self.configuration.healthyThreshold || before == nil {
                verdict.healthy = true
            } else if !passed, before != false,
                verdict.failures >= self.configuration.unhealthyThreshold || before == nil
            {
                verdict.healthy = false
            }
            verdicts[key] = verdict
            return verdict.healthy == before ? nil : verdict.healthy
        }
        // every pass re-admits an ejected instance, not only a change of verdict: an instance ejected for its refusals
        // may never have failed a check
        if passed { target.pool.healthCheckPassed(instance: member.id) }
        // an instance added to the pool waits for a pass even when the verdict did not change
        guard let healthy = change ?? (passed && target.pool.isAwaitingHealthCheck(member.id) ? true : nil) else {
            return
        }
        target.pool.reportHealth(instance: member.id, healthy: healthy)
        if healthy {
            self.logger.info("instance healthy", metadata: ["stage": "\(target.stage)", "instance": "\(member.id)"])
        } else {
            self.logger.warning(
                "instance unhealthy",
                metadata: ["stage": "\(target.stage)", "instance": "\(member.id)", "error": "\(failure)"]
            )
        }
    }
}
