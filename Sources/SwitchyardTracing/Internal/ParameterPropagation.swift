import SwitchyardWire
import Tracing

/// Trace context (`traceparent`, `tracestate`) carried in a request's parameters: one value per key, replaced on
/// inject.
struct ParameterPropagation: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [Parameter]) {
        carrier.removeAll { $0.key == key }
        carrier.append(Parameter(key, value))
    }

    func extract(key: String, from carrier: [Parameter]) -> String? {
        carrier.first { $0.key == key }?.value
    }
}
