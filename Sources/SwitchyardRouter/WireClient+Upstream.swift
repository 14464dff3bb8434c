public import SwitchyardRouting
public import SwitchyardTransport

/// A wire client is an upstream as it is: `WireClient.call` has `Upstream`'s signature.
extension WireClient: Upstream {}
