import ArgumentParser
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import SwitchyardGateway
import SwitchyardModelConfig
import SwitchyardRouter
import SwitchyardRouting
import SwitchyardRuntime
import SwitchyardTransport

/// `switchyard-router`: the entry point of the mesh for backend apps.
@main
struct RouterCommand: ServiceCommand {
    static let serviceName = "router"
    static let defaultPort = 7400
    static let configuration = CommandConfiguration(
        commandName: "switchyard-router",
        abstract: "Route infer requests through preprocess, inference (with dynamic batching) and postprocess."
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var http: GatewayOptions
    @Option(
        help:
            "A model repository whose config.json files the router reads at start (names, batching limits); models loaded on the inference instances later are learned from them. Optional."
    )
    var models = "models"
    @Option(
        help:
            "The preprocess instances: HOST:PORT, dns:NAME:PORT (every A/AAAA address, re-resolved), srv:NAME (SRV records), file:PATH (entries a line, re-read); comma-separated."
    )
    var preprocess = "127.0.0.1:7404"
    @Option(help: "The inference instances, as --preprocess.") var inference = "127.0.0.1:7402"
    @Option(help: "The postprocess instances, as --preprocess.") var postprocess = "127.0.0.1:7403"
    @Option(help: "Milliseconds between re-resolutions of the pools' DNS names, SRV records and files.")
    var discoveryIntervalMs = 5000
    @Option(
        help:
            "Milliseconds of silence on a stage connection before a PING, and then without an answer before it counts as dead: its requests fail over (idempotent ones are retried on another instance). Twice this bounds a new connection's setup."
    )
    var upstreamKeepaliveMs = 1000
    @Option(help: "Connections to each stage.") var connections = 2
    @Option(help: "Largest batch for inference (capped by each model's max_batch_size).") var maxBatchSize = 64
    @Option(help: "Longest a queued request waits for company while inference is busy, in microseconds.")
    var maxQueueDelayUs = 500
    @Option(help: "Requests queued per model before new ones are shed with resource exhausted.") var maxQueueSize = 1024
    @Option(
        help:
            "Longest predicted queueing (all stages) a request is admitted with, in milliseconds; beyond it requests are refused at arrival with resource exhausted and a retry-after hint, so that accepted ones keep their latency under overload (a few times the unloaded latency, e.g. 10 on the bench machine). 0: no limit, as Triton's default queue policy (deadlines and --max-queue-size only)."
    ) var maxQueueTimeMs = 0
    @Option(
        help:
            "Longest predicted queueing a request is admitted with while a stage is overloaded, in microseconds: every batch slot busy for 100 ms and arrivals outgrowing completions by more than 128 rows, and by as much again 100 ms later (a standing queue that keeps growing). A standing queue behind a saturated stage adds latency and no throughput, so its excess is refused at arrival; a closed-loop client's queue stops growing at its requests in flight, and it is not refused. 0: off."
    ) var saturatedQueueTimeUs = Self.defaultSaturatedQueueTimeUs
    @Option(
        help:
            "Batch sizes sent at once while inference is busy, e.g. 8,16,32 (a model's dynamic_batching.preferred_batch_size wins).",
        transform: { text in
            try text.split(separator: ",").map { part in
                guard let size = Int(part), size >= 1 else {
                    throw ValidationError("'\(part)' is not a positive batch size")
                }
                return size
            }
        }
    ) var preferredBatchSizes: [Int] = []
    @Option(
        help:
            "Batches in flight to each stage instance per model. 1 (as Triton with one model instance) lets the next batch form while one runs; more overlaps transfer with compute when stages have cores of their own."
    ) var maxBatchesInFlight = 1
    @Option(
        help:
            "Directory of the release state (releases.json): rollouts survive restarts and routers sharing it agree. Empty: memory only."
    )
    var stateDir = ""
    @Option(help: "This router's name in the release state, stable across restarts. (default: HOSTNAME:PORT)") var name:
        String?
    @Option(help: "Milliseconds between rollout judgements (and re-reads of the release state).") var rolloutTickMs =
        1000
    @Option(
        help: """
            Follow the releases of the router here instead of deciding here (routers on other VMs): HOST:PORT, or \
            dns:NAME:PORT, srv:NAME, file:PATH, followed as the stage pools are.
            """
    )
    var releaseLeader: String?
    @Option(help: "URLs every release decision is POSTed to as Slack-compatible JSON (comma-separated http:// URLs).")
    var releaseWebhook = ""
    @Option(help: "The Prometheus server of rollout metric gates that name none, e.g. http://127.0.0.1:9090.")
    var prometheus: String?
    @Option(help: "Milliseconds between active health checks of each stage instance.") var healthCheckIntervalMs = 2000
    @Option(help: "Milliseconds a health check may take before it counts as failed.") var healthCheckTimeoutMs = 1000

    var releaseWebhooks: [String] { self.releaseWebhook.split(separator: ",").map(String.init) }

    /// The pool of the router whose releases this one follows, as `yard pool` names it.
    static let leaderStage = "release-leader"
    /// `--saturated-queue-time-us`'s default: the batcher's, so that the two cannot drift apart.
    static let defaultSaturatedQueueTimeUs =
        BatcherConfiguration().saturatedQueueTime.map { limit in
            let (seconds, attoseconds) = limit.components
            return Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000)
        } ?? 0

