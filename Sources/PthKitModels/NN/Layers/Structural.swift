import PthKitRuntime

/// `nn.Flatten(start_dim)`.
public final class Flatten: Module, @unchecked Sendable {
    public let startDim: Int

    public init(startDim: Int = 1) {
        self.startDim = startDim
        super.init()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.flatten(input, startDim: startDim)
    }
}

/// `nn.Dropout` (and `Dropout2d`, stochastic depth): the identity in inference, but a child that
/// takes its index in a Sequential.
public final class Dropout: Module, @unchecked Sendable {
    public let probability: Double

    public init(_ probability: Double = 0.5) {
        self.probability = probability
        super.init()
    }

    public override func forward(_ input: Tensor) throws -> Tensor { input }
}

/// `nn.Identity`.
public final class Identity: Module, @unchecked Sendable {
    public override init() { super.init() }
    public override func forward(_ input: Tensor) throws -> Tensor { input }
}

/// `nn.ZeroPad2d((left, right, top, bottom))`; negative amounts crop, as in PyTorch.
public final class ZeroPad2d: Module, @unchecked Sendable {
    public let left: Int, right: Int, top: Int, bottom: Int

    public init(left: Int, right: Int, top: Int, bottom: Int) {
        (self.left, self.right, self.top, self.bottom) = (left, right, top, bottom)
        super.init()
    }

    public convenience init(_ amount: Int) {
        self.init(left: amount, right: amount, top: amount, bottom: amount)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.zeroPad2d(input, left: left, right: right, top: top, bottom: bottom)
    }
}
