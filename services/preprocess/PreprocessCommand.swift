import ArgumentParser
import SwitchyardPipeline
import SwitchyardPipelineService
import SwitchyardRuntime

/// `switchyard-preprocess`: checks and prepares each model's inputs (images, scaling, normalization, one-hot).
@main
struct PreprocessCommand: PipelineStageCommand {
    static let serviceName = "preprocess"
    static let defaultPort = 7404
    static let configuration = CommandConfiguration(
        commandName: "switchyard-preprocess",
        abstract: "Serve the preprocess stage over mutual TLS, with pipelines from the model repository's configs."
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var repository: RepositoryOptions
    @Option(help: "Most pixels (height × width) of one image an image step decodes; a larger one is refused.")
    var maxImagePixels = PixelBudget.defaults.perImage
    @Option(help: "Most pixels of all the images of one request together (a batch of images counts whole).")
    var maxRequestPixels = PixelBudget.defaults.perRequest

    func validate() throws {
        guard (1...(1 << 30)).contains(self.maxImagePixels) else {
            throw ValidationError("--max-image-pixels must be 1...\(1 << 30)")
        }
        guard (self.maxImagePixels...(1 << 32)).contains(self.maxRequestPixels) else {
            throw ValidationError("--max-request-pixels must be at least --max-image-pixels and at most \(1 << 32)")
        }
    }

    func makeService(root: String) throws -> PipelineService {
        try PipelineService.preprocess(
            root: root,
            pixelLimits: PixelBudget(perImage: self.maxImagePixels, perRequest: self.maxRequestPixels)
        )
    }
}
