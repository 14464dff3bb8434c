import NIOConcurrencyHelpers
public import NIOSSL

/// A process's TLS material that can be replaced while it serves: servers and clients that share it take the
/// current contexts for every new connection, and connections already open keep the contexts they started with
/// until they close. ``reload(_:)`` loads the new files completely before anything changes, so a certificate or
/// key that does not load leaves the old ones in use.
public final class TLSCredentials: Sendable {
    private struct Current {
        var settings: TLSSettings
        var server: NIOSSLContext?
        var client: NIOSSLContext
        var generation: Int
    }

    private let current: NIOLockedValueBox<Current>

    /// Loads the files named by `settings`.
    /// - Parameters:
    ///   - settings: CA, certificate and key paths.
    ///   - server: whether a server context is needed (it needs a certificate and a key).
    /// - Throws: `TransportError` naming the file that could not be loaded.
    public init(_ settings: TLSSettings, server: Bool = true) throws {
        self.current = NIOLockedValueBox(
            Current(
                settings: settings, server: server ? try settings.makeServerContext() : nil,
                client: try settings.makeClientContext(), generation: 1
            )
        )
    }

    /// The settings in use.
    public var settings: TLSSettings { self.current.withLockedValue { $0.settings } }

    /// How many times the material was loaded (1 at first); tells a reload that took from one that did not.
    public var generation: Int { self.current.withLockedValue { $0.generation } }

    /// The context for new server-side connections.
    /// - Throws: `TransportError` when the credentials were made without a server context.
    public func serverContext() throws -> NIOSSLContext {
        guard let context = self.current.withLockedValue({ $0.server }) else {
            throw TransportError(.configuration, "these credentials have no server certificate")
        }
        return context
    }

    /// The context for new client-side connections.
    public var clientContext: NIOSSLContext { self.current.withLockedValue { $0.client } }

    /// TLS material loaded completely and not yet in use (``prepare(_:)``), so that a reload can check
    /// everything else before anything changes.
    public struct Prepared: Sendable {
        fileprivate var settings: TLSSettings
        fileprivate var server: NIOSSLContext?
        fileprivate var client: NIOSSLContext
    }

    /// Loads the files named by `settings` again (new paths or the same ones, rewritten) and, when everything
    /// loaded, uses them for new connections.
    /// - Parameter settings: the settings to load; the ones in use when `nil`.
    /// - Throws: `TransportError` naming the file that could not be loaded; nothing changed then.
    public func reload(_ settings: TLSSettings? = nil) throws {
        self.install(try self.prepare(settings))
    }

    /// Loads the files named by `settings` without using them yet.
    /// - Parameter settings: the settings to load; the ones in use when `nil`.
    /// - Throws: `TransportError` naming the file that could not be loaded.
    public func prepare(_ settings: TLSSettings? = nil) throws -> Prepared {
        let (wanted, hasServer) = self.current.withLockedValue { ($0.settings, $0.server != nil) }
        let next = settings ?? wanted
        let server = hasServer ? try next.makeServerContext() : nil
        return Prepared(settings: next, server: server, client: try next.makeClientContext())
    }

    /// Uses material from ``prepare(_:)`` for new connections from now on.
    public func install(_ prepared: Prepared) {
        self.current.withLockedValue { current in
            current = Current(
                settings: prepared.settings, server: prepared.server, client: prepared.client,
                generation: current.generation + 1
            )
        }
    }
}
