import PthKitRuntime

/// The building blocks torchvision's mobile networks share: `ops/misc.py` (`Conv2dNormActivation`,
/// `SqueezeExcitation`) and `models/_utils.py` (`_make_divisible`).

/// `Conv2dNormActivation`: torch builds it as an `nn.Sequential` of the convolution `0`, the norm `1`
/// and the activation `2`; a layer left out closes up the indices, as the Python list does.
final class Conv2dNormActivation: Module, @unchecked Sendable {
    /// torchvision's `norm_layer` argument: a class or `partial` called with the channel count.
    typealias NormLayer = (Int) -> BatchNorm2d
    /// torchvision's `activation_layer` argument: a class called with no arguments.
    typealias ActivationLayer = () -> Module

    let conv: Conv2d, norm: BatchNorm2d?, activation: Module?

    /// `padding` defaults to `(kernel_size - 1) // 2 * dilation` and `bias` to "no norm layer", as in torch.
    init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int = 3, stride: Int = 1, padding: Int? = nil,
        groups: Int = 1, normLayer: NormLayer? = { BatchNorm2d($0) }, activationLayer: ActivationLayer? = ReLU.init,
        dilation: Int = 1, bias: Bool? = nil
    ) {
        let padding = padding ?? (kernelSize - 1) / 2 * dilation
        conv = Conv2d(
            inChannels, outChannels, kernelSize: Pair(kernelSize, kernelSize), stride: Pair(stride, stride),
            padding: Pair(padding, padding), dilation: Pair(dilation, dilation), groups: groups,
            bias: bias ?? (normLayer == nil))
        norm = normLayer?(outChannels)
        activation = activationLayer?()
        super.init()
        for (index, layer) in ([conv, norm, activation] as [Module?]).compactMap({ $0 }).enumerated() {
            registerModule(String(index), layer)
        }
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        var output = try conv(input)
        if let norm { output = try norm(output) }
        if let activation { output = try activation(output) }
        return output
    }
}

/// `SqueezeExcitation`: `input * scale_activation(fc2(activation(fc1(avgpool(input)))))`, one scale per
/// channel and image.
final class SqueezeExcitation: Module, @unchecked Sendable {
    let avgpool = AdaptiveAvgPool2d(1), fc1: Conv2d, fc2: Conv2d
    let activation: Module, scaleActivation: Module

    init(
        _ inputChannels: Int, _ squeezeChannels: Int,
        activation: Conv2dNormActivation.ActivationLayer = ReLU.init,
        scaleActivation: Conv2dNormActivation.ActivationLayer = Sigmoid.init
    ) {
        fc1 = Conv2d(inputChannels, squeezeChannels, kernelSize: 1)
        fc2 = Conv2d(squeezeChannels, inputChannels, kernelSize: 1)
        self.activation = activation()
        self.scaleActivation = scaleActivation()
        super.init()
        registerModule("avgpool", avgpool)
        registerModule("fc1", fc1)
        registerModule("fc2", fc2)
        registerModule("activation", self.activation)
        registerModule("scale_activation", self.scaleActivation)
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        let scale = try scaleActivation(fc2(activation(fc1(avgpool(input)))))
        return try Kernels.multiplyChannels(input, by: scale)
    }
}

/// What the blocks of MobileNetV2 (`InvertedResidual`), MobileNetV3 (`InvertedResidual`) and
/// EfficientNet (`MBConv`) share: one Sequential of layers, registered as `conv` or `block`, whose
/// output gets the input added when the block keeps the shape (stride 1, same channels).
class InvertedResidualBlock: Module, @unchecked Sendable {
    let layers: Sequential
    let useResConnect: Bool

    init(_ name: String, _ layers: [Module], useResConnect: Bool) {
        self.layers = Sequential(layers)
        self.useResConnect = useResConnect
        super.init()
        registerModule(name, self.layers)
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        var result = try layers(input)
        if useResConnect { try result += input }
        return result
    }
}

/// `_make_divisible` (from TensorFlow's MobileNet): `value` rounded to the nearest multiple of
/// `divisor`, at least `minValue` (default `divisor`), and bumped up a step when rounding lost more
/// than 10%. Python's `int()` truncates, as `Int(_:)` does for the positive values used here.
func makeDivisible(_ value: Double, _ divisor: Int, minValue: Int? = nil) -> Int {
    var rounded = max(minValue ?? divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
    if Double(rounded) < 0.9 * value { rounded += divisor }
    return rounded
}
