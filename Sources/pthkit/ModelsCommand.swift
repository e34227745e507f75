import ArgumentParser
import PthKit

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "List the model zoo, from ModelsManifest.json.")

    @Flag(help: "Print the manifest entries as JSON.")
    var json = false

    func run() throws {
        let manifest = try ModelsManifest.decodeEmbedded()
        if json {
            print(ModelsManifest.embeddedJSON, terminator: "")
            return
        }
        print("name".padding(toLength: 28, withPad: " ", startingAt: 0) + "family".padding(toLength: 24, withPad: " ", startingAt: 0)
            + "input        official weights")
        for entry in manifest.models {
            let weights = manifest.weights(for: entry.name).map { "\($0.file)" + ($0.acc1.map { " (acc@1 \($0))" } ?? "") }.joined(separator: ", ")
            let input = entry.inputSize.map(String.init).joined(separator: "x")
            print(entry.name.padding(toLength: 28, withPad: " ", startingAt: 0)
                + entry.family.padding(toLength: 24, withPad: " ", startingAt: 0)
                + input.padding(toLength: 13, withPad: " ", startingAt: 0) + (weights.isEmpty ? "-" : weights))
        }
    }
}
