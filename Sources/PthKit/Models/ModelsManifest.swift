import Foundation

/// `ModelsManifest.json`: per model its family, builder defaults, input size, preprocessing and the
/// official weight files, generated from torchvision's metadata by Scripts/make_models_manifest.py.
public struct ModelsManifest: Decodable, Sendable {
    public struct Entry: Decodable, Sendable {
        public let name: String
        public let family: String
        public let source: String
        public let arguments: [String: ArgumentValue]
        public let inputSize: [Int]
        public let preprocessing: PreprocessingSettings?
        public let labels: String?
        public let weights: [OfficialWeights]

        enum CodingKeys: String, CodingKey {
            case name, family, source, arguments, preprocessing, labels, weights
            case inputSize = "input_size"
        }
    }

    public struct OfficialWeights: Decodable, Sendable {
        public let name: String
        public let file: String
        public let url: String
        public let sha256Prefix: String?
        /// ImageNet-1K accuracy; nil where torchvision lists none.
        public let acc1: Double?
        public let acc5: Double?
        public let numParams: Int
        public let isDefault: Bool
        public let preprocessing: PreprocessingSettings
        /// Builder arguments torchvision sets when it builds the model for these weights
        /// (`image_size` of the ViT SWAG files); nil when the defaults fit.
        public let arguments: [String: ArgumentValue]?

        enum CodingKeys: String, CodingKey {
            case name, file, url, acc1, acc5, preprocessing, arguments
            case sha256Prefix = "sha256_prefix"
            case numParams = "num_params"
            case isDefault = "default"
        }
    }

    /// torchvision's `ImageClassification` transform settings.
    public struct PreprocessingSettings: Decodable, Sendable {
        public let resizeSize: Int
        public let cropSize: Int
        public let interpolation: String
        public let mean: [Float]
        public let std: [Float]
        public let grayscale: Bool?

        enum CodingKeys: String, CodingKey {
            case interpolation, mean, std, grayscale
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
    public let labelSets: [String: [String]]

    enum CodingKeys: String, CodingKey {
        case models
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

    init(models: [Entry], labelSets: [String: [String]]) {
        self.models = models
        self.labelSets = labelSets
    }

    public func entry(_ name: String) -> Entry? {
        models.first { $0.name == name }
    }

    /// The official weight file a path names (`resnet18-f37072fd.pth`), if any.
    public func officialWeights(fileName: String) -> (model: Entry, weights: OfficialWeights)? {
        for model in models {
            if let weights = model.weights.first(where: { $0.file == fileName }) { return (model, weights) }
        }
        return nil
    }
}

extension ModelsManifest {
    /// The manifest as JSON text, exactly as ModelsManifest.json holds it.
    public static var embeddedJSON: String { embeddedModelsManifest }
}
