import ArgumentParser
import SwitchyardPipelineService
import SwitchyardRuntime

/// `switchyard-postprocess`: applies each model's postprocessing (softmax, top-k, argmax, threshold).
@main
struct PostprocessCommand: PipelineStageCommand {
    static let serviceName = "postprocess"
    static let defaultPort = 7403
    static let configuration = CommandConfiguration(
        commandName: "switchyard-postprocess",
        abstract: "Serve the postprocess stage over mutual TLS, with pipelines from the model repository's configs."
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var repository: RepositoryOptions

    func makeService(root: String) throws -> PipelineService { try PipelineService.postprocess(root: root) }
}
