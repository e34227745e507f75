import ArgumentParser
import Foundation
import PthKit

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify JPEG/PNG images, preprocessed exactly as torchvision's weight transforms.",
        discussion: """
            Preprocessing comes from ModelsManifest.json (the official file's settings when --weights has an \
            official name). With --image-folder DIR (DIR/<class>/<image>, as torchvision's ImageFolder) the \
            top-1 accuracy is printed too; with --reference-logits R.npy (PyTorch's logits for the same images, \
            in order) the largest logit difference from PyTorch.
            """)

    @OptionGroup var options: ModelOptions

    @Argument(help: "Image files (.jpg, .png).")
    var images: [String] = []

    @Option(help: "An ImageFolder tree to classify; its sorted class folder names are the true labels.")
    var imageFolder: String?

    @Option(help: "How many classes to print per image.")
    var topk = 5

    @Option(help: "Label names, one per line (default: the checkpoint's NAME.classes.txt or own class list, the model's label set, or class indices).")
    var labels: String?

    @Option(help: "PyTorch's logits for the same images (.npy, one row per image, in order).")
    var referenceLogits: String?

    @Flag(help: "Print the predictions as JSON.")
    var json = false

    func validate() throws {
        guard !images.isEmpty || imageFolder != nil else { throw ValidationError("give images or --image-folder") }
        guard topk > 0 else { throw ValidationError("--topk must be positive") }
    }

    func run() throws {
        let loaded = try options.loadModel(requireWeights: true)
        let manifest = try ModelsManifest.embedded
        let preprocessing = try manifest.preprocessing(
            model: options.model, weightsFile: options.weights.map { URL(fileURLWithPath: $0).lastPathComponent })
        var files = images.map { URL(fileURLWithPath: $0) }
        var truth: [Int] = []
        var classNames: [String]?
        if let imageFolder {
            let folder = try ImageFolder(root: URL(fileURLWithPath: imageFolder))
            files += folder.samples.map(\.url)
            truth = folder.samples.map(\.classIndex)
            classNames = folder.classes
        }
        // A labels file wins, then the checkpoint's own class names, then the model's label set.
        let labelNames = try labels.map { try ClassNamesFile.readLabels(URL(fileURLWithPath: $0)) } ?? loaded.labels ?? manifest.labels(model: options.model)
            ?? classNames

        var logits: [Float] = []
        var width = 0
        try preprocessing.forEachBatch(of: files, batchSize: 32) { batch, _ in
            let output = try options.forward(loaded.model, batch)
            width = output.shape.last ?? 0
            logits += output.storage
        }
        try loaded.confirmVerified()
        let results = files.enumerated().map { row, file in
            ImageResult(image: file.path, top: Prediction.top(
                topk, logits: logits[(row * width)..<((row + 1) * width)], labels: labelNames))
        }
        if json {
            print(try JSONOutput.string(results))
        } else {
            for result in results {
                print(result.image)
                for prediction in result.top {
                    print(String(format: "  %6.2f%%  %@", prediction.probability * 100, prediction.label))
                }
            }
        }
        if !truth.isEmpty {
            let correct = zip(results.suffix(truth.count), truth).filter { $0.top.first?.index == $1 }.count
            print(String(format: "top-1 accuracy: %d of %d (%.2f%%)", correct, truth.count, 100 * Double(correct) / Double(truth.count)))
        }
        if let referenceLogits {
            let reference = try NPY.read(contentsOf: URL(fileURLWithPath: referenceLogits))
            let comparison = try OutputComparison(
                output: Tensor(shape: [files.count, width], storage: logits), reference: reference, atol: 0, rtol: 0)
            print("largest logit difference from PyTorch: \(comparison.maxAbsoluteDifference); "
                + "top-1 agreement \(String(format: "%.2f%%", comparison.top1Agreement * 100))")
        }
    }

    struct ImageResult: Encodable {
        let image: String
        let top: [Prediction]
    }
}

struct PreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess", abstract: "Write the exact tensor a model sees for an image, as .npy.")

    @Argument(help: "Model name (its manifest entry gives the preprocessing).")
    var model: String

    @Argument(help: "Image file.")
    var image: String

    @Option(help: "Official weight file name whose preprocessing to use (default: the model's).")
    var weights: String?

    @Option(help: "Output .npy path.")
    var output: String

    func run() throws {
        let preprocessing = try ModelsManifest.embedded.preprocessing(
            model: model, weightsFile: weights.map { URL(fileURLWithPath: $0).lastPathComponent })
        let tensor = try preprocessing.tensor(from: ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image)))
        try NPY.write(tensor, to: URL(fileURLWithPath: output))
        print("wrote \(output): \(tensor.shape)")
    }
}
