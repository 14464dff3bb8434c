import ArgumentParser
import SwitchyardEngine

/// `yard models`: what a model repository holds and whether each version loads.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a model repository's models and versions, loading each to check it.")

    @Option(name: .long, help: "The repository directory (models/<name>/<version>/model.onnx).")
    var repository: String = "models"

    func run() throws {
        try runReportingErrors("models") {
            let repository = ModelRepository(root: self.repository)
            let report = try repository.poll()
            for entry in repository.status() {
                let state: String
                switch entry.state {
                case .ready: state = "ready"
                case .loading: state = "loading"
                case .failed(let message): state = "failed: \(message)"
                }
                print("\(entry.name)\t\(entry.version)\t\(state)")
            }
            for failure in report.failed { print("failed\t\(failure)") }
            if report.failed.count > 0 { throw ExitCode.failure }
        }
    }
}
