/// torchvision `models/vgg.py`: VGG 11/13/16/19, with and without batch norm, key for key.
public final class VGG: FeaturesPoolClassifier, @unchecked Sendable {
    /// An entry of torchvision's `cfgs`: a 3x3 convolution's width, or `M` for a 2x2 max pool.
    enum Layer: ExpressibleByIntegerLiteral {
        case conv(Int)
        case M

        init(integerLiteral width: Int) { self = .conv(width) }
    }

    init(features: Sequential, numClasses: Int, dropout: Double) {
        super.init(
            features: features, avgpool: AdaptiveAvgPool2d(7),
            classifier: Sequential(
                Linear(512 * 7 * 7, 4096), ReLU(), Dropout(dropout),
                Linear(4096, 4096), ReLU(), Dropout(dropout),
                Linear(4096, numClasses)))
    }

    /// torchvision's `make_layers`: each width becomes conv (+ batch norm) + ReLU, so the batch norm
    /// shifts the indices of everything after it.
    static func makeLayers(_ configuration: [Layer], batchNorm: Bool) -> Sequential {
        var layers: [Module] = []
        var inChannels = 3
        for layer in configuration {
            switch layer {
            case .M:
                layers.append(MaxPool2d(kernelSize: 2, stride: 2))
            case .conv(let width):
                layers.append(Conv2d(inChannels, width, kernelSize: 3, padding: 1))
                if batchNorm { layers.append(BatchNorm2d(width)) }
                layers.append(ReLU())
                inChannels = width
            }
        }
        return Sequential(layers)
    }
}

extension ModelZoo {
    /// torchvision's `cfgs` A, B, D, E.
    private static let vggConfigurations: [String: [VGG.Layer]] = [
        "vgg11": [64, .M, 128, .M, 256, 256, .M, 512, 512, .M, 512, 512, .M],
        "vgg13": [64, 64, .M, 128, 128, .M, 256, 256, .M, 512, 512, .M, 512, 512, .M],
        "vgg16": [64, 64, .M, 128, 128, .M, 256, 256, 256, .M, 512, 512, 512, .M, 512, 512, 512, .M],
        "vgg19": [64, 64, .M, 128, 128, .M, 256, 256, 256, 256, .M, 512, 512, 512, 512, .M, 512, 512, 512, 512, .M],
    ]

    static let vggBuilders: [String: Builder] = vggConfigurations.reduce(into: [:]) { builders, entry in
        for batchNorm in [false, true] {
            builders[entry.key + (batchNorm ? "_bn" : "")] = { arguments in
                let numClasses = try arguments.numClasses()
                let dropout = try arguments.double("dropout", default: 0.5, in: 0...1)
                // Accepted as torchvision does; it only chooses the initial weights, which a checkpoint replaces.
                _ = try arguments.bool("init_weights", default: true)
                return VGG(
                    features: VGG.makeLayers(entry.value, batchNorm: batchNorm), numClasses: numClasses,
                    dropout: dropout)
            }
        }
    }
}
