import ArgumentParser

@main
struct Yard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "yard",
        abstract: "Switchyard: run, inspect and make models.",
        subcommands: [Predict.self, ModelCommand.self, Models.self]
    )
}
