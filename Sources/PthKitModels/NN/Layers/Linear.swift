import PthKitRuntime

/// `nn.Linear`: keys `weight` [out, in] and `bias` [out].
public final class Linear: Module, @unchecked Sendable {
    public private(set) var inFeatures: Int
    public private(set) var outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = Initialization.defaultLayerBound(fanIn: inFeatures)
        weight = Parameter.randomUniform(shape: [outFeatures, inFeatures], bound: bound)
        self.bias = bias ? Parameter.randomUniform(shape: [outFeatures], bound: bound) : nil
        super.init()
        registerParameter("weight", weight)
        if let bias = self.bias { registerParameter("bias", bias) }
    }

    /// Fresh PyTorch-default weights for `outFeatures` outputs: how a classifier head is replaced
    /// for new classes while every reference to this layer stays valid.
    public func resetParameters(outFeatures: Int) {
        self.outFeatures = outFeatures
        let bound = Initialization.defaultLayerBound(fanIn: inFeatures)
        weight.resetToRandomUniform(shape: [outFeatures, inFeatures], bound: bound)
        bias?.resetToRandomUniform(shape: [outFeatures], bound: bound)
    }

    override var tracedOperation: TracedOperation? {
        .linear(weight: weight.value, bias: bias?.value.storage.array)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.linear(input, weight: weight.value, bias: bias?.value.storage.array)
    }

    /// Zeros of the output's shape, the input checked as the kernel checks it: a plan needs no
    /// values, and a transformer's products would make compiling cost a forward pass.
    override func tracedOutput(_ input: Tensor) throws -> Tensor {
        let shape = weight.shape
        guard shape.count == 2, input.shape.last == shape[1], bias.map({ $0.shape == [shape[0]] }) ?? true else {
            return try forward(input)  // the kernel reports what does not fit
        }
        return Tensor(zeros: try Kernels.resultShape(input.shape.dropLast() + [shape[0]], "linear"))
    }
}
