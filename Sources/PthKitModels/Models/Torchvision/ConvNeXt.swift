import PthKitRuntime

/// torchvision `models/convnext.py` (ConvNeXt Tiny, Small, Base, Large), key for key.

/// `CNBlock`: depthwise 7x7, then channels-last LayerNorm, an MLP with GELU and back, the branch
/// scaled per channel by `layer_scale` before the residual sum.
final class CNBlock: Module, @unchecked Sendable {
    let layerScale: Parameter
    let block: Sequential

    init(_ dim: Int, layerScale: Double, stochasticDepthProb: Double) {
        block = Sequential(
            Conv2d(dim, dim, kernelSize: 7, padding: 3, groups: dim, bias: true),
            Permute([0, 2, 3, 1]),
            LayerNorm(dim, eps: 1e-6),
            Linear(dim, 4 * dim),
            GELU(),
            Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]))
        self.layerScale = Parameter(Tensor(shape: [dim, 1, 1], storage: [Float](repeating: Float(layerScale), count: dim)))
        super.init()
        registerParameter("layer_scale", self.layerScale)
        registerModule("block", block)
        registerModule("stochastic_depth", StochasticDepth(stochasticDepthProb))
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        var result = try Kernels.multiply(layerScale.value, block(input))
        try result += input
        return result
    }
}

public final class ConvNeXt: FeaturesPoolClassifier, @unchecked Sendable {
    /// `CNBlockConfig`: a stage's width, the width its downsampling layer leads to (nil for the
    /// last stage), and its number of blocks.
    struct CNBlockConfig {
        let inputChannels: Int, outChannels: Int?, numLayers: Int
    }

    init(blockSetting: [CNBlockConfig], stochasticDepthProb: Double, layerScale: Double, numClasses: Int) throws {
        guard let first = blockSetting.first, let last = blockSetting.last else {
            throw ModelError.invalidConfiguration("The block_setting should not be empty")
        }
        let normLayer = { (channels: Int) in LayerNorm2d(channels, eps: 1e-6) }
        var layers: [Module] = [
            Sequential(
                Conv2d(3, first.inputChannels, kernelSize: 4, stride: 4, padding: 0, bias: true),
                normLayer(first.inputChannels)),
        ]
        let totalStageBlocks = blockSetting.reduce(0) { $0 + $1.numLayers }
        var stageBlockID = 0
        for cnf in blockSetting {
            var stage: [Module] = []
            for _ in 0..<cnf.numLayers {
                // The drop rate grows linearly with depth; it only matters in training.
                let sdProb = stochasticDepthProb * Double(stageBlockID) / max(Double(totalStageBlocks) - 1, 1)
                stage.append(CNBlock(cnf.inputChannels, layerScale: layerScale, stochasticDepthProb: sdProb))
                stageBlockID += 1
            }
            layers.append(Sequential(stage))
            if let outChannels = cnf.outChannels {
                layers.append(Sequential(
                    normLayer(cnf.inputChannels), Conv2d(cnf.inputChannels, outChannels, kernelSize: 2, stride: 2)))
            }
        }
        let lastconvOutputChannels = last.outChannels ?? last.inputChannels
        super.init(
            features: Sequential(layers), avgpool: AdaptiveAvgPool2d(1),
            classifier: Sequential(
                normLayer(lastconvOutputChannels), Flatten(startDim: 1), Linear(lastconvOutputChannels, numClasses)))
    }

    /// torch feeds the pooled [N, C, 1, 1] to the classifier, whose LayerNorm2d needs it unflattened.
    public override func forward(_ input: Tensor) throws -> Tensor {
        try classifier(avgpool(features(input)))
    }
}

extension ModelZoo {
    /// name -> (stages as (channels, blocks), stochastic_depth_prob default): torchvision's builders.
    private static let convnextConfigurations: [String: ([(Int, Int)], Double)] = [
        "convnext_tiny": ([(96, 3), (192, 3), (384, 9), (768, 3)], 0.1),
        "convnext_small": ([(96, 3), (192, 3), (384, 27), (768, 3)], 0.4),
        "convnext_base": ([(128, 3), (256, 3), (512, 27), (1024, 3)], 0.5),
        "convnext_large": ([(192, 3), (384, 3), (768, 27), (1536, 3)], 0.5),
    ]

    static let convnextBuilders: [String: Builder] = convnextConfigurations.mapValues { configuration in
        { arguments in
            let (stages, stochasticDepthProb) = configuration
            let setting = stages.indices.map { index in
                ConvNeXt.CNBlockConfig(
                    inputChannels: stages[index].0, outChannels: index + 1 < stages.count ? stages[index + 1].0 : nil,
                    numLayers: stages[index].1)
            }
            return try ConvNeXt(
                blockSetting: setting,
                stochasticDepthProb: try arguments.double("stochastic_depth_prob", default: stochasticDepthProb, in: 0...1),
                layerScale: try arguments.double("layer_scale", default: 1e-6, in: -1e6...1e6),
                numClasses: try arguments.numClasses())
        }
    }
}
