/// Every architecture PthKit builds, by the names the CLI and `ModelsManifest.json` use.
public enum ModelZoo {
    public typealias Builder = @Sendable (inout ModelArguments) throws -> Module

    /// Each family contributes a table of builders; the union is the zoo.
    static let families: [[String: Builder]] = [
        resnetBuilders,
        mobilenetV2Builders, mobilenetV3Builders, efficientnetBuilders,
        convnextBuilders, visionTransformerBuilders, swinBuilders, maxvitBuilders,
        alexnetBuilders, vggBuilders, googlenetBuilders, shufflenetBuilders,
        pytorchModelsNotebookBuilders, efficientnetLetteredBuilders, mobilenetChapterBuilders,
        efficientNetSamePaddingBuilders, lesson16Builders,
        squeezenetBuilders, densenetBuilders, mnasnetBuilders, regnetBuilders, inceptionBuilders,
        efficientnetV2Builders,
    ]

    static let builders: [String: Builder] = families.reduce(into: [:]) { all, family in
        all.merge(family) { first, _ in first }
    }

    public static var names: [String] { builders.keys.sorted() }

    /// Builds `name` with builder arguments such as `num_classes` (freshly initialized weights).
    public static func build(_ name: String, arguments: ModelArguments = ModelArguments()) throws -> Module {
        guard let builder = builders[name] else { throw ModelError.unknownModel(name, known: names) }
        var arguments = arguments
        let model = try builder(&arguments)
        try arguments.requireAllRead(model: name)
        return model
    }
}

extension ModelZoo {
    /// The builder argument that sets the number of classes: torchvision's `num_classes`, or
    /// `n_classes` where a design document's constructor spells it so.
    public static func classCountArgument(for name: String) -> String {
        nClassesModels.contains(name) ? "n_classes" : "num_classes"
    }

    private static let nClassesModels = Set(mobilenetChapterBuilders.keys).union(efficientNetSamePaddingBuilders.keys)
}
