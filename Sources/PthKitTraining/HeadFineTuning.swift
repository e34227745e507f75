import Foundation
import PthKitModels
import PthKitRuntime
import PthKitVision

/// `pthkit finetune-head`: a pretrained model taught new classes. The model is built for the
/// ImageFolder's classes, the backbone loaded with mismatched tensors dropped and frozen, features
/// computed once, a fresh head trained on them, and the full state dict written with the class
/// names beside it.
public enum HeadFineTuning {
    public struct Request: Sendable {
        public var model: String
        public var arguments: ModelArguments
        public var weights: URL
        /// An ImageFolder tree: `data/<class>/<image>`.
        public var data: URL
        /// A separate ImageFolder for validation with the same classes; nil splits `data` instead.
        public var validationData: URL?
        /// The share of each class held out for validation when `validationData` is nil.
        public var validationFraction: Double
        public var settings: HeadTrainingSettings
        public var output: URL
        /// Which part of the checkpoint is the state dict, and prefixes to strip (as `load-check`).
        public var key: String?
        public var stripPrefixes: [String]

        public init(
            model: String, arguments: ModelArguments = ModelArguments(), weights: URL, data: URL,
            validationData: URL? = nil, validationFraction: Double = 0.2, settings: HeadTrainingSettings = HeadTrainingSettings(),
            output: URL, key: String? = nil, stripPrefixes: [String] = []
        ) {
            self.model = model
            self.arguments = arguments
            self.weights = weights
            self.data = data
            self.validationData = validationData
            self.validationFraction = validationFraction
            self.settings = settings
            self.output = output
            self.key = key
            self.stripPrefixes = stripPrefixes
        }
    }

    public enum Event {
        /// The backbone is loaded; `notes` are decisions made for the user.
        case loaded(head: String, dropped: [ShapeMismatch], notes: [String])
        case extracting(done: Int, total: Int)
        case epoch(EpochResult, epochs: Int)
    }

    public struct Summary: Sendable {
        public let classes: [String]
        /// The path of the trained head (`fc`, `classifier.1`).
        public let head: String
        public let trainImages: Int
        public let validationImages: Int
        public let history: [EpochResult]
        public let bestEpoch: Int
        public let output: URL
        public let classNamesFile: URL

        public var best: EpochResult { history[bestEpoch - 1] }
    }

    public static func run(_ request: Request, onEvent: (Event) -> Void = { _ in }) throws -> Summary {
        let folder = try ImageFolder(root: request.data)
        let classes = folder.classes
        guard classes.count >= 2 else {
            throw TrainingError.invalidData("\(request.data.path) has \(classes.count) class folder; a classifier needs at least two")
        }
        let validationFolder = try request.validationData.map { try ImageFolder(root: $0) }
        if let validationFolder, validationFolder.classes != classes {
            throw TrainingError.invalidData(
                "the validation folder's classes \(validationFolder.classes) differ from the training classes \(classes)")
        }
        try request.settings.validate()
        try prepareOutputFolder(request.output)

        let loaded = try loadBackbone(request, classCount: classes.count, onEvent: onEvent)
        let model = loaded.model
        guard let head = model.classifierHead else {
            throw TrainingError.invalidData("\(request.model) has no Linear layer to train")
        }
        Initialization.withSeed(request.settings.seed) { head.layer.resetParameters(outFeatures: classes.count) }

        let preprocessing = try ModelsManifest.embedded.preprocessing(
            model: request.model, weightsFile: request.weights.lastPathComponent)
        let samples = folder.samples + (validationFolder?.samples ?? [])
        let everything = try FeatureExtraction.extract(
            model: model, files: samples.map(\.url), labels: samples.map(\.classIndex), preprocessing: preprocessing,
            onProgress: { onEvent(.extracting(done: $0, total: $1)) })
        // The features already waited for the file's hash (the model's outputs do); the trained
        // head and the written state dict must not even start from a file that failed it.
        try loaded.confirmVerified()
        let trainRows: [Int], validationRows: [Int]
        if validationFolder != nil {
            trainRows = Array(0..<folder.samples.count)
            validationRows = Array(folder.samples.count..<samples.count)
        } else {
            (trainRows, validationRows) = try DatasetSplit.stratified(
                labels: folder.samples.map(\.classIndex), validationFraction: request.validationFraction,
                seed: request.settings.seed)
        }
        let validation = validationRows.isEmpty ? nil : try everything.selecting(validationRows)
        let result = try HeadTraining.train(
            train: everything.selecting(trainRows), validation: validation, weight: head.layer.weight.value.storage.array,
            bias: head.layer.bias?.value.storage.array, classes: classes.count, settings: request.settings,
            onEpoch: { onEvent(.epoch($0, epochs: request.settings.epochs)) })

        head.layer.weight.value = Tensor(shape: head.layer.weight.shape, storage: result.weight)
        if let bias = result.bias { head.layer.bias?.value = Tensor(shape: [classes.count], storage: bias) }
        try model.saveStateDict(to: request.output)
        try ClassNamesFile.write(classes, forWeights: request.output)
        return Summary(
            classes: classes, head: head.path, trainImages: trainRows.count, validationImages: validationRows.count,
            history: result.history, bestEpoch: result.bestEpoch, output: request.output,
            classNamesFile: ClassNamesFile.url(forWeights: request.output))
    }

    /// Creates the output's folder up front, so a bad path fails before the work rather than after.
    private static func prepareOutputFolder(_ output: URL) throws {
        let folder = output.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.invalidSetting("cannot create the output folder \(folder.path) (\(error.localizedDescription))")
        }
    }

    /// The model built for `classCount` classes with the checkpoint's backbone in it. Tensors that
    /// no longer fit (the old head) are dropped; anything else missing means the checkpoint is not
    /// this model's backbone, which training a head cannot repair. An official file's hash is checked
    /// while the features are computed (`VerificationTiming.inBackground`).
    private static func loadBackbone(_ request: Request, classCount: Int, onEvent: (Event) -> Void) throws -> LoadedModel {
        let name = ModelZoo.classCountArgument(for: request.model)
        var arguments = request.arguments
        if arguments.contains(name) {
            var probe = arguments
            guard try probe.int(name, default: classCount) == classCount else {
                throw TrainingError.invalidSetting("\(name) is given, but the data has \(classCount) classes")
            }
        }
        arguments = arguments.setting(name, to: String(classCount))
        let loaded = try ModelZoo.load(
            request.model, arguments: arguments, weights: request.weights,
            options: LoadOptions(
                key: request.key, stripPrefixes: request.stripPrefixes, dropMismatched: true, verificationTiming: .inBackground))
        let head = loaded.model.classifierHead?.path ?? ""
        let dropped = Set(loaded.report.dropped.map(\.key))
        let absent = loaded.report.missingKeys.filter { !dropped.contains($0) && !$0.hasPrefix(head + ".") }
        guard absent.isEmpty else {
            throw TrainingError.invalidData(
                "\(request.weights.path) lacks \(absent.count) backbone tensor(s) of \(request.model), e.g. "
                    + absent.prefix(3).joined(separator: ", "))
        }
        onEvent(.loaded(head: head, dropped: loaded.report.dropped, notes: loaded.notes))
        return loaded
    }
}
