import PthKitRuntime

/// The classifier head of a classification network and what transfer learning does with it.
extension Module {
    /// The last Linear in registration order (`fc`, `classifier.1`, `classifier.6`, ...), with its path.
    public var classifierHead: (path: String, layer: Linear)? {
        guard let last = namedModules().last(where: { $0.module is Linear }), let layer = last.module as? Linear
        else { return nil }
        return (last.name, layer)
    }

    /// Swaps the head for one with `numClasses` outputs, freshly initialized as PyTorch's Linear is.
    public func replaceHead(numClasses: Int) throws {
        guard numClasses > 0 else {
            throw RuntimeError.invalidArgument(operation: "replaceHead", reason: "num_classes must be positive")
        }
        guard let head = classifierHead else {
            throw RuntimeError.invalidArgument(operation: "replaceHead", reason: "\(typeName) has no Linear layer")
        }
        head.layer.resetParameters(outFeatures: numClasses)
    }
}
