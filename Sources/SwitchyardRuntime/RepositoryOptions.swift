public import ArgumentParser

/// Where a service reads its model repository, and how often it looks at it again.
public struct RepositoryOptions: ParsableArguments, Sendable {
    @Option(help: "The model repository (models/<name>/<version>/...).")
    public var models = "models"
    @Option(
        help: """
            Look at the repository again every this many seconds and apply what changed: new, changed and removed \
            models take effect (0: only at start, on reload and by the model admin calls).
            """
    )
    public var repositoryPollSeconds = 0.0

    public init() {}

    /// How often to look at the repository again; `nil` when polling is off.
    public var pollInterval: Duration? {
        self.repositoryPollSeconds > 0 ? .milliseconds(Int(self.repositoryPollSeconds * 1000)) : nil
    }

    public func validate() throws {
        guard self.repositoryPollSeconds == 0 || (0.1...86_400).contains(self.repositoryPollSeconds) else {
            throw ValidationError("--repository-poll-seconds must be 0 (off) or 0.1...86400")
        }
    }
}
