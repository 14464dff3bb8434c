public import SwitchyardRouting

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

        /// A route to one version, measured by nothing.
        /// - Parameter version: the version to ask for ("" for the newest).
        public init(version: String) {
            self.version = version
        }

        init(version: String, arm: Arm?, shadowVersion: String?) {
            self.version = version
            self.arm = arm
            self.shadowVersion = shadowVersion
        }

        init(version: String, challenger: Bool, mirrorVersion: String?) {
            self.version = version
            self.challenger = challenger
            self.mirrorVersion = mirrorVersion
        }
    }
}

/// The route choice for a request that pinned no version: a function of the model's release state and a random
/// source only, so that the controller's lock holds no I/O and tests can seed it.
///
/// A running A/B comparison wins (the challenger's share by sticky bucket, and the other arm mirrored for a sample);
/// otherwise the traffic split decides (sticky by routing key), and during a rollout the candidate's requests are
/// measured and a sample of them is shadow-scored by the stable version.
enum ReleasePolicy {
    /// Chooses the route.
    /// - Parameters:
    ///   - state: the model's release state; `nil` for a model the controller does not know.
    ///   - routingKey: the caller's key for sticky buckets ("" for a random bucket).
    ///   - random: the random source for buckets and samples.
    static func route(
        _ state: ReleaseController.ModelState?, routingKey: String, using random: inout some RandomNumberGenerator
    ) -> ReleaseController.Route {
        guard let state else { return ReleaseController.Route(version: "") }
        if let experiment = state.experiment, experiment.isRunning {
            let version = experiment.split.version(for: routingKey, using: &random)
            let challenger = version == experiment.challenger
            let sample = Double.random(in: 0..<100, using: &random)
            let mirror: String? =
                switch experiment.mode {
                case .shadow: sample < experiment.percent ? experiment.challenger : nil
                case .split: challenger && sample < experiment.comparePercent ? experiment.champion : nil
                }
            return ReleaseController.Route(version: version, challenger: challenger, mirrorVersion: mirror)
        }
        let version = state.split.version(for: routingKey, using: &random)
        guard let rollout = state.rollout, rollout.isActive else { return ReleaseController.Route(version: version) }
        let arm: ReleaseController.Arm = version == rollout.candidate ? .candidate : .stable
        let shadow = arm == .candidate && Double.random(in: 0..<100, using: &random) < rollout.plan.shadowPercent
        return ReleaseController.Route(version: version, arm: arm, shadowVersion: shadow ? rollout.stable : nil)
    }
}