    func validate() throws {
        for list in [self.preprocess, self.inference, self.postprocess] + (self.releaseLeader.map { [$0] } ?? []) {
            do {
                _ = try PoolSource.parse(list: list)
            } catch let error as RouterError {
                throw ValidationError(error.message)
            }
        }
        guard (100...3_600_000).contains(self.discoveryIntervalMs) else {
            throw ValidationError("--discovery-interval-ms must be 100...3600000")
        }
        guard (100...600_000).contains(self.upstreamKeepaliveMs) else {
            throw ValidationError("--upstream-keepalive-ms must be 100...600000")
        }
        guard (1...65536).contains(self.maxBatchSize) else {
            throw ValidationError("--max-batch-size must be 1...65536")
        }
        guard (0...10_000_000).contains(self.maxQueueDelayUs) else {
            throw ValidationError("--max-queue-delay-us must be 0...10000000")
        }
        guard (1...1_000_000).contains(self.maxQueueSize) else {
            throw ValidationError("--max-queue-size must be 1...1000000")
        }
        guard (0...600_000).contains(self.maxQueueTimeMs) else {
            throw ValidationError("--max-queue-time-ms must be 0...600000")
        }
        guard (0...600_000_000).contains(self.saturatedQueueTimeUs) else {
            throw ValidationError("--saturated-queue-time-us must be 0...600000000")
        }
        guard (1...64).contains(self.maxBatchesInFlight) else {
            throw ValidationError("--max-batches-in-flight must be 1...64")
        }
        guard (10...60_000).contains(self.rolloutTickMs) else {
            throw ValidationError("--rollout-tick-ms must be 10...60000")
        }
        guard (1...64).contains(self.connections) else { throw ValidationError("--connections must be 1...64") }
        for url in self.releaseWebhooks + (self.prometheus.map { [$0] } ?? []) where !url.hasPrefix("http://") {
            throw ValidationError("'\(url)' is not an http:// URL (--release-webhook, --prometheus)")
        }
        guard (10...600_000).contains(self.healthCheckIntervalMs) else {
            throw ValidationError("--health-check-interval-ms must be 10...600000")
        }
        guard (10...60_000).contains(self.healthCheckTimeoutMs) else {
            throw ValidationError("--health-check-timeout-ms must be 10...60000")
        }
    }

