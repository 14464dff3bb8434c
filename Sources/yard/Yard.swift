import ArgumentParser

@main
struct Yard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "yard",
        abstract: "Switchyard: run, inspect and make models; check and measure services.",
        subcommands: [
            Predict.self, ModelCommand.self, Models.self, Echo.self, Load.self, RolloutCommand.self, ABCommand.self,
            BatchingCommand.self, PoolCommand.self, AdminCommand.self, Profile.self,
            QuantizeCommand.self, PruneCommand.self, ConvertCommand.self,
        ]
    )
}
