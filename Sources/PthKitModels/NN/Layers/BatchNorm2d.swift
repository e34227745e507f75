import PthKitRuntime

/// `nn.BatchNorm2d` in eval mode: keys `weight`, `bias`, `running_mean`, `running_var`,
/// `num_batches_tracked`. Its `_version` is 2, which decides how old checkpoints load.
public final class BatchNorm2d: Module, @unchecked Sendable {
    public let numFeatures: Int
    public let eps: Double
    public let weight: Parameter?
    public let bias: Parameter?
    public let runningMean: Parameter
    public let runningVar: Parameter
    public let numBatchesTracked: Parameter
    private let affine = DerivedValue<(scale: [Float], shift: [Float])>()

    public init(_ numFeatures: Int, eps: Double = 1e-5, affine: Bool = true) {
        self.numFeatures = numFeatures
        self.eps = eps
        weight = affine ? Parameter(Tensor(shape: [numFeatures], storage: [Float](repeating: 1, count: numFeatures))) : nil
        bias = affine ? Parameter(Tensor(zeros: [numFeatures])) : nil
        runningMean = Parameter(Tensor(zeros: [numFeatures]))
        runningVar = Parameter(Tensor(shape: [numFeatures], storage: [Float](repeating: 1, count: numFeatures)))
        numBatchesTracked = Parameter(Tensor(zeros: []), dtype: .int64)
        super.init()
        if let weight { registerParameter("weight", weight) }
        if let bias { registerParameter("bias", bias) }
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
        registerBuffer("num_batches_tracked", numBatchesTracked)
    }

    public override var metadataVersion: Int { 2 }

    /// The eval-mode affine y = x * scale + shift per channel.
    func scaleAndShift() -> (scale: [Float], shift: [Float]) {
        affine.value(for: [weight, bias, runningMean, runningVar]) {
            Kernels.batchNormScaleShift(
                mean: runningMean.value.storage.array, variance: runningVar.value.storage.array,
                weight: weight?.value.storage.array, bias: bias?.value.storage.array, eps: eps)
        }
    }

    override var tracedOperation: TracedOperation? {
        let (scale, shift) = scaleAndShift()
        return .batchNorm(scale: scale, shift: shift)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank >= 2, input.shape[1] == numFeatures else {
            throw RuntimeError.shapeMismatch(
                operation: "BatchNorm2d", expected: "\(numFeatures) channels", found: "shape \(input.shape)")
        }
        let (scale, shift) = scaleAndShift()
        var output = input
        try Kernels.scaleShiftChannels(&output, scale: scale, shift: shift)
        return output
    }
}
