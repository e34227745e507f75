import PthKitRuntime

/// `nn.LayerNorm(normalized_shape)` over the last dimension: keys `weight` and `bias` [C].
public class LayerNorm: Module, @unchecked Sendable {
    public let normalizedShape: Int
    public let eps: Double
    public let weight: Parameter?
    public let bias: Parameter?

    public init(_ normalizedShape: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.normalizedShape = normalizedShape
        self.eps = eps
        weight = elementwiseAffine
            ? Parameter(Tensor(shape: [normalizedShape], storage: [Float](repeating: 1, count: normalizedShape))) : nil
        self.bias = elementwiseAffine && bias ? Parameter(Tensor(zeros: [normalizedShape])) : nil
        super.init()
        if let weight { registerParameter("weight", weight) }
        if let bias = self.bias { registerParameter("bias", bias) }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.layerNorm(input, weight: weight?.value.storage.array, bias: bias?.value.storage.array, eps: eps)
    }
}

/// torchvision's `LayerNorm2d` (ConvNeXt): a LayerNorm over the channels of [N, C, H, W].
public final class LayerNorm2d: LayerNorm, @unchecked Sendable {
    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.layerNormChannels(input, weight: weight?.value.storage.array, bias: bias?.value.storage.array, eps: eps)
    }
}

/// torchvision's `ops.misc.Permute(dims)`: `x.permute(dims)`, a child without keys.
public final class Permute: Module, @unchecked Sendable {
    public let dims: [Int]

    public init(_ dims: [Int]) {
        self.dims = dims
        super.init()
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try Kernels.permute(input, dims)
    }
}
