import Foundation

/// `ModelsManifest.json`: per model PthKit builds its family, builder defaults, input size and
/// preprocessing; per torchvision model name, built yet or not, its official weight files with each one's
/// own preprocessing. Generated from torchvision's metadata by Scripts/make_models_manifest.py.
public struct ModelsManifest: Decodable, Sendable {
    public struct Entry: Decodable, Sendable {
        public let name: String
        public let family: String
        public let source: String
        public let arguments: [String: ArgumentValue]
        public let inputSize: [Int]
        public let preprocessing: PreprocessingSettings?
        public let labels: String?

        enum CodingKeys: String, CodingKey {
            case name, family, source, arguments, preprocessing, labels
            case inputSize = "input_size"
        }
    }

    /// One official weight file: a torchvision weight enum entry (`ResNet50_Weights.IMAGENET1K_V2`), or an
    /// older file a design document links to (`source` names the document).
    public struct OfficialWeights: Decodable, Sendable {
        /// The enum entry's name (`IMAGENET1K_SWAG_E2E_V1`); `PRE_1_6_ORIGINAL` for a design document's
        /// older upload.
        public let name: String
        public let file: String
        public let url: String
        /// The hex digits in the file name, which its sha256 must start with (torch.hub's `check_hash`).
        public let sha256Prefix: String?
        /// `torchvision` or `design-docs/<document>`.
        public let source: String
        public let isDefault: Bool
        public let numParams: Int
        /// Smallest input (height, width) the weights' model accepts.
        public let minSize: [Int]
        /// The label set of `labelSets`; nil for weights without a meaningful classifier.
        public let labels: String?
        /// ImageNet-1K accuracy; nil where torchvision lists none.
        public let acc1: Double?
        public let acc5: Double?
        /// The weights' own `transforms()`.
        public let preprocessing: PreprocessingSettings
        /// Builder arguments torchvision sets when it builds the model for these weights
        /// (`image_size` of the ViT SWAG files); nil when the defaults fit.
        public let arguments: [String: ArgumentValue]?
        /// `RenameRule`s (CLI form) torchvision applies to the file's keys when its builder loads it:
        /// DenseNet's files still use the keys of torchvision 0.2 (`norm.1.weight`); nil when none.
        public let keyRenames: [String]?

        enum CodingKeys: String, CodingKey {
            case name, file, url, source, labels, acc1, acc5, preprocessing, arguments
            case keyRenames = "key_renames"
            case sha256Prefix = "sha256_prefix"
            case isDefault = "default"
            case numParams = "num_params"
            case minSize = "min_size"
        }
    }

    /// torchvision's `ImageClassification` transform settings.
    public struct PreprocessingSettings: Decodable, Sendable {
        public let resizeSize: Int
        public let cropSize: Int
        public let interpolation: String
        /// torchvision's `Resize(antialias=)`; every official weight asks for true.
        public let antialias: Bool
        public let mean: [Float]
        public let std: [Float]
        public let grayscale: Bool?

        enum CodingKeys: String, CodingKey {
            case interpolation, antialias, mean, std, grayscale
            case resizeSize = "resize_size"
            case cropSize = "crop_size"
        }
    }

    /// A builder default as JSON has it (number, bool or string), printable as `--arg` would take it.
    public enum ArgumentValue: Decodable, Sendable, CustomStringConvertible {
        case number(Double), bool(Bool), text(String)

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                self = .bool(flag)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else {
                self = .text(try container.decode(String.self))
            }
        }

        public var description: String {
            switch self {
            case .number(let value): return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
            case .bool(let flag): return flag ? "True" : "False"
            case .text(let text): return text
            }
        }
    }

    public let models: [Entry]
    /// Every torchvision classification model's official files by model name, including models PthKit
    /// does not build yet: their files are still recognised, hash-checked and explained.
    public let officialWeights: [String: [OfficialWeights]]
    public let labelSets: [String: [String]]

    enum CodingKeys: String, CodingKey {
        case models
        case officialWeights = "official_weights"
        case labelSets = "label_sets"
    }

    /// The manifest compiled into the library, decoded once. A manifest that fails to decode is an
    /// error for every caller, never an empty manifest that would make every model look unknown.
    public static var embedded: ModelsManifest {
        get throws { try decodedEmbedded.get() }
    }

    private static let decodedEmbedded = Result { try decodeEmbedded() }

    public static func decodeEmbedded() throws -> ModelsManifest {
        try JSONDecoder().decode(ModelsManifest.self, from: Data(embeddedModelsManifest.utf8))
    }

    init(models: [Entry], officialWeights: [String: [OfficialWeights]] = [:], labelSets: [String: [String]]) {
        self.models = models
        self.officialWeights = officialWeights
        self.labelSets = labelSets
    }

    public func entry(_ name: String) -> Entry? {
        models.first { $0.name == name }
    }

    /// The official files of model `name` (none for the design documents' own networks).
    public func weights(for name: String) -> [OfficialWeights] {
        officialWeights[name] ?? []
    }

    /// The official weight file a path names (`resnet18-f37072fd.pth`), if any, and the model it is for,
    /// which PthKit may not build yet (see `entry`).
    public func officialWeights(fileName: String) -> (model: String, weights: OfficialWeights)? {
        for (model, files) in officialWeights {
            if let weights = files.first(where: { $0.file == fileName }) { return (model, weights) }
        }
        return nil
    }
}

extension ModelsManifest {
    /// The manifest as JSON text, exactly as ModelsManifest.json holds it.
    public static var embeddedJSON: String { embeddedModelsManifest }
}
