import ArgumentParser

@main
struct Yard: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "yard", abstract: "Switchyard command line")
}
