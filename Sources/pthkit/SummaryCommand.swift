import ArgumentParser
import PthKit

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "A torchinfo-style table: each layer's output shape, parameters and mult-adds.")

    @Argument(help: "Model name.")
    var model: String

    @Option(name: .customLong("arg"), help: ArgumentHelp("Builder argument, e.g. num_classes=5.", valueName: "name=value"))
    var arguments: [String] = []

    @Option(help: "Input shape N,C,H,W (default: 1 and the model's input size from the manifest).")
    var input: String?

    @Flag(help: "Print the table as JSON.")
    var json = false

    func run() throws {
        let network = try ModelZoo.build(model, arguments: try ModelArguments(parsing: arguments))
        let shape = try input.map(ShapeText.parse) ?? ([1] + (try ModelsManifest.embedded.entry(model)?.inputSize ?? [3, 224, 224]))
        let summary = try ModelSummary(model: network, inputShape: shape)
        print(json ? try JSONOutput.string(summary) : summary.table)
    }
}

enum ShapeText {
    static func parse(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("\"\(text)\" is not a shape like 1,3,224,224")
        }
        return parts.compactMap { $0 }
    }
}
