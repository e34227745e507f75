import ArgumentParser
import Foundation
import PthKit

struct FineTuneHeadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune-head",
        abstract: "Teach a pretrained model your classes: train a new classifier head on an ImageFolder tree.",
        discussion: """
            DIR/<class>/<image>.png|jpg, classes sorted by folder name as torchvision's ImageFolder. The model \
            is built with one output per class, the backbone loaded from --weights (tensors of the old head \
            are dropped) and frozen, features computed once, and the new last Linear trained with softmax \
            cross-entropy. The best epoch (validation accuracy) is written to --output as a full state dict \
            that torch.load and load_state_dict(strict=True) accept, with the class names in NAME.classes.txt \
            beside it, which `pthkit classify MODEL --weights OUTPUT` picks up.
            """)

    @Argument(help: "Model name, as listed by `pthkit models`.")
    var model: String

    @Option(help: "The pretrained checkpoint whose backbone is kept.")
    var weights: String

    @Option(help: "ImageFolder tree of training images: DIR/<class>/<image>.")
    var data: String

    @Option(help: "Where to write the new checkpoint (.pth); the class names go to NAME.classes.txt beside it.")
    var output: String

    @Option(help: "A separate ImageFolder tree for validation, with the same class folders (default: split --data).")
    var valData: String?

    @Option(help: "Share of each class held out for validation when there is no --val-data.")
    var valSplit = 0.2

    @Option(help: "Passes over the training images.")
    var epochs = 20

    @Option(help: "Learning rate.")
    var lr: Float = 0.01

    @Option(help: "Images per optimizer step.")
    var batch = 32

    @Option(help: "sgd (with --momentum) or adam.")
    var optimizer: OptimizerName = .sgd

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Option(help: "L2 weight decay, as PyTorch's optimizers apply it.")
    var weightDecay: Float = 0

    @Option(help: "Seed for the new head's initial weights, the validation split and the batch order.")
    var seed: UInt64 = 0

    @Option(name: .customLong("arg"), help: ArgumentHelp("Builder argument, e.g. width_mult=0.5 (the class count is set from --data).", valueName: "name=value"))
    var arguments: [String] = []

    @Option(help: "Dotted path of the state dict inside the checkpoint, e.g. state_dict.")
    var key: String?

    @Option(help: "Remove this prefix from every key (repeatable), e.g. module.")
    var stripPrefix: [String] = []

    enum OptimizerName: String, ExpressibleByArgument {
        case sgd, adam
    }

    func validate() throws {
        guard epochs > 0 else { throw ValidationError("--epochs must be positive") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
        guard (0..<1).contains(valSplit) else { throw ValidationError("--val-split must be in [0, 1)") }
    }

    func run() throws {
        let settings = HeadTrainingSettings(
            epochs: epochs, learningRate: lr, batchSize: batch,
            optimizer: optimizer == .sgd ? .sgd(momentum: momentum) : OptimizerKind.adamDefaults,
            weightDecay: weightDecay, seed: seed)
        let request = HeadFineTuning.Request(
            model: model, arguments: try ModelArguments(parsing: arguments), weights: URL(fileURLWithPath: weights),
            data: URL(fileURLWithPath: data), validationData: valData.map { URL(fileURLWithPath: $0) },
            validationFraction: valSplit, settings: settings, output: URL(fileURLWithPath: output), key: key,
            stripPrefixes: stripPrefix)
        let progress = TrainingProgress(onTerminal: isatty(STDERR_FILENO) == 1)
        let summary = try HeadFineTuning.run(request, onEvent: progress.show)
        let best = summary.best
        print("best epoch \(best.epoch) of \(summary.history.count): "
            + "train accuracy \(TrainingProgress.percent(best.trainAccuracy))"
            + (best.validationAccuracy.map { ", validation accuracy \(TrainingProgress.percent($0))" } ?? ""))
        print("wrote \(summary.output.path) (new head \(summary.head): \(summary.classes.count) classes, "
            + "\(summary.trainImages) training and \(summary.validationImages) validation images)")
        print("wrote \(summary.classNamesFile.path): \(summary.classes.joined(separator: ", "))")
    }
}

/// Progress on stderr: a bar redrawn in place on a terminal, one plain line per step in a log.
final class TrainingProgress {
    let onTerminal: Bool

    init(onTerminal: Bool) {
        self.onTerminal = onTerminal
    }

    func show(_ event: HeadFineTuning.Event) {
        switch event {
        case .loaded(let head, let dropped, let notes):
            for note in notes { write("note: \(note)\n") }
            let droppedText = dropped.isEmpty ? "" : " (dropped " + dropped.map(\.key).joined(separator: ", ") + ")"
            write("backbone loaded and frozen; training a new \(head)\(droppedText)\n")
        case .extracting(let done, let total):
            if onTerminal {
                write("\r\(bar(done, total)) features \(done)/\(total)" + (done == total ? "\n" : ""))
            } else if done == total {
                write("features computed for \(total) images\n")
            }
        case .epoch(let result, let epochs):
            let figures = "epoch \(result.epoch)/\(epochs)  loss \(String(format: "%.4f", result.trainLoss))  "
                + "train \(Self.percent(result.trainAccuracy))"
                + (result.validationAccuracy.map { "  val \(Self.percent($0))" } ?? "")
            if onTerminal {
                // The bar shows the run; each epoch's figures replace the last ones on the same line.
                write("\r\(bar(result.epoch, epochs)) \(figures)\u{1B}[K" + (result.epoch == epochs ? "\n" : ""))
            } else {
                write(figures + "\n")
            }
        }
    }

    static func percent(_ fraction: Double) -> String { String(format: "%.2f%%", fraction * 100) }

    private func bar(_ done: Int, _ total: Int) -> String {
        let width = 24
        let filled = total > 0 ? width * done / total : width
        return "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
