import Foundation
import PthKitModels
import PthKitRuntime
import PthKitSupport

/// Preprocessing and labels for a model, as its manifest entry (or the official weight file) says.
extension ModelsManifest {
    /// The transform the weights expect: the official file's own `transforms()` when `weightsFile` is
    /// one of the model's official files, else the model's default, else ImageNet's. An interpolation
    /// the manifest names but PthKit does not implement is an error, not bilinear: it would silently
    /// change every pixel.
    public func preprocessing(model: String, weightsFile: String? = nil) throws -> Preprocessing {
        let official = weightsFile.flatMap { file in weights(for: model).first { $0.file == file } }
        guard let settings = official?.preprocessing ?? entry(model)?.preprocessing else { return Preprocessing() }
        guard let interpolation = Preprocessing.Interpolation(rawValue: settings.interpolation) else {
            throw Preprocessing.invalid(
                "model \(model): interpolation \(SafeText.quoted(settings.interpolation)) is not one of "
                    + Preprocessing.Interpolation.allCases.map(\.rawValue).joined(separator: ", "))
        }
        // Classification resizes decoded 8-bit images as torchvision resizes PIL images, where Pillow
        // always antialiases; `antialias=False` only changes torchvision's tensor path, which PthKit
        // does not mirror.
        guard settings.antialias else {
            throw Preprocessing.invalid("model \(model): antialias=False resizing (torchvision's tensor path) is not supported")
        }
        return Preprocessing(
            resizeSize: settings.resizeSize, cropSize: settings.cropSize, interpolation: interpolation,
            mean: settings.mean, std: settings.std, grayscale: settings.grayscale ?? false)
    }

    /// The model's label set (ImageNet-1k for torchvision weights), or nil.
    public func labels(model: String) -> [String]? {
        entry(model)?.labels.flatMap { labelSets[$0] }
    }
}

/// The top-k classes of one row of logits.
public struct Prediction: Encodable, Sendable {
    public let index: Int
    public let label: String
    public let probability: Double

    /// Softmax over `logits`, highest `k` first.
    public static func top(_ k: Int, logits: ArraySlice<Float>, labels: [String]?) -> [Prediction] {
        let largest = Double(logits.max() ?? 0)
        let exponentials = logits.map { exp(Double($0) - largest) }
        let total = exponentials.reduce(0, +)
        return OutputComparison.topIndices(logits, max(k, 1)).map { index in
            let label = labels.flatMap { index < $0.count ? $0[index] : nil } ?? String(index)
            return Prediction(index: index, label: label, probability: exponentials[index] / total)
        }
    }
}
