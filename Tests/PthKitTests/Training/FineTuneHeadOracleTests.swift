import Foundation
import PthKit
import Testing

/// Custom classes end to end, judged by PyTorch: PthKit trains a new head on the handwritten digits
/// 5-9 over a LeNet5 that PyTorch trained on 0-4 (Examples/digits, Scripts/train_lenet5_digits.py);
/// PyTorch trains the same head with the same settings, loads PthKit's checkpoint strictly and
/// recomputes its logits (Scripts/oracle/finetune_head.py).
@Suite("finetune-head against PyTorch")
struct FineTuneHeadOracleTests {
    static let digits = PythonOracle.packageRoot.appendingPathComponent("Examples/digits")
    /// The settings the README quotes. Adam at 0.01 converges on these unscaled features in 60
    /// epochs; PyTorch's best validation accuracy over seeds 0-7 stays within 96.3-98.1%.
    static let settings = HeadTrainingSettings(
        epochs: 60, learningRate: 0.01, batchSize: 64, optimizer: .adamDefaults, weightDecay: 1e-3, seed: 0)

    @Test(.enabled(if: PythonOracle.shouldRun)) func digitsFiveToNineMatchPyTorch() throws {
        try PythonOracle.require()
        let scratch = try TemporaryFolder()
        let output = scratch.file("digits_5to9.pth")
        let train = Self.digits.appendingPathComponent("digits_5to9/train")
        let validation = Self.digits.appendingPathComponent("digits_5to9/val")
        let backbone = Self.digits.appendingPathComponent("lenet5_digits_0to4.pth")
        let summary = try HeadFineTuning.run(HeadFineTuning.Request(
            model: "lenet5", weights: backbone, data: train, validationData: validation, settings: Self.settings,
            output: output))
        #expect(summary.classes == ["5", "6", "7", "8", "9"])
        #expect(summary.head == "classifier.1")

        // Used as a user would: the class names file sets the class count and the labels.
        let loaded = try ModelZoo.load("lenet5", weights: output)
        #expect(loaded.labels == summary.classes)
        let folder = try ImageFolder(root: validation)
        let logits = try Self.logits(loaded.model, model: "lenet5", images: folder.samples.map(\.url))
        let logitsFile = scratch.file("logits.npy")
        try NPY.write(logits, to: logitsFile)
        // The written head is the best epoch's: its accuracy is the one reported.
        let predicted = (0..<folder.samples.count).map { row in
            OutputComparison.topIndices(logits.storage.array[(row * 5)..<((row + 1) * 5)], 1)[0]
        }
        let accuracy = Double(zip(predicted, folder.samples).filter { $0 == $1.classIndex }.count) / Double(folder.samples.count)
        #expect(abs(accuracy - (summary.best.validationAccuracy ?? -1)) < 1e-9)

        let verdict = try PythonOracle.run("finetune_head.py", [
            "--model", "lenet5", "--backbone", backbone.path, "--train", train.path, "--val", validation.path,
            "--epochs", "60", "--batch", "64", "--optimizer", "adam", "--lr", "0.01", "--weight-decay", "0.001",
            "--seed", "0", "--pthkit-output", output.path, "--pthkit-logits", logitsFile.path,
            "--logit-images", validation.path,
        ])
        let torchBest = try #require((verdict["torch_training"] as? [String: Any])?["best"] as? [String: Any])
        let torchAccuracy = try #require(torchBest["val_accuracy"] as? Double)
        let ours = try #require(summary.best.validationAccuracy)
        #expect(abs(ours - torchAccuracy) <= 0.02, "PthKit \(ours), PyTorch \(torchAccuracy)")
        #expect(ours > 0.9)
        try Self.expectPyTorchReproduces(verdict, classes: summary.classes)
        // The README's figures come from this line.
        let check = verdict["pthkit_output"] as? [String: Any]
        print("finetune-head lenet5 digits 5-9: best validation accuracy PthKit \(Self.percent(ours)) (epoch \(summary.bestEpoch)), "
            + "PyTorch \(Self.percent(torchAccuracy)) (epoch \(torchBest["epoch"] ?? "?")); PyTorch on PthKit's checkpoint: "
            + "largest logit difference \(check?["max_abs_difference"] ?? "?")")
    }

