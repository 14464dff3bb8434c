import Foundation
import Logging
public import NIOPosix
public import SwitchyardEngine
import SwitchyardModelConfig
import SwitchyardTensor
public import SwitchyardTransport
public import SwitchyardWire

/// The inference stage: serves a model repository through the engine.
///
/// Methods: `infer` (inputs by name; `version` pins a version, empty serves the newest ready one; the answer
/// names the version in `model.version` and the model's own run time for the batch in `compute.us`), `health`
/// (serving once a model is loaded), `model.list`, and the admin methods `model.load`, `model.unload` and
/// `model.reload` (the model in `model`, the version in `version`; an admin client certificate is required).
/// Inference runs on the engine's executor threads, never on an event loop; loading models runs on a separate
/// pool so that a load does not hold up inference.
public final class InferenceService: WireService {
    private let repository: ModelRepository
    private let executor: InferenceExecutor
    private let pool: NIOThreadPool

    /// Makes the service.
    /// - Parameters:
    ///   - repository: the models to serve; load them before serving (or through `model.load`).
    ///   - executor: the compute threads, with their bounded queue.
    ///   - pool: threads for loading models; started by the caller.
    public init(repository: ModelRepository, executor: InferenceExecutor, pool: NIOThreadPool) {
        self.repository = repository
        self.executor = executor
        self.pool = pool
    }

    public func handle(_ request: Request, context: RequestContext) async throws -> Response {
        switch request.method {
        case Method.infer:
            return try await self.infer(request, deadline: context.deadline)
        case Method.health:
            let ready = self.repository.status().filter { $0.state == .ready }
            guard !ready.isEmpty else { throw InferenceServiceError(.notReady, "no model is loaded yet") }
            return Response(
                parameters: [Parameter(ParameterKey.status, "serving")]
                    + ready.map { Parameter(ParameterKey.model, "\($0.name)/\($0.version)") }
            )
        case Method.modelList:
            let status = self.repository.status()
            // each served model's batching limits, so that a router learns models from the fleet, not from files
            let limits = Set(status.filter { $0.state == .ready }.map(\.name)).sorted().compactMap { name in
                (try? self.repository.model(name, version: nil)).map {
                    Parameter(ParameterKey.modelLimits, Self.limits(of: $0))
                }
            }
            return Response(
                parameters: status.map { Parameter("\($0.name)/\($0.version)", Self.describe($0.state)) } + limits
            )
        case Method.modelLoad, Method.modelUnload, Method.modelReload:
            guard !request.model.isEmpty, let version = Int(request.version) else {
                throw InferenceServiceError(
                    .invalidArgument,
                    "\(request.method) needs a model name and a numeric version"
                )
            }
            let repository = self.repository
            let method = request.method
            let name = request.model
            try await self.pool.runIfActive {
                switch method {
                case Method.modelLoad: try repository.load(name, version: version)
                case Method.modelReload: try repository.reload(name, version: version)
                default: try repository.unload(name, version: version)
                }
            }
            context.logger.info(
                "model changed",
                metadata: [
                    "method": "\(method)", "model.name": "\(name)", "model.version": "\(version)",
                    "peer": "\(context.peer)",
                ]
            )
            return Response(parameters: [Parameter(ParameterKey.model, "\(name)/\(version)")])
        default:
            throw InferenceServiceError(
                .unknownMethod,
                "unknown method '\(request.method)'; the inference service answers infer, health, model.list, model.load, model.unload, model.reload"
            )
        }
    }

    private func infer(_ request: Request, deadline: ContinuousClock.Instant?) async throws -> Response {
        guard !request.model.isEmpty else { throw InferenceServiceError(.invalidArgument, "infer needs a model name") }
        var version: Int?
        if !request.version.isEmpty {
            guard let pinned = Int(request.version) else {
                throw InferenceServiceError(.invalidArgument, "version must be a number, got '\(request.version)'")
            }
            version = pinned
        }
        let loaded = try self.repository.model(request.model, version: version)
        do {
            let (outputs, compute) = try await self.executor.inferTimed(
                loaded.model,
                request.tensors,
                deadline: deadline
            )
            let micros = compute.components.seconds * 1_000_000 + compute.components.attoseconds / 1_000_000_000_000
            let parameters = [
                Parameter(ParameterKey.modelVersion, "\(loaded.version)"),
                Parameter(ParameterKey.computeMicroseconds, "\(micros)"),
            ]
            return Response(parameters: parameters, tensors: outputs)
        } catch let error as EngineError where error.code == .unavailable {
            throw InferenceServiceError(.overloaded, error.message, cause: error)  // the compute queue is full: shed
        }
    }

    /// A model's batching limits as JSON: `name`, and when its config sets them `max_batch_size`,
    /// `preferred_batch_size`, `max_queue_delay_microseconds`, `max_queue_size`.
    static func limits(of loaded: LoadedModel) -> String {
        var object: [String: Any] = ["name": loaded.name]
        let config = loaded.config
        if let size = config.maxBatchSize { object["max_batch_size"] = size }
        if let sizes = config.dynamicBatching.preferredBatchSizes { object["preferred_batch_size"] = sizes }
        if let delay = config.dynamicBatching.maxQueueDelayMicroseconds {
            object["max_queue_delay_microseconds"] = delay
        }
        if let size = config.dynamicBatching.maxQueueSize { object["max_queue_size"] = size }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private static func describe(_ state: VersionStatus.State) -> String {
        switch state {
        case .loading: "loading"
        case .ready: "ready"
        case .failed(let message): "failed: \(message)"
        }
    }
}
