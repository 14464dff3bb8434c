/// The `# HELP` text of every metric the mesh exports, by family name, for both exports: each service's `/metrics`
/// (swift-metrics has no place for a description) and the monitor's federated one.
public enum MetricHelp {
    /// Families with their description.
    public static let texts: [String: String] = [
        "switchyard_requests_total": "Requests answered, by service, method, model, version and status code.",
        "switchyard_request_duration_seconds":
            "Time from a request's arrival to its answer, by method, model, version.",
        "switchyard_requests_in_flight": "Requests accepted and not yet answered.",
        "switchyard_requests_denied_total":
            "Requests refused by the authorization policy, by service, method and the caller's role.",
        "switchyard_batch_size": "Rows per batch sent to a stage, by model and stage.",
        "switchyard_batch_queue_depth": "Requests waiting in a batcher's queue, by model and stage.",
        "switchyard_upstream_requests_total": "Attempts on each stage instance, by status code.",
        "switchyard_upstream_ejected": "1 while outlier detection has ejected the instance.",
        "switchyard_upstream_retries_total": "Retries and hedges of requests on another instance of a stage.",
        "switchyard_upstream_per_try_timeouts_total": "Attempts that outlived their per-try timeout.",
        "switchyard_busy_seconds_total": "Seconds the service's workers spent working, summed over workers.",
        "switchyard_workers": "Workers that can work at once.",
        "switchyard_queue_depth": "Requests accepted and waiting for a worker.",
        "switchyard_release_candidate_percent": "The candidate version's share of a model's traffic, in percent.",
        "switchyard_rollout_phase": "1 for the current phase of a model's rollout.",
        "switchyard_rollout_decision_info": "The last rollout decision of a model, as labels.",
        "switchyard_release_notifications_total": "Release notifications sent, by outcome.",
        "switchyard_http_requests_total": "HTTP requests answered by the gateway, by endpoint and status code.",
        "switchyard_http_request_duration_seconds": "Time to answer an HTTP request, by endpoint.",
        "switchyard_http_connections": "Open HTTP connections, by protocol.",
        "switchyard_drift_psi": "Population stability index of an input feature against its reference.",
        "switchyard_drift_psi_max": "Largest population stability index over a model's features.",
        "switchyard_drift_psi_mean": "Mean population stability index over a model's features.",
        "switchyard_drift_prediction_psi": "Population stability index of a model's predicted classes.",
        "switchyard_drift_window_rows": "Rows in a model's drift window.",
        "switchyard_drift_samples_dropped_total": "Drift samples dropped because the queue was full.",
        "switchyard_monitor_instance_up": "1 while the instance reports to the monitor.",
        "switchyard_monitor_instance_draining": "1 while the instance says it is draining.",
        "switchyard_monitor_reports_total": "Reports sent to the monitor.",
        "switchyard_monitor_reports_received_total": "Reports the monitor received.",
        "switchyard_monitor_reports_refused_total": "Reports the monitor refused.",
        "switchyard_monitor_reports_dropped_total": "Reports dropped before they were sent.",
        "switchyard_monitor_series": "Series the monitor holds.",
        "switchyard_monitor_alerts_firing": "Alerts firing now.",
        "switchyard_monitor_snapshot_failures_total": "Monitor snapshots that could not be written.",
        "switchyard_monitor_webhook_dropped_total": "Alert webhooks dropped because the queue was full.",
        "switchyard_monitor_webhook_failures_total": "Alert webhooks that failed.",
    ]

    /// The description of a family; one naming the family for metrics not in ``texts``, so that every family has one.
    public static func text(for family: String) -> String { Self.texts[family] ?? "Switchyard metric \(family)." }

    /// Prometheus text with a `# HELP` line before every `# TYPE` line that has none.
    /// - Parameter exposition: the text format, as a registry writes it.
    /// - Returns: the same text with the help lines.
    public static func adding(to exposition: String) -> String {
        var output = ""
        output.reserveCapacity(exposition.utf8.count + 4096)
        var helped = Set<Substring>()
        for line in exposition.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# HELP ") {
                if let name = line.dropFirst(7).split(separator: " ").first { helped.insert(name) }
            } else if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first,
                !helped.contains(name)
            {
                output += "# HELP \(name) \(Self.text(for: String(name)))\n"
                helped.insert(name)
            }
            output += line
            output += "\n"
        }
        if exposition.hasSuffix("\n") || exposition.isEmpty { output.removeLast() }
        return output
    }
}
