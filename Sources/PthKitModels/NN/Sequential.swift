import PthKitRuntime

/// `nn.Sequential`: children named `0`, `1`, ... (or given names), applied in order.
public final class Sequential: Module, @unchecked Sendable {
    public convenience init(_ modules: Module...) {
        self.init(modules)
    }

    public init(_ modules: [Module]) {
        super.init()
        for (index, module) in modules.enumerated() { registerModule(String(index), module) }
    }

    /// A Sequential built from an OrderedDict, with names such as `stem_conv` or `1a`.
    public init(named modules: [(String, Module)]) {
        super.init()
        for (name, module) in modules { registerModule(name, module) }
    }

    public var count: Int { children.count }

    public subscript(index: Int) -> Module { children[index].module }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try children.reduce(input) { output, child in try child.module(output) }
    }
}
