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
    private let folded = DerivedValue<(weight: Tensor, bias: [Float])>()

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
        weight = Parameter(Tensor(shape: shape, storage: Initialization.uniform(count: shape.reduce(1, *), bound: bound)))
        self.bias = bias ? Parameter(Tensor(shape: [outChannels], storage: Initialization.uniform(count: outChannels, bound: bound))) : nil
        super.init()
        registerParameter("weight", weight)
        if let bias = self.bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.conv2d(
            input, weight: weight.value, bias: bias?.value.storage, stride: stride.tuple, padding: padding.tuple,
            dilation: dilation.tuple, groups: groups)
    }

    /// `batchNorm(conv(x))` computed as one convolution with the batch norm folded into the weights:
    /// w' = w * scale, b' = b * scale + shift per output channel. Exact up to float rounding, and
    /// rebuilt whenever either layer's parameters change.
    public func forward(_ input: Tensor, foldingIn batchNorm: BatchNorm2d) throws -> Tensor {
        try forward(input, foldingIn: batchNorm, then: nil)
    }

    /// `activation(batchNorm(conv(x)))`, either of the two optional: the batch norm folded as above,
    /// the activation applied by the convolution kernel to its output while it is in cache, which
    /// gives the same values as running the activation module after it, without another pass over
    /// memory and a copy.
    public func forward(_ input: Tensor, foldingIn batchNorm: BatchNorm2d?, then activation: Activation?) throws -> Tensor {
        guard batchNorm != nil || activation != nil else { return try self(input) }
        if let batchNorm, batchNorm.numFeatures != outChannels {
            let normalized = try batchNorm.forward(forward(input))
            return try activation.map { try $0(normalized) } ?? normalized
        }
        let weights: (weight: Tensor, bias: [Float]?)
        if let batchNorm {
            weights = foldedWeights(batchNorm)
        } else {
            weights = (weight.value, bias?.value.storage)
        }
        let output = try Kernels.conv2d(
            input, weight: weights.weight, bias: weights.bias, stride: stride.tuple, padding: padding.tuple,
            dilation: dilation.tuple, groups: groups, activation: activation?.kind)
        if let trace = ForwardTrace.current {
            trace.record(self, output: output)
            if let batchNorm { trace.record(batchNorm, output: output) }
            if let activation { trace.record(activation, output: output) }
        }
        return output
    }

    private func foldedWeights(_ batchNorm: BatchNorm2d) -> (weight: Tensor, bias: [Float]?) {
        let parameters: [Parameter?] = [weight, bias] + batchNorm.foldedParameters
        let fused = folded.value(for: parameters) {
            let (scale, shift) = batchNorm.scaleAndShift()
            var foldedWeight = weight.value
            let perChannel = foldedWeight.count / max(outChannels, 1)
            foldedWeight.storage.withUnsafeMutableBufferPointer { values in
                for channel in 0..<outChannels {
                    for index in (channel * perChannel)..<((channel + 1) * perChannel) { values[index] *= scale[channel] }
                }
            }
            let originalBias = bias?.value.storage ?? [Float](repeating: 0, count: outChannels)
            let foldedBias = (0..<outChannels).map { originalBias[$0] * scale[$0] + shift[$0] }
            return (foldedWeight, foldedBias)
        }
        return (fused.weight, fused.bias)
    }
}
