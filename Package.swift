// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Switchyard",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SwitchyardClient", targets: ["SwitchyardClient"]),
        .library(name: "SwitchyardEngine", targets: ["SwitchyardEngine"]),
        .library(name: "SwitchyardLoad", targets: ["SwitchyardLoad"]),
        .library(name: "SwitchyardCompression", targets: ["SwitchyardCompression"]),
        .executable(name: "yard", targets: ["yard"]),
        .executable(name: "switchyard-echo", targets: ["EchoService"]),
        .executable(name: "switchyard-inference", targets: ["InferenceService"]),
        .executable(name: "switchyard-postprocess", targets: ["PostprocessService"]),
        .executable(name: "switchyard-preprocess", targets: ["PreprocessService"]),
        .executable(name: "switchyard-router", targets: ["RouterService"]),
        .executable(name: "switchyard-monitor", targets: ["MonitorService"]),
        .executable(name: "switchyard-bench", targets: ["SwitchyardBench"]),
        .executable(name: "switchyard-bench-engine", targets: ["EngineBench"]),
        .executable(name: "switchyard-node-tests", targets: ["NodeTests"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // Deque for the batch queues (already in the graph through swift-nio)
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Spans: the tracing API at each hop, exported over OTLP/HTTP (protobuf) when configured; gRPC left out
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // MARK: Data and protocol core (no I/O)
        .target(name: "SwitchyardTensor"),
        .target(name: "SwitchyardWire", dependencies: ["SwitchyardTensor"]),
        // config.json: read by the router, the pipeline stages and the engine alike
        .target(name: "SwitchyardModelConfig", dependencies: ["SwitchyardTensor"]),

        // MARK: Engine
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // glibc's DNS resolver (SRV queries for the router's pool discovery)
        .systemLibrary(name: "CResolv"),
        .target(name: "SwitchyardONNX", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // Picks OpenBLAS kernels that match the CPU before any Swift code runs (a C constructor).
        .target(name: "COpenBLASCore", linkerSettings: [.linkedLibrary("dl")]),
        // The int8 GEMM of the quantized operators: oneDNN (Debian's libdnnl-dev), and for few rows on AVX-512 VNNI
        // CPUs a kernel on weights packed at load (measured in RESULTS-engine.md and RESULTS-compression.md).
        // -O3 so that debug builds (the tests) run the kernels at speed.
        .target(
            name: "CInt8GEMM",
            cSettings: [.unsafeFlags(["-O3"])],
            linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("dl")]
        ),
        // Row kernels (depthwise convolution, max pooling) built for AVX-512, AVX2 and baseline x86-64, chosen by the
        // CPU at load; no contraction, so every variant computes the same bits. -O3 as for CInt8GEMM.
        .target(name: "CEngineKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        .target(
            name: "SwitchyardEngine",
            dependencies: [
                "SwitchyardTensor", "SwitchyardModelConfig", "SwitchyardONNX", "COpenBLAS", "COpenBLASCore",
                "CInt8GEMM", "CEngineKernels",
            ]
        ),
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "SwitchyardPipeline", dependencies: ["SwitchyardTensor", "CLibPNG"]),

        // MARK: Request spans (the tracing API only; the services export them with swift-otel when configured)
        .target(
            name: "SwitchyardTracing",
            dependencies: [
                "SwitchyardWire", "SwitchyardTensor", .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),

        // MARK: Routing (no I/O)
        .target(
            name: "SwitchyardRouting",
            dependencies: [
                "SwitchyardWire", "SwitchyardTensor", "SwitchyardMonitor", "SwitchyardTracing",
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),

        // MARK: Monitoring (no I/O)
        .target(
            name: "SwitchyardMonitor",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),

        // MARK: Network
        .target(
            name: "SwitchyardTransport",
            dependencies: [
                "SwitchyardWire", "SwitchyardTensor", "CResolv", "SwitchyardTracing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SwitchyardClient",
            dependencies: [
                "SwitchyardTransport", "SwitchyardWire", "SwitchyardTensor",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // the HTTP/JSON (Open Inference Protocol) edge in front of the wire protocol
        .target(
            name: "SwitchyardGateway",
            dependencies: [
                "SwitchyardTransport", "SwitchyardWire", "SwitchyardTensor",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: Runtime (what every service shares: options and settings sources, metrics export, admin HTTP,
        // monitor reporter, metered service)
        .target(
            name: "SwitchyardRuntime",
            dependencies: [
                "SwitchyardTransport", "SwitchyardWire", "SwitchyardTensor", "SwitchyardMonitor", "SwitchyardTracing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
            ]
        ),

        // MARK: Compression (yard quantize, prune, convert)
        .target(
            name: "SwitchyardCompression",
            dependencies: [
                "SwitchyardEngine", "SwitchyardONNX", "SwitchyardTensor", "COpenBLAS",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),

        // MARK: Services (each depends only on what it uses)
        .target(
            name: "SwitchyardRouter",
            dependencies: [
                "SwitchyardRouting", "SwitchyardTransport", "SwitchyardModelConfig", "SwitchyardWire",
                "SwitchyardTensor", "SwitchyardGateway", "SwitchyardTracing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SwitchyardInferenceService",
            dependencies: [
                "SwitchyardEngine", "SwitchyardModelConfig", "SwitchyardTransport", "SwitchyardWire",
                "SwitchyardTensor",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SwitchyardPipelineService",
            dependencies: [
                "SwitchyardPipeline", "SwitchyardModelConfig", "SwitchyardRuntime", "SwitchyardTransport",
                "SwitchyardWire", "SwitchyardTensor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SwitchyardMonitorService",
            dependencies: [
                "SwitchyardMonitor", "SwitchyardRuntime", "SwitchyardTransport", "SwitchyardWire", "SwitchyardTensor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: Load generation and test helpers
        .target(
            name: "SwitchyardLoad",
            dependencies: [
                "SwitchyardTransport", "SwitchyardWire", "SwitchyardTensor",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "SwitchyardTesting",
            dependencies: [
                "SwitchyardWire", "SwitchyardTransport", "SwitchyardRouting", "SwitchyardTensor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),

        // MARK: Executables (wiring only)
        .executableTarget(
            name: "yard",
            dependencies: [
                "SwitchyardEngine", "SwitchyardTensor", "SwitchyardClient", "SwitchyardTransport", "SwitchyardWire",
                "SwitchyardRouter", "SwitchyardRouting", "SwitchyardMonitor", "SwitchyardLoad", "SwitchyardCompression",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "EngineBench",
            dependencies: ["SwitchyardEngine", "SwitchyardTensor", "COpenBLAS"],
            path: "bench/engine"
        ),
        .executableTarget(
            name: "NodeTests",
            dependencies: ["SwitchyardEngine", "SwitchyardTensor"],
            path: "tools/node-tests"
        ),
        serviceTarget("EchoService", path: "services/echo"),
        serviceTarget(
            "InferenceService",
            path: "services/inference",
            ["SwitchyardInferenceService", "SwitchyardEngine", .product(name: "NIOPosix", package: "swift-nio")]
        ),
        serviceTarget("PostprocessService", path: "services/postprocess", ["SwitchyardPipelineService"]),
        serviceTarget(
            "PreprocessService",
            path: "services/preprocess",
            ["SwitchyardPipelineService", "SwitchyardPipeline"]
        ),
        serviceTarget(
            "RouterService",
            path: "services/router",
            [
                "SwitchyardRouter", "SwitchyardRouting", "SwitchyardModelConfig", "SwitchyardGateway",
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        serviceTarget(
            "MonitorService",
            path: "services/monitor",
            ["SwitchyardMonitorService", "SwitchyardMonitor", "SwitchyardGateway"]
        ),
        .executableTarget(
            name: "SwitchyardBench",
            dependencies: [
                "SwitchyardTransport", "SwitchyardClient", "SwitchyardTesting", "SwitchyardLoad", "SwitchyardGateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "bench/swift"
        ),

        // MARK: Tests
        .testTarget(name: "SwitchyardTensorTests", dependencies: ["SwitchyardTensor"]),
        .testTarget(
            name: "SwitchyardWireTests",
            dependencies: ["SwitchyardWire", "SwitchyardTesting", "SwitchyardTensor"]
        ),
        .testTarget(
            name: "SwitchyardTransportTests",
            dependencies: [
                "SwitchyardTransport", "SwitchyardClient", "SwitchyardTesting", "SwitchyardWire", "SwitchyardTensor",
                "EchoService",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "SwitchyardRoutingTests",
            dependencies: [
                "SwitchyardRouting", "SwitchyardWire", "SwitchyardTensor",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "SwitchyardRouterTests",
            dependencies: [
                "SwitchyardRouter", "SwitchyardRouting", "SwitchyardModelConfig", "SwitchyardTransport",
                "SwitchyardWire",
                "SwitchyardTensor", "SwitchyardTesting", "SwitchyardGateway",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "SwitchyardServiceTests",
            dependencies: [
                "SwitchyardTransport", "SwitchyardTesting", "SwitchyardWire", "SwitchyardTensor", "SwitchyardEngine",
                "SwitchyardRouter", "SwitchyardRuntime", "SwitchyardClient",
                "InferenceService", "PostprocessService", "PreprocessService", "RouterService", "EchoService",
                "SwitchyardGateway", "SwitchyardPipeline", "SwitchyardRouting", "SwitchyardModelConfig",
                "SwitchyardCompression", "SwitchyardPipelineService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "SwitchyardMonitorTests",
            dependencies: [
                "SwitchyardMonitor", "SwitchyardMonitorService", "SwitchyardRouter", "SwitchyardRouting",
                "SwitchyardRuntime",
                "SwitchyardTesting", "SwitchyardTransport", "SwitchyardClient", "SwitchyardWire", "SwitchyardTensor",
                "SwitchyardEngine", "MonitorService", "RouterService", "InferenceService", "PreprocessService",
                "PostprocessService", "EchoService", "yard",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SwitchyardGatewayTests",
            dependencies: [
                "SwitchyardGateway", "SwitchyardTransport", "SwitchyardTesting", "SwitchyardWire", "SwitchyardTensor",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "SwitchyardPipelineTests", dependencies: ["SwitchyardPipeline", "SwitchyardTensor"]),
        .testTarget(
            name: "SwitchyardLoadTests",
            dependencies: [
                "SwitchyardLoad", "SwitchyardTransport", "SwitchyardTesting", "SwitchyardWire", "SwitchyardTensor",
                "SwitchyardEngine",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SwitchyardCompressionTests",
            dependencies: ["SwitchyardCompression", "SwitchyardEngine", "SwitchyardONNX", "SwitchyardTensor"]
        ),
        .testTarget(
            name: "SwitchyardEngineTests",
            dependencies: ["SwitchyardEngine", "SwitchyardModelConfig", "SwitchyardONNX", "SwitchyardTensor"]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings += [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("InternalImportsByDefault"),
        .enableUpcomingFeature("MemberImportVisibility"),
    ]
    target.swiftSettings = settings
}

// The fuzz targets (the frame decoder, the server connection's state machine), built only on request by
// ops/fuzz.sh: plain builds cannot link libFuzzer's driver.
if Context.environment["FUZZ"] == "1" {
    package.targets.append(.target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"))
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzFrame", ["SwitchyardWire", "SwitchyardTensor"]),
        ("FuzzConnection", ["SwitchyardTransport", "SwitchyardWire", .product(name: "NIOCore", package: "swift-nio")]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.products.append(.executable(name: name, targets: [name]))
        package.targets.append(
            .executableTarget(
                name: name,
                dependencies: ["CFuzzDriver"] + dependencies,
                path: "Fuzz/\(name)",
                swiftSettings: [.swiftLanguageMode(.v6)]
            )
        )
    }
}

/// A service executable: wiring only, on the runtime every service shares and its service module (`extra`).
func serviceTarget(_ name: String, path: String, _ extra: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "SwitchyardRuntime", "SwitchyardTransport", "SwitchyardWire", "SwitchyardTensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ] + extra,
        path: path
    )
}
