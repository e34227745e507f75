import PthKitRuntime

/// torchvision's most common layout: `features`, then `avgpool`, flattened, then `classifier`, registered in
/// that order (AlexNet, VGG). Subclasses only build the three parts, so the class name is still torch's.
public class FeaturesPoolClassifier: Module, @unchecked Sendable {
    let features: Module, avgpool: Module, classifier: Module

    init(features: Module, avgpool: Module, classifier: Module) {
        self.features = features
        self.avgpool = avgpool
        self.classifier = classifier
        super.init()
        registerModule("features", features)
        registerModule("avgpool", avgpool)
        registerModule("classifier", classifier)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try classifier(Kernels.flatten(avgpool(features(input)), startDim: 1))
    }
}
