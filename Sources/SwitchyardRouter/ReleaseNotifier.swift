import Foundation
import Logging
internal import Metrics

/// Tells people about release decisions: every decision (a rollout started, stepped up, waiting for approval,
/// promoted, rolled back, aborted; a version pinned; a comparison started, stopped, decided or stopped by its
/// guardrail) is POSTed as Slack-compatible JSON (`text`, `attachments`, plus the structured `switchyard` object) to
/// the router's webhooks and the rollout plan's own.
///
/// Off the decision path: events go into a bounded queue (the newest 256 kept) that ``run()`` empties, one POST at
/// a time, each bounded by a timeout. A webhook that fails is logged and counted
/// (`switchyard_release_notifications_total{outcome}`), never retried forever and never blocking a decision.
final class ReleaseNotifier: Sendable {
    /// One decision.
    struct Event: Sendable, Encodable {
        var model: String
        /// What happened, e.g. `rollout.rolled_back`, `ab.guardrail`, `release.pinned`.
        var kind: String
        /// The decision in words.
        var message: String
        var phase: String?
        var stable: String?
        var candidate: String?
        /// The candidate's share of traffic after the decision, in percent.
        var weight: Double?
        var reason: String?
        var router = ""
        var time = Date().timeIntervalSince1970

        init(
            model: String, kind: String, message: String, phase: String? = nil, stable: String? = nil,
            candidate: String? = nil, weight: Double? = nil, reason: String? = nil
        ) {
            self.model = model
            self.kind = kind
            self.message = message
            self.phase = phase
            self.stable = stable
            self.candidate = candidate
            self.weight = weight
            self.reason = reason
        }
    }

    private let urls: [String]
    private let http: (any ReleaseHTTP)?
    private let router: String
    private let logger: Logger
    private let stream: AsyncStream<(Event, [String])>
    private let continuation: AsyncStream<(Event, [String])>.Continuation
    /// Longest a POST may take.
    static let timeout: Duration = .seconds(5)

    /// Makes a notifier.
    /// - Parameters:
    ///   - urls: the router's webhooks.
    ///   - http: the client; `nil` posts nothing.
    ///   - router: this router's name, in every event.
    ///   - logger: for failed POSTs.
    init(urls: [String], http: (any ReleaseHTTP)?, router: String, logger: Logger) {
        self.urls = urls
        self.http = http
        self.router = router
        self.logger = logger
        (self.stream, self.continuation) = AsyncStream.makeStream(
            of: (Event, [String]).self, bufferingPolicy: .bufferingNewest(256))
    }

    /// Queues an event for the router's webhooks and `also`.
    func post(_ event: Event, also: [String] = []) {
        guard self.http != nil, !(self.urls.isEmpty && also.isEmpty) else { return }
        var event = event
        event.router = self.router
        self.continuation.yield((event, also))
    }

    /// POSTs queued events until ``finish()`` (then the ones left) or cancellation.
    func run() async {
        guard let http = self.http else { return }
        for await (event, also) in self.stream {
            let body = Self.body(event)
            for url in self.urls + also.filter({ !self.urls.contains($0) }) {
                let outcome: String
                do {
                    let answer = try await http.send("POST", url, body: body, timeout: Self.timeout)
                    outcome = (200..<300).contains(answer.status) ? "ok" : "refused"
                    if outcome != "ok" {
                        self.logger.warning(
                            "release notification refused",
                            metadata: ["url": "\(url)", "status": "\(answer.status)", "event": "\(event.kind)"]
                        )
                    }
                } catch {
                    outcome = "unreachable"
                    self.logger.warning(
                        "release notification failed",
                        metadata: ["url": "\(url)", "error": "\(error)", "event": "\(event.kind)"]
                    )
                }
                Counter(label: "switchyard_release_notifications_total", dimensions: [("outcome", outcome)]).increment()
            }
        }
    }

    /// Ends the queue; ``run()`` posts what is left and returns.
    func finish() { self.continuation.finish() }

    /// The Slack-compatible body: `text` for any chat webhook, an attachment coloured by outcome with the fields,
    /// and the event itself under `switchyard` for programs.
    static func body(_ event: Event) -> [UInt8] {
        struct Field: Encodable {
            var title: String
            var value: String
            var short = true
        }
        struct Attachment: Encodable {
            var color: String
            var fallback: String
            var fields: [Field]
        }
        struct Body: Encodable {
            var text: String
            var attachments: [Attachment]
            var switchyard: Event
        }
        let color =
            event.kind.hasSuffix("rolled_back") || event.kind.hasSuffix("guardrail") || event.kind.hasSuffix("aborted")
            ? "danger" : event.kind.hasSuffix("promoted") ? "good" : "warning"
        var fields = [Field(title: "model", value: event.model), Field(title: "event", value: event.kind)]
        if let stable = event.stable { fields.append(Field(title: "stable", value: stable)) }
        if let candidate = event.candidate { fields.append(Field(title: "candidate", value: candidate)) }
        if let weight = event.weight { fields.append(Field(title: "candidate weight", value: "\(weight)%")) }
        if let reason = event.reason { fields.append(Field(title: "reason", value: reason, short: false)) }
        let body = Body(
            text: event.message, attachments: [Attachment(color: color, fallback: event.message, fields: fields)],
            switchyard: event
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(body)) ?? Data("{\"text\":\"\(event.kind)\"}".utf8))
    }
}
