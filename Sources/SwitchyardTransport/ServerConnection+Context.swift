import SwitchyardWire

extension ServerConnection {
    /// What one connection knows about its peer, fixed once per connection: the TLS certificate's identity and the
    /// roles the authorization policy gives it after the handshake, then HELLO's announced identity, payload limit and
    /// dtypes. Every request's ``RequestContext`` and the policy's check at dispatch take the peer from here.
    struct Context {
        var peer = PeerIdentity()
        var peerMaxPayload = WireLimits.minimumPayload
        var peerDTypes = AnnouncedDTypes.none

        /// Takes what the peer announced in HELLO.
        mutating func helloReceived(_ hello: Hello) {
            self.peerMaxPayload = hello.maxPayload
            self.peer.announced = hello.identity
            self.peerDTypes = AnnouncedDTypes(hello: hello.parameters)
        }
    }
}
