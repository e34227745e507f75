import ArgumentParser
import PthKit

@main
struct PthKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pthkit",
        abstract: "Read PyTorch checkpoints and run torchvision models without Python.",
        subcommands: []
    )
}
