/// torchvision `models/alexnet.py` (the "one weird trick" variant), key for key.
public final class AlexNet: FeaturesPoolClassifier, @unchecked Sendable {
    init(numClasses: Int, dropout: Double) {
        super.init(
            features: Sequential(
                Conv2d(3, 64, kernelSize: 11, stride: 4, padding: 2), ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2),
                Conv2d(64, 192, kernelSize: 5, padding: 2), ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2),
                Conv2d(192, 384, kernelSize: 3, padding: 1), ReLU(),
                Conv2d(384, 256, kernelSize: 3, padding: 1), ReLU(),
                Conv2d(256, 256, kernelSize: 3, padding: 1), ReLU(),
                MaxPool2d(kernelSize: 3, stride: 2)),
            avgpool: AdaptiveAvgPool2d(6),
            classifier: Sequential(
                Dropout(dropout), Linear(256 * 6 * 6, 4096), ReLU(),
                Dropout(dropout), Linear(4096, 4096), ReLU(),
                Linear(4096, numClasses)))
    }
}

extension ModelZoo {
    static let alexnetBuilders: [String: Builder] = [
        "alexnet": { arguments in
            AlexNet(
                numClasses: try arguments.numClasses(),
                dropout: try arguments.double("dropout", default: 0.5, in: 0...1))
        },
    ]
}
