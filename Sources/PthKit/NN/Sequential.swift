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
        var output = input
        var index = 0
        while index < children.count {
            let module = children[index].module
            // A batch norm right after a convolution is folded into the convolution's weights, and
            // an activation after either is applied by the convolution kernel.
            if let convolution = module as? Conv2d {
                let batchNorm = children.dropFirst(index + 1).first?.module as? BatchNorm2d
                let next = index + 1 + (batchNorm == nil ? 0 : 1)
                let activation = children.dropFirst(next).first?.module as? Activation
                output = try convolution.forward(output, foldingIn: batchNorm, then: activation)
                index = next + (activation == nil ? 0 : 1)
                continue
            }
            output = try module(output)
            index += 1
        }
        return output
    }
}
