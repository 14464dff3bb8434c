public import ArgumentParser
public import Logging
import OTel
public import ServiceLifecycle
import SwitchyardTracing

/// The options every service shares for exporting request spans over OTLP/HTTP (protobuf) with swift-otel.
///
/// Tracing is on when `--otlp-endpoint` is given or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (or `OTEL_TRACES_EXPORTER`) variables are set, and off otherwise (then a
/// request pays one flag check). The other standard variables apply as swift-otel reads them, after these options:
/// `OTEL_SERVICE_NAME` (default `switchyard-<service>`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and
/// `OTEL_TRACES_SAMPLER_ARG`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_CERTIFICATE`, `OTEL_BSP_*`;
/// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off.
public struct TracingOptions: ParsableArguments {
    @Option(
        help:
            "Export request spans over OTLP/HTTP to this receiver (http[s]://HOST:PORT of a collector, Jaeger or Tempo; spans go to /v1/traces). (default: OTEL_EXPORTER_OTLP_ENDPOINT, else off)"
    )
    public var otlpEndpoint: String?
    @Option(
        help:
            "Fraction of new traces sampled (a caller's sampled flag is followed). (default: OTEL_TRACES_SAMPLER, else 1)"
    )
    public var traceSampleRatio: Double?

    public init() {}

    public func validate() throws {
        if let otlpEndpoint, !(otlpEndpoint.hasPrefix("http://") || otlpEndpoint.hasPrefix("https://")) {
            throw ValidationError("--otlp-endpoint must be an http:// or https:// URL, not '\(otlpEndpoint)'")
        }
        if let traceSampleRatio, !(0...1).contains(traceSampleRatio) {
            throw ValidationError("--trace-sample-ratio must be 0...1")
        }
    }

    /// Whether spans are exported, from these options and `environment`.
    /// - Parameter environment: the process environment.
    public func isEnabled(environment: [String: String]) -> Bool {
        func set(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0.lowercased() } }
        if set("OTEL_SDK_DISABLED") == "true" || set("OTEL_TRACES_EXPORTER") == "none" { return false }
        return self.otlpEndpoint != nil || set("OTEL_EXPORTER_OTLP_ENDPOINT") != nil
            || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != nil || set("OTEL_TRACES_EXPORTER") != nil
    }

    /// Starts making request spans when tracing is configured (``isEnabled(environment:)``), and returns the service
    /// that exports them (run it in the service's group, first, so that it flushes last); `nil` when off.
    /// - Parameters:
    ///   - service: the service's short name (`router` ...): `switchyard-<service>` unless `OTEL_SERVICE_NAME` says.
    ///   - environment: the process environment.
    ///   - logger: for the exporter's own troubles (a receiver that cannot be reached), at warning level.
    /// - Throws: `ValidationError` when the OTel settings cannot be used (e.g. `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`:
    ///   only OTLP/HTTP is built in).
    public func startTracing(
        service: String,
        environment: [String: String],
        logger: Logger
    ) throws -> (any Service)? {
        guard self.isEnabled(environment: environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = "switchyard-\(service)"
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.propagators = [.traceContext]
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        if let otlpEndpoint {
            let base = otlpEndpoint.hasSuffix("/") ? String(otlpEndpoint.dropLast()) : otlpEndpoint
            configuration.traces.otlpExporter.endpoint = base + "/v1/traces"
        }
        if let traceSampleRatio,
            let sampler = OTel.Configuration.TracesConfiguration.SamplerConfiguration.parentBasedTraceIDRatio(
                ratio: traceSampleRatio
            )
        {
            configuration.traces.sampler = sampler
        }
        do {
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            RequestTracing.enable(backend.factory)
            let endpoint =
                self.otlpEndpoint ?? environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
                ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "default"
            logger.info("exporting spans", metadata: ["otlp.endpoint": "\(endpoint)"])
            return backend.service
        } catch {
            throw ValidationError("cannot export spans: \(error)")
        }
    }
}
