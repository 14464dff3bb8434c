import Foundation
import Logging
import SwitchyardRouting
internal import Synchronization

/// The gates that need the network, run beside the ticks so that a slow server never holds up a decision: the
/// metric gates' PromQL queries (their values feed the next ``evaluate(now:)``) and the webhook gates, asked with
/// the step's evidence when its other gates have passed.
extension ReleaseController {
    /// Starts, for every running rollout this router owns, a query of its metric gates and the confirmation its
    /// webhook gates owe, each unless one is in flight already.
    func startExternalWork(in group: inout DiscardingTaskGroup, now: Double) {
        guard self.http != nil else { return }
        let owned = self.models.withLock { models in
            models.compactMap { model, state -> (String, Rollout, Int)? in
                guard state.owner == self.identity, let rollout = state.rollout,
                    rollout.phase == .progressing || rollout.phase == .waiting
                else { return nil }
                return (model, rollout, state.window)
            }
        }
        for (model, rollout, window) in owned {
            if !rollout.plan.gates.metrics.isEmpty, self.claim("metrics/\(model)") {
                group.addTask {
                    await self.queryMetrics(model: model, rollout: rollout, window: window, now: now)
                    self.release("metrics/\(model)")
                }
            }
            if rollout.needsConfirmation, self.claim("confirm/\(model)") {
                group.addTask {
                    await self.confirmStep(model: model, rollout: rollout, window: window)
                    self.release("confirm/\(model)")
                }
            }
        }
    }

    private func claim(_ key: String) -> Bool { self.external.withLock { $0.insert(key).inserted } }

    private func release(_ key: String) { _ = self.external.withLock { $0.remove(key) } }

    /// Asks Prometheus each metric gate's query over the step so far and keeps the values for the window.
    func queryMetrics(model: String, rollout: Rollout, window: Int, now: Double) async {
        guard let http = self.http else { return }
        var values: [String: Double] = [:]
        for gate in rollout.plan.gates.metrics {
            guard let address = gate.address ?? self.prometheus else { continue }
            let query = gate.query(
                age: now - rollout.stepStarted, model: model, stable: rollout.stable, candidate: rollout.candidate
            )
            let base = address.hasSuffix("/") ? String(address.dropLast()) : address
            let url = "\(base)/api/v1/query?query=\(Self.percentEncoded(query))"
            do {
                let answer = try await http.send("GET", url, body: [], timeout: .seconds(5))
                guard answer.status == 200 else {
                    throw RouterError(
                        .invalidArgument,
                        "Prometheus answered \(answer.status): "
                            + String(decoding: answer.body.prefix(200), as: UTF8.self)
                    )
                }
                if let value = try Self.prometheusValue(answer.body) { values[gate.name] = value }
            } catch {
                self.logger.warning(
                    "metric gate query failed",
                    metadata: ["model": "\(model)", "metric": "\(gate.name)", "query": "\(query)", "error": "\(error)"]
                )
            }
        }
        self.models.withLock { models in
            guard models[model]?.window == window else { return }
            models[model]!.metrics.merge(values) { $1 }
        }
    }

    /// POSTs the step's evidence to each webhook gate in turn; all 2xx confirm the step, any other answer refuses it,
    /// and a gate that cannot be reached counts towards ``Rollout/webhookFailureLimit``.
    func confirmStep(model: String, rollout: Rollout, window: Int) async {
        guard let http = self.http, let status = self.status.first(where: { $0.model == model }) else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = Array((try? encoder.encode(ReleaseStatus(status))) ?? Data())
        enum Outcome {
            case confirmed
            case refused(String)
            case unreachable(String)
        }
        var outcome = Outcome.confirmed
        for url in rollout.plan.gates.webhooks {
            do {
                let answer = try await http.send("POST", url, body: body, timeout: .seconds(10))
                guard (200..<300).contains(answer.status) else {
                    let said = String(decoding: answer.body.prefix(200), as: UTF8.self)
                    outcome = .refused(
                        "webhook gate \(url) answered \(answer.status)\(said.isEmpty ? "" : ": \(said)")")
                    break
                }
            } catch {
                outcome = .unreachable("webhook gate \(url) cannot be reached: \(error)")
                break
            }
        }
        let now = Date().timeIntervalSince1970
        let decided = self.models.withLock { models -> Rollout? in
            guard var state = models[model], state.window == window, var current = state.rollout,
                current.needsConfirmation
            else { return nil }
            let before = (current.step, current.phase)
            let changed =
                switch outcome {
                case .confirmed: current.confirm(now: now)
                case .refused(let reason): current.refuse(reason, now: now)
                case .unreachable(let reason): current.webhookUnreachable(reason, now: now)
                }
            state.rollout = current
            if changed {
                state.split = current.split
                if before != (current.step, current.phase) { state.restartWindows() }
            }
            models[model] = state
            return changed ? current : nil
        }
        if case .unreachable(let reason) = outcome {
            self.logger.warning("webhook gate unreachable", metadata: ["model": "\(model)", "error": "\(reason)"])
        }
        guard let decided else { return }
        self.decided(decided)
        do {
            try self.persist()
        } catch {
            self.logger.error("cannot write the release state", metadata: ["error": "\(error)"])
        }
    }

    /// The one number a Prometheus `/api/v1/query` answer holds: a scalar, or a vector of one sample; `nil` for an
    /// empty vector or a value that is not a number (no data yet: a ratio of rates over no requests is NaN).
    /// - Throws: `RouterError.invalidArgument` for an error answer or a result of several series.
    static func prometheusValue(_ body: [UInt8]) throws(RouterError) -> Double? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            object["status"] as? String == "success", let data = object["data"] as? [String: Any],
            let kind = data["resultType"] as? String
        else {
            throw RouterError(
                .invalidArgument,
                "not a successful Prometheus answer: \(String(decoding: body.prefix(200), as: UTF8.self))"
            )
        }
        func number(_ pair: Any?) -> Double? {
            guard let pair = pair as? [Any], pair.count == 2, let text = pair[1] as? String,
                let value = Double(text), value.isFinite
            else { return nil }
            return value
        }
        switch kind {
        case "scalar":
            return number(data["result"])
        case "vector":
            guard let samples = data["result"] as? [[String: Any]] else { return nil }
            guard samples.count <= 1 else {
                throw RouterError(
                    .invalidArgument,
                    "the query gave \(samples.count) series; a gate needs one (aggregate with sum, max or avg)"
                )
            }
            return samples.first.flatMap { number($0["value"]) }
        default:
            throw RouterError(.invalidArgument, "the query gave a \(kind); a gate needs a scalar or one sample")
        }
    }

    /// A query string's value with everything but unreserved characters percent-encoded.
    static func percentEncoded(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
