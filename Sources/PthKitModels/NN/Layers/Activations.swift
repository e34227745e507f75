import PthKitRuntime

/// Element-wise activations as modules, so they hold their index in a Sequential as in PyTorch.
public class Activation: Module, @unchecked Sendable {
    let kind: Kernels.Activation

    init(_ kind: Kernels.Activation) {
        self.kind = kind
        super.init()
    }

    override var tracedOperation: TracedOperation? { .activation(kind) }

    public override func forward(_ input: Tensor) throws -> Tensor {
        Kernels.activated(input, kind)
    }
}

public final class ReLU: Activation, @unchecked Sendable { public init() { super.init(.relu) } }
public final class ReLU6: Activation, @unchecked Sendable { public init() { super.init(.relu6) } }
public final class Hardswish: Activation, @unchecked Sendable { public init() { super.init(.hardswish) } }
public final class Hardsigmoid: Activation, @unchecked Sendable { public init() { super.init(.hardsigmoid) } }
public final class SiLU: Activation, @unchecked Sendable { public init() { super.init(.silu) } }
public final class Sigmoid: Activation, @unchecked Sendable { public init() { super.init(.sigmoid) } }
public final class Tanh: Activation, @unchecked Sendable { public init() { super.init(.tanh) } }
public final class GELU: Activation, @unchecked Sendable { public init() { super.init(.gelu) } }

/// `nn.Softmax(dim)`.
public final class Softmax: Module, @unchecked Sendable {
    public let dim: Int

    public init(dim: Int) {
        self.dim = dim
        super.init()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.softmax(input, dim: dim)
    }
}
