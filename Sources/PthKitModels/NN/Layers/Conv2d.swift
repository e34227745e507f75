import PthKitRuntime

/// `nn.Conv2d`: keys `weight` [out, in/groups, kH, kW] and `bias` [out] when it has one.
public final class Conv2d: Module, @unchecked Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Pair
    public let stride: Pair
    public let padding: Pair
    public let dilation: Pair
    public let groups: Int
    public let weight: Parameter
    public let bias: Parameter?

    public init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Pair, stride: Pair = 1, padding: Pair = 0,
        dilation: Pair = 1, groups: Int = 1, bias: Bool = true
    ) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        let shape = [outChannels, inChannels / max(groups, 1), kernelSize.height, kernelSize.width]
        let bound = Initialization.defaultLayerBound(fanIn: shape[1] * shape[2] * shape[3])
        weight = Parameter.randomUniform(shape: shape, bound: bound)
        self.bias = bias ? Parameter.randomUniform(shape: [outChannels], bound: bound) : nil
        super.init()
        registerParameter("weight", weight)
        if let bias = self.bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.conv2d(
            input, weight: weight.value, bias: bias?.value.storage.array, stride: stride.tuple, padding: padding.tuple,
            dilation: dilation.tuple, groups: groups)
    }

    override var tracedOperation: TracedOperation? {
        .convolution(ConvolutionWeights(
            weight: weight.value, bias: bias?.value.storage.array, stride: stride.tuple, padding: padding.tuple,
            dilation: dilation.tuple, groups: groups))
    }

    /// Zeros of the output's shape, checked as the kernel checks it: a plan needs no values.
    override func tracedOutput(_ input: Tensor) throws -> Tensor {
        let shape = try ConvolutionShape(
            input: input, weight: weight.value, bias: bias?.value.storage.array, stride: stride.tuple,
            padding: padding.tuple, dilation: dilation.tuple, groups: groups)
        return Tensor(zeros: [shape.batch, shape.outputChannels, shape.outputHeight, shape.outputWidth])
    }
}
