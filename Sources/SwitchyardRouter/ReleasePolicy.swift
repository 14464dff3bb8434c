import SwitchyardRouting
import SwitchyardWire

extension ReleaseController {
    /// Which side of a split a request went to.
    public enum Arm: Sendable { case stable, candidate }

    /// Where a request goes.
    public struct Route: Sendable {
        /// The version to ask for ("" for the newest).
        public var version: String
        /// The arm to measure, when a rollout runs.
        public var arm: Arm?
        /// The stable version to score the same inputs with (shadow), if this request is sampled.
        public var shadowVersion: String?
        /// In an A/B comparison: whether the challenger serves this request.
        public var challenger: Bool? = nil
        /// In an A/B comparison: the other arm's version, to answer the same inputs off the request path.
        public var mirrorVersion: String? = nil
        /// The rollout's analysis window when the request was routed: its measurements count only in that one.
        public var window = 0

        /// A route to one version, measured by nothing.
        /// - Parameter version: the version to ask for ("" for the newest).
        public init(version: String) {
            self.version = version
        }

        init(version: String, arm: Arm?, shadowVersion: String?, window: Int) {
            self.version = version
            self.arm = arm
            self.shadowVersion = shadowVersion
            self.window = window
        }

        init(version: String, challenger: Bool, mirrorVersion: String?) {
            self.version = version
            self.challenger = challenger
            self.mirrorVersion = mirrorVersion
        }
    }
}

/// The route choice for a request that pinned no version: a function of the model's release state, the request's
/// key and parameters and a random source only, so that the controller's lock holds no I/O and tests can seed it.
///
/// A running A/B comparison wins (the challenger's share by sticky bucket, and the other arm mirrored for a sample);
/// otherwise the traffic split decides (sticky by routing key), and during a rollout the candidate's requests are
/// measured and a sample of them is shadow-scored by the stable version. Testers named by the rollout's plan, and
/// requests with the parameter `version.tag` = `candidate` (or `canary`), reach the candidate at every step, before
/// any public one; `version.tag` = `stable` keeps a request on the stable version.
enum ReleasePolicy {
    /// The values of `version.tag` that ask for the candidate (or challenger), and for the stable version (or
    /// champion).
    static let candidateTags: Set<String> = ["candidate", "canary", "challenger"]
    static let stableTags: Set<String> = ["stable", "champion"]

    /// Chooses the route.
    /// - Parameters:
    ///   - state: the model's release state; `nil` for a model the controller does not know.
    ///   - routingKey: the caller's key for sticky buckets ("" for a random bucket).
    ///   - parameter: looks up a request parameter.
    ///   - random: the random source for buckets and samples.
    static func route(
        _ state: ReleaseController.ModelState?,
        routingKey: String,
        parameter: (String) -> String? = { _ in nil },
        using random: inout some RandomNumberGenerator
    ) -> ReleaseController.Route {
        guard let state else { return ReleaseController.Route(version: "") }
        let tag = parameter(ParameterKey.versionTag)
        if let experiment = state.experiment, experiment.isRunning {
            var version = experiment.split.version(for: routingKey, using: &random)
            if let tag, Self.candidateTags.contains(tag) { version = experiment.challenger }
            if let tag, Self.stableTags.contains(tag) { version = experiment.champion }
            let challenger = version == experiment.challenger
            let sample = Double.random(in: 0..<100, using: &random)
            let mirror: String? =
                switch experiment.mode {
                case .shadow: !challenger && sample < experiment.percent ? experiment.challenger : nil
                case .split: challenger && sample < experiment.comparePercent ? experiment.champion : nil
                }
            return ReleaseController.Route(version: version, challenger: challenger, mirrorVersion: mirror)
        }
        var version = state.split.version(for: routingKey, using: &random)
        guard let rollout = state.rollout, rollout.isActive else { return ReleaseController.Route(version: version) }
        if let tag, Self.candidateTags.contains(tag) {
            version = rollout.candidate
        } else if let tag, Self.stableTags.contains(tag) {
            version = rollout.stable
        } else if rollout.plan.testers.matches(routingKey: routingKey, parameter: parameter) {
            version = rollout.candidate
        }
        let arm: ReleaseController.Arm = version == rollout.candidate ? .candidate : .stable
        let shadow = arm == .candidate && Double.random(in: 0..<100, using: &random) < rollout.plan.shadowPercent
        return ReleaseController.Route(
            version: version,
            arm: arm,
            shadowVersion: shadow ? rollout.stable : nil,
            window: state.window
        )
    }
}
