public import Logging
public import ServiceLifecycle
public import SwitchyardRouting
internal import Synchronization
public import SwitchyardWire

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

        /// Names a pool.
        public init(stage: String, pool: UpstreamPool<ContinuousClock>) {
            self.stage = stage
            self.pool = pool
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
        for target in self.targets {
            let states = target.pool.members.map { verdicts["\(target.stage)/\($0.id)"]?.healthy }
            if states.contains(where: { $0 == true }) { continue }
            if states.allSatisfy({ $0 == nil }) { return "the \(target.stage) instances have not been checked yet" }
            return "no \(target.stage) instance passes its health check (\(target.pool.members.map(\.id).joined(separator: ", ")))"
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

    /// Checks every instance every interval until graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.checkAll()
                try? await Task.sleep(for: self.configuration.interval)
            }
        }
    }

    /// One round: every instance of every pool at once.
    func checkAll() async {
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
                Request(method: Method.health, idempotent: true), deadline: .now.advanced(by: self.configuration.timeout)
            )
            passed = true
            if target.stage == "inference" {  // the inference service names the versions it serves ("model/version")
                let models = Set(answer.parameters.filter { $0.key == "model" }.map(\.value))
                self.loaded.withLock { $0[member.id] = models }
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
            } else if !passed, before != false, verdict.failures >= self.configuration.unhealthyThreshold || before == nil {
                verdict.healthy = false
            }
            verdicts[key] = verdict
            return verdict.healthy == before ? nil : verdict.healthy
        }
        guard let healthy = change else { return }
        target.pool.reportHealth(instance: member.id, healthy: healthy)
        if healthy {
            self.logger.info("instance healthy", metadata: ["stage": "\(target.stage)", "instance": "\(member.id)"])
        } else {
            self.logger.warning(
                "instance unhealthy", metadata: ["stage": "\(target.stage)", "instance": "\(member.id)", "error": "\(failure)"]
            )
        }
    }
}