    func run() async throws {
        let logger = self.makeLogger()
        // the router presents its own certificate to the stages; a reload gives new connections the new one
        let credentials = try Self.credentials(self.server)
        let tls = credentials.settings
        let connections = self.connections
        let keepalive = Duration.milliseconds(self.upstreamKeepaliveMs)
        @Sendable func client(_ endpoint: PoolEndpoint) throws -> WireClient {
            var configuration = WireClientConfiguration(host: endpoint.host, port: endpoint.port, tls: tls)
            configuration.credentials = credentials
            configuration.serverHostname = endpoint.serverName  // a discovered address answers for its DNS name
            configuration.connections = connections
            configuration.identity = "router"
            // a host that vanishes (link down, power off) answers nothing: find out in about two keepalives, not at
            // each request's deadline, so that its requests can be retried elsewhere in time
            configuration.keepaliveInterval = keepalive
            configuration.keepaliveTimeout = keepalive
            // and a connection to it that does not come up fails as soon, rather than at the request's deadline
            configuration.connectTimeout = keepalive * 2
            return try WireClient(configuration: configuration, logger: logger)
        }
        // each stage is a pool of instances: power of two choices, outlier ejection, retries within a budget; given
        // addresses are members from the start, names and files are resolved by the discovery (StagePools)
        func stage(_ name: String, _ list: String) throws -> (UpstreamPool<ContinuousClock>, [PoolSource]) {
            let sources = try PoolSource.parse(list: list)
            let members = try sources.compactMap { source -> UpstreamPool<ContinuousClock>.Member? in
                guard case .address(let host, let port) = source else { return nil }
                let endpoint = PoolEndpoint(host: host, port: port)
                return .init(id: endpoint.id, upstream: try client(endpoint))
            }
            let pool = UpstreamPool(
                members: members,
                logger: logger,
                metricDimensions: [("stage", name)],
                onRemoved: { member in
                    guard let client = member.upstream as? WireClient else { return }
                    Task { await client.close() }
                },
                wakeUps: EventLoopTaskExecutor(eventLoop: MultiThreadedEventLoopGroup.singleton.next())
            )
            return (pool, sources)
        }
        let gatewayConfiguration = try self.http.configuration(server: self.server)
        let authorization = try self.server.authorization(service: Self.serviceName)
        // a repository of the router's own is optional: models are learned from the inference instances
        let catalog = FileManager.default.fileExists(atPath: self.models) ? try ModelCatalog(root: self.models) : nil
        if catalog == nil {
            logger.info(
                "no model repository here; serving the models the inference instances report",
                metadata: ["models": "\(self.models)"]
            )
        }
        for (name, error) in catalog?.failures ?? [:] {
            logger.error("model config refused", metadata: ["model": "\(name)", "error": "\(error)"])
        }
        let batching = BatcherConfiguration.defaults {
            $0.maxBatchSize = self.maxBatchSize
            $0.maxQueueDelay = .microseconds(self.maxQueueDelayUs)
            $0.maxQueueSize = self.maxQueueSize
            $0.maxQueueTime = self.maxQueueTimeMs == 0 ? nil : .milliseconds(self.maxQueueTimeMs)
            $0.saturatedQueueTime = self.saturatedQueueTimeUs == 0 ? nil : .microseconds(self.saturatedQueueTimeUs)
            $0.preferredBatchSizes = self.preferredBatchSizes
            $0.maxBatchesInFlight = self.maxBatchesInFlight
        }
        let models = Dictionary(
            (catalog?.entries ?? []).map { ($0.name, BatcherConfiguration(model: $0.config, defaults: batching)) },
            uniquingKeysWith: { _, last in last }
        )
        let stages = [
            ("preprocess", try stage("preprocess", self.preprocess)),
            ("inference", try stage("inference", self.inference)),
            ("postprocess", try stage("postprocess", self.postprocess)),
        ]
        let pools = stages.map { ($0.0, $0.1.0) }
        // the release leader is followed like a stage: its address may move (a DNS name, a file), yard pool works
        let leaderStage = try self.releaseLeader.map { try stage(Self.leaderStage, $0) }
        var checks = HealthChecker.Configuration()
        checks.interval = .milliseconds(self.healthCheckIntervalMs)
        checks.timeout = .milliseconds(self.healthCheckTimeoutMs)
        // the leader is health-checked as the stages are (a new address serves once it passes), but the router is
        // ready without it
        var targets = pools.map { HealthChecker.Target(stage: $0.0, pool: $0.1) }
        if let leaderStage {
            targets.append(
                HealthChecker.Target(stage: Self.leaderStage, pool: leaderStage.0, requiredForReadiness: false)
            )
        }
        let health = HealthChecker(targets: targets, configuration: checks, logger: logger)
        let name = self.name ?? "\(ProcessInfo.processInfo.hostName):\(self.server.port ?? Self.defaultPort)"
        if self.stateDir.isEmpty {
            logger.warning("release state kept in memory only; pass --state-dir so that rollouts survive a restart")
        }
        let releases = try Self.make(orExit: "cannot read the release state", logger: logger) {
            // the versions the inference instances serve: a model with nothing pinned gets its newest one pinned,
            // so that a version added later waits for a rollout
            try ReleaseController(
                models: Array(models.keys),
                stateDirectory: self.stateDir.isEmpty ? nil : self.stateDir,
                identity: name,
                tick: .milliseconds(self.rolloutTickMs),
                leader: leaderStage?.0,
                http: RuntimeReleaseHTTP(),
                notify: self.releaseWebhooks,
                prometheus: self.prometheus,
                versions: { [health] model in health.readyVersions(of: model) },
                logger: logger
            )
        }
        let sampler = InputSampler()
        sampler.configure(rate: self.server.monitoring.effectiveSampleRate, limit: self.server.monitoring.sampleLimit)
        let stagePools = StagePools(
            stages: (stages + (leaderStage.map { [(Self.leaderStage, $0)] } ?? [])).map {
                (StagePools.Stage(name: $0.0, pool: $0.1.0), $0.1.1)
            },
            interval: .milliseconds(self.discoveryIntervalMs),
            health: health,
            logger: logger,
            makeUpstream: { try client($0) }
        )
        let router = RouterService(
            models: models,
            preprocess: pools[0].1,
            inference: pools[1].1,
            postprocess: pools[2].1,
            health: health,
            releases: releases,
            logger: logger,
            sampler: sampler,
            instances: Dictionary(uniqueKeysWithValues: pools.map { ($0.0, max(1, $0.1.members.count)) }),
            executors: MultiThreadedEventLoopGroup.singleton.makeIterator().map {
                EventLoopTaskExecutor(eventLoop: $0)
            },
            pools: stagePools,
            learning: batching
        )
        stagePools.observeMembership { stage, count in
            if stage != Self.leaderStage { router.stageInstancesChanged(stage, count: count) }
        }
        logger.info("routing", metadata: ["models": "\(router.models.joined(separator: ","))"])
        // wire and HTTP requests go through the same recorded handler (Triton's statistics for the HTTP port)
        let statistics = InferenceStatistics()
        let served = StatisticsRecordingService(router, statistics: statistics)
        var companions: [any Service] = [router, health, releases, stagePools]
        let gateway = gatewayConfiguration.map { gatewayConfiguration -> GatewayServer in
            // HTTP callers meet the router's policy too: a client certificate's roles, or `app` for the callers the
            // gateway let in by bearer token (or on loopback)
            let backend = RouterGatewayBackend(
                service: AuthorizedService(
                    MeteredService(served, name: Self.serviceName),
                    policy: authorization,
                    withoutCertificate: [.app]
                ),
                health: health,
                catalog: catalog,
                batching: models,
                learning: batching
            )
            return GatewayServer(
                configuration: gatewayConfiguration,
                backend: backend,
                statistics: statistics,
                logger: logger
            )
        }
        if let gateway { companions.append(gateway) }
        let following = leaderStage != nil
        try await Self.serve(
            served,
            options: self.server,
            logger: logger,
            companions: companions,
            samples: sampler.drain,
            saturation: .eventLoops(self.server.eventLoops, queueDepth: { router.queuedRequests }),
            credentials: credentials,
            // a follower may move to another leader; starting or stopping to follow takes a restart
            reloadable: Set(["preprocess", "inference", "postprocess"] + (following ? [Self.leaderStage] : [])),
            reload: { reloaded in
                // every list is checked before any pool changes
                var lists = [
                    ("preprocess", reloaded.preprocess), ("inference", reloaded.inference),
                    ("postprocess", reloaded.postprocess),
                ]
                if following {
                    guard let leader = reloaded.releaseLeader else {
                        throw RouterError(
                            .invalidArgument,
                            "release-leader is gone from the settings: this router follows a leader until it restarts"
                        )
                    }
                    lists.append((Self.leaderStage, leader))
                }
                let parsed = try lists.map { ($0.0, try PoolSource.parse(list: $0.1)) }
                // the HTTP port's certificate files (the router's own unless --http-cert names others), loaded first
                let gatewayTLS = try gateway?.prepareTLSReload()
                for (stage, sources) in parsed { try await stagePools.update(stage: stage, sources: sources) }
                if let gatewayTLS { gateway?.installTLS(gatewayTLS) }
            }
        )
    }
}
