public import Logging
public import SwitchyardTensor
public import SwitchyardTransport
public import SwitchyardWire

/// The client backend apps use to call a Switchyard router (or any Switchyard service).
///
/// ```swift
/// let client = try SwitchyardClient(host: "router.internal", port: 7400,
///                                   tls: TLSSettings(caPath: "ca.pem", certificatePath: "app.pem", keyPath: "app.key"))
/// let outputs = try await client.infer(model: "digits", inputs: ["x": pixels],
///                                      deadline: .milliseconds(50), routingKey: userID)
/// let probabilities = try outputs["probabilities"]!.scalars(as: Float.self)
/// ```
public final class SwitchyardClient: Sendable {
    private let wire: WireClient
    /// The deadline of calls that do not give one, so that no call can wait forever.
    public let defaultDeadline: Duration
    /// Which failed calls are sent again: those the router never processed (no connection, or a draining router's
    /// GOAWAY), idempotent ones answered `unavailable`, and idempotent ones refused for overload with a
    /// `retry after` hint, once it has passed.
    public let retry: CallRetryPolicy
    /// Client-side adaptive throttling, when turned on: while the router refuses most calls for overload, calls are
    /// refused here, unsent, with `resource exhausted` (``InferenceError/isThrottled``), so that refusing them costs
    /// the router nothing.
    public let throttle: AdaptiveThrottle?

    /// Makes a client; connections open on first use.
    /// - Parameters:
    ///   - host: the router's address.
    ///   - port: the router's port.
    ///   - tls: the CA that signed the router's certificate, and this app's certificate and key.
    ///   - connections: connections to keep open; one carries many requests at once.
    ///   - identity: the name this app announces (for the router's logs).
    ///   - defaultDeadline: the deadline of calls that give none.
    ///   - retry: which failed calls are sent again, within their deadline (``CallRetryPolicy/none`` for none).
    ///   - throttling: turns on client-side adaptive throttling (the Google SRE book's): calls are refused locally
    ///     with probability `max(0, (requests − K·accepts) / (requests + 1))` over a recent window; `nil`: off.
    ///   - logger: for connection events.
    /// - Throws: `TransportError` when the TLS files do not load.
    public init(
        host: String,
        port: Int,
        tls: TLSSettings,
        connections: Int = 1,
        identity: String = "app",
        defaultDeadline: Duration = .seconds(30),
        retry: CallRetryPolicy = CallRetryPolicy(),
        throttling: AdaptiveThrottling? = nil,
        logger: Logger = Logger(label: "switchyard.client")
    ) throws {
        self.defaultDeadline = defaultDeadline
        self.retry = retry
        self.throttle = throttling.map { AdaptiveThrottle(settings: $0) }
        var configuration = WireClientConfiguration(host: host, port: port, tls: tls)
        configuration.connections = max(1, connections)
        configuration.identity = identity
        self.wire = try WireClient(configuration: configuration, logger: logger)
    }

    /// Runs a model on the inputs and returns its outputs by name.
    /// - Parameters:
    ///   - model: the model's name.
    ///   - version: pins a version; `nil` lets the router choose (stable, canary or A/B arm).
    ///   - inputs: input tensors by name, e.g. `["x": try Tensor(pixels, shape: [1, 64])]`.
    ///   - deadline: how long the caller waits (``defaultDeadline`` when `nil`); every stage is told and stops work
    ///     when it passes.
    ///   - routingKey: a stable key (user or session id) so the same caller sees the same model version.
    ///   - parameters: extra per-request options for the pipeline (e.g. `top_k`).
    /// - Returns: the output tensors and the response metadata (such as the version that answered).
    /// - Throws: ``InferenceError`` carrying the status code and message.
    public func infer(
        model: String,
        version: String? = nil,
        inputs: KeyValuePairs<String, Tensor>,
        deadline: Duration? = nil,
        routingKey: String? = nil,
        parameters: [String: String] = [:]
    ) async throws(InferenceError) -> InferenceResult {
        let request = Request(
            method: "infer",
            model: model,
            version: version ?? "",
            traceID: .random(),
            routingKey: routingKey ?? "",
            idempotent: true,
            parameters: parameters.sorted { $0.key < $1.key }.map { Parameter($0.key, $0.value) },
            tensors: inputs.map { NamedTensor($0.key, $0.value) }
        )
        return InferenceResult(try await self.call(request, deadline: deadline))
    }

    /// Sends any request (for methods other than `infer`, such as `echo` or `health`); failures the retry policy
    /// allows are sent again within the deadline.
    /// - Parameters:
    ///   - request: the request.
    ///   - deadline: how long to wait (``defaultDeadline`` when `nil`).
    /// - Throws: ``InferenceError`` carrying the status code and message.
    public func call(_ request: Request, deadline: Duration? = nil) async throws(InferenceError) -> Response {
        do {
            let deadline = ContinuousClock.now.advanced(by: deadline ?? self.defaultDeadline)
            return try await self.wire.call(request, deadline: deadline, retry: self.retry, throttle: self.throttle)
        } catch let status as Status {
            throw InferenceError(status: status)
        } catch let error as TransportError {
            throw InferenceError(status: error.status, isThrottled: error.code == .throttled)
        } catch let error as any StatusConvertible {
            throw InferenceError(status: error.status)
        } catch {
            throw InferenceError(status: Status(.unavailable, "\(error)"))
        }
    }

    /// Opens the connections now instead of on the first call.
    /// - Throws: ``InferenceError`` with `unavailable` when the router cannot be reached.
    public func connect() async throws(InferenceError) {
        do {
            try await self.wire.connect()
        } catch let error as any StatusConvertible {
            throw InferenceError(status: error.status)
        } catch {
            throw InferenceError(status: Status(.unavailable, "\(error)"))
        }
    }

    /// Closes the connections.
    public func close() async { await self.wire.close() }
}

/// A failed call: the status code the service (or the client, for deadlines and lost connections) gave.
public struct InferenceError: Error, Sendable, CustomStringConvertible {
    public var status: Status

    /// Wraps a status.
    /// - Parameters:
    ///   - status: the status.
    ///   - isThrottled: the client's throttle refused the call.
    public init(status: Status, isThrottled: Bool = false) {
        self.status = status
        self.isThrottled = isThrottled
    }
    /// The status code, e.g. `.invalidArgument`, `.deadlineExceeded`, `.unavailable`.
    public var code: Status.Code { self.status.code }
    /// Whether this client's adaptive throttle refused the call unsent (its code is `resource exhausted`, as the
    /// router's own overload refusals).
    public let isThrottled: Bool
    public var description: String { self.status.description }
}

/// The outputs of a model, by name, with the response metadata.
public struct InferenceResult: Sendable {
    public let response: Response

    init(_ response: Response) { self.response = response }

    /// The output tensors in the order the service sent them.
    public var outputs: [NamedTensor] { self.response.tensors }

    /// The output named `name`.
    public subscript(name: String) -> Tensor? { self.response.tensors.first { $0.name == name }?.tensor }

    /// The model version that answered, when the service reports it.
    public var modelVersion: String? { self.response[parameter: ParameterKey.modelVersion] }
}
