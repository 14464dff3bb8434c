import SwitchyardWire

extension ServerConnection {
    /// What one connection knows about its peer, fixed once per connection: the TLS certificate's identity after the
    /// handshake, then HELLO's announced identity, token, payload limit and dtypes. Every request's
    /// ``RequestContext`` takes its ``PeerIdentity`` from here, so a check per method sees the connection's peer.
    struct Context {
        var peer = PeerIdentity()
        var peerMaxPayload = WireLimits.minimumPayload
        var peerDTypes = AnnouncedDTypes.none

        /// Takes the identity a verified client certificate proves.
        mutating func tlsVerified(commonName: String?, organizationalUnits: [String]) {
            self.peer.commonName = commonName
            self.peer.organizationalUnits = organizationalUnits
        }

        /// Takes what the peer announced in HELLO.
        mutating func helloReceived(_ hello: Hello) {
            self.peerMaxPayload = hello.maxPayload
            self.peer.announced = hello.identity
            self.peer.token = hello.parameters.first { $0.key == ParameterKey.authToken }?.value
            self.peerDTypes = AnnouncedDTypes(hello: hello.parameters)
        }
    }
}
