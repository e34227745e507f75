import PthKitRuntime

/// `nn.MaxPool2d`; `stride` defaults to the kernel size, as in PyTorch.
public final class MaxPool2d: Module, @unchecked Sendable {
    public let kernelSize: Pair, stride: Pair, padding: Pair, dilation: Pair
    public let ceilMode: Bool

    public init(kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, dilation: Pair = 1, ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.dilation = dilation
        self.ceilMode = ceilMode
        super.init()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.maxPool2d(
            input, kernel: kernelSize.tuple, stride: stride.tuple, padding: padding.tuple, dilation: dilation.tuple,
            ceilMode: ceilMode)
    }
}

/// `nn.AvgPool2d`.
public final class AvgPool2d: Module, @unchecked Sendable {
    public let kernelSize: Pair, stride: Pair, padding: Pair
    public let ceilMode: Bool, countIncludePad: Bool
    public let divisorOverride: Int?

    public init(
        kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, ceilMode: Bool = false,
        countIncludePad: Bool = true, divisorOverride: Int? = nil
    ) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
        self.divisorOverride = divisorOverride
        super.init()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.avgPool2d(
            input, kernel: kernelSize.tuple, stride: stride.tuple, padding: padding.tuple, ceilMode: ceilMode,
            countIncludePad: countIncludePad, divisorOverride: divisorOverride)
    }
}

/// `nn.AdaptiveAvgPool2d`, with PyTorch's bin boundaries.
public final class AdaptiveAvgPool2d: Module, @unchecked Sendable {
    public let outputSize: Pair

    public init(_ outputSize: Pair) {
        self.outputSize = outputSize
        super.init()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.adaptiveAvgPool2d(input, outputSize: outputSize.tuple)
    }
}

/// `nn.AdaptiveMaxPool2d`.
public final class AdaptiveMaxPool2d: Module, @unchecked Sendable {
    public let outputSize: Pair

    public init(_ outputSize: Pair) {
        self.outputSize = outputSize
        super.init()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.adaptiveMaxPool2d(input, outputSize: outputSize.tuple)
    }
}
