import PthKitRuntime

/// Building blocks torchvision's transformer-era models share: `ops/misc.py`'s `MLP` and the
/// `StochasticDepth` slot of its residual blocks.

/// `ops.misc.MLP(in_channels, hidden_channels, activation_layer, dropout)` without a norm layer:
/// torch builds it as an `nn.Sequential` of Linear, activation, Dropout per hidden layer and a last
/// Linear and Dropout, so the Linears are `0` and `3` for two layers.
class MLP: Module, @unchecked Sendable {
    private let layers: [Module]

    init(_ inChannels: Int, _ hiddenChannels: [Int], activationLayer: () -> Module = GELU.init, dropout: Double) {
        var layers: [Module] = []
        var inDim = inChannels
        for hidden in hiddenChannels.dropLast() {
            layers += [Linear(inDim, hidden), activationLayer(), Dropout(dropout)]
            inDim = hidden
        }
        if let last = hiddenChannels.last { layers += [Linear(inDim, last), Dropout(dropout)] }
        self.layers = layers
        super.init()
        for (index, layer) in layers.enumerated() { registerModule(String(index), layer) }
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        try layers.reduce(input) { x, layer in try layer(x) }
    }
}

/// `StochasticDepth(p, "row")`: drops whole residual branches in training, the identity in
/// inference. A child without keys, registered where torch registers it.
typealias StochasticDepth = Dropout