    /// The torchvision case of the issue: `resnet18(num_classes=3).load_state_dict(torch.load(OUT))`.
    @Test(.enabled(if: PythonOracle.shouldRun)) func torchvisionModelLoadsStrictlyInPyTorch() throws {
        try PythonOracle.require()
        let scratch = try TemporaryFolder()
        let backbone = scratch.file("resnet18_random.pth")
        Initialization.seed(11)
        try ModelZoo.build("resnet18").saveStateDict(to: backbone)
        let data = scratch.file("data")
        try Self.copyDigits(["cat": "5", "dog": "7", "owl": "9"], perClass: 2, into: data)
        let output = scratch.file("animals.pth")
        let summary = try HeadFineTuning.run(HeadFineTuning.Request(
            model: "resnet18", weights: backbone, data: data, validationFraction: 0,
            settings: HeadTrainingSettings(epochs: 3, learningRate: 0.01, batchSize: 4), output: output))
        #expect(summary.head == "fc")
        #expect(summary.validationImages == 0)

        let loaded = try ModelZoo.load("resnet18", weights: output)
        #expect(loaded.labels == ["cat", "dog", "owl"])
        let folder = try ImageFolder(root: data)
        let logitsFile = scratch.file("logits.npy")
        try NPY.write(Self.logits(loaded.model, model: "resnet18", images: folder.samples.map(\.url)), to: logitsFile)
        let verdict = try PythonOracle.run("finetune_head.py", [
            "--model", "resnet18", "--pthkit-output", output.path, "--pthkit-logits", logitsFile.path,
            "--logit-images", data.path,
        ])
        try Self.expectPyTorchReproduces(verdict, classes: summary.classes)
    }

    @Test func aBackboneOfAnotherModelIsRefused() throws {
        let scratch = try TemporaryFolder()
        let data = scratch.file("data")
        try Self.copyDigits(["a": "5", "b": "6"], perClass: 2, into: data)
        let request = HeadFineTuning.Request(
            model: "alexnet_half", weights: Self.digits.appendingPathComponent("lenet5_digits_0to4.pth"), data: data,
            output: scratch.file("out.pth"))
        #expect(throws: TrainingError.self) { try HeadFineTuning.run(request) }
        var oneClass = request
        oneClass.model = "lenet5"
        oneClass.data = scratch.file("one")
        try Self.copyDigits(["a": "5"], perClass: 2, into: oneClass.data)
        #expect(throws: TrainingError.self) { try HeadFineTuning.run(oneClass) }
        var missing = request
        missing.data = scratch.file("missing")
        #expect(throws: ImageFolderError.self) { try HeadFineTuning.run(missing) }
        var wrongCount = request
        wrongCount.model = "lenet5"
        wrongCount.arguments = ModelArguments(["num_classes": "7"])
        #expect(throws: TrainingError.self) { try HeadFineTuning.run(wrongCount) }
    }

    // MARK: - Helpers

    static func percent(_ fraction: Double) -> String { String(format: "%.2f%%", fraction * 100) }

    static func expectPyTorchReproduces(_ verdict: [String: Any], classes: [String]) throws {
        let check = try #require(verdict["pthkit_output"] as? [String: Any])
        #expect(check["strict_load"] as? Bool == true)
        #expect(check["class_names"] as? [String] == classes)
        #expect(check["folder_classes"] as? [String] == classes)
        let difference = try #require(check["max_abs_difference"] as? Double)
        let scale = max(1, check["logit_scale"] as? Double ?? 1)
        #expect(difference <= 1e-4 * scale, "largest logit difference \(difference) at scale \(scale)")
        #expect(check["top1_agreement"] as? Double == 1)
    }

    static func logits(_ model: Module, model name: String, images: [URL]) throws -> Tensor {
        let preprocessing = try ModelsManifest.embedded.preprocessing(model: name)
        return try model(preprocessing.tensor(from: images.map { try ImageDecoder.decode(contentsOf: $0) }))
    }

    /// A small ImageFolder of renamed digit classes: `classes` maps a new class name to a digit.
    static func copyDigits(_ classes: [String: String], perClass: Int, into folder: URL) throws {
        let manager = FileManager.default
        for (name, digit) in classes {
            let source = digits.appendingPathComponent("digits_5to9/val/\(digit)")
            let target = folder.appendingPathComponent(name)
            try manager.createDirectory(at: target, withIntermediateDirectories: true)
            for file in try manager.contentsOfDirectory(atPath: source.path).sorted().prefix(perClass) {
                try manager.copyItem(at: source.appendingPathComponent(file), to: target.appendingPathComponent(file))
            }
        }
    }
}
