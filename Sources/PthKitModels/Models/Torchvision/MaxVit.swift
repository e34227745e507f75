import Foundation
import PthKitRuntime

/// torchvision `models/maxvit.py` (MaxViT-T), key for key: stages of MBConv followed by attention
/// within 7x7 windows ("window") and across a 7x7 grid of the whole map ("grid").

public final class MaxVit: Module, @unchecked Sendable {
    let stem: Sequential, blocks: Sequential, classifier: Sequential

    /// `input_size` fixes every stage's grid; torch checks that each is divisible by the partition size.
    init(
        inputSize: [Int], stemChannels: Int, partitionSize: Int, blockChannels: [Int], blockLayers: [Int], headDim: Int,
        stochasticDepthProb: Double, squeezeRatio: Double, expansionRatio: Double, mlpRatio: Int, numClasses: Int
    ) throws {
        guard inputSize.count == 2, let lastChannels = blockChannels.last, blockChannels.count == blockLayers.count else {
            throw ModelError.invalidConfiguration("input_size must be (height, width), one block per channel count")
        }
        var grid = Self.convOutputShape(inputSize)
        var blockInputSizes: [[Int]] = []
        for _ in blockChannels {
            grid = Self.convOutputShape(grid)
            blockInputSizes.append(grid)
        }
        for (index, size) in blockInputSizes.enumerated() where size[0] % partitionSize != 0 || size[1] % partitionSize != 0 {
            throw ModelError.invalidConfiguration(
                "Input size \(size) of block \(index) is not divisible by partition size \(partitionSize). "
                    + "Current configuration yields the following block input sizes: \(blockInputSizes).")
        }
        let normLayer = { (channels: Int) in BatchNorm2d(channels, eps: 1e-3) }
        stem = Sequential(
            Conv2dNormActivation(
                3, stemChannels, kernelSize: 3, stride: 2, normLayer: normLayer, activationLayer: GELU.init, bias: false),
            Conv2dNormActivation(stemChannels, stemChannels, kernelSize: 3, stride: 1, normLayer: nil, activationLayer: nil, bias: true))
        let total = blockLayers.reduce(0, +)
        // np.linspace(0, stochastic_depth_prob, total): only whether a rate is zero shows (no keys either way).
        let rates = (0..<total).map { total > 1 ? stochasticDepthProb * Double($0) / Double(total - 1) : 0 }
        var inputGrid = Self.convOutputShape(inputSize)
        var blocks: [Module] = []
        var layerIndex = 0
        for (index, outChannels) in blockChannels.enumerated() {
            let block = try MaxVitBlock(
                inChannels: index == 0 ? stemChannels : blockChannels[index - 1], outChannels: outChannels,
                squeezeRatio: squeezeRatio, expansionRatio: expansionRatio, headDim: headDim, mlpRatio: mlpRatio,
                partitionSize: partitionSize, inputGridSize: inputGrid,
                pStochastic: Array(rates[layerIndex..<(layerIndex + blockLayers[index])]))
            blocks.append(block)
            inputGrid = block.gridSize
            layerIndex += blockLayers[index]
        }
        self.blocks = Sequential(blocks)
        classifier = Sequential(
            AdaptiveAvgPool2d(1), Flatten(startDim: 1), LayerNorm(lastChannels), Linear(lastChannels, lastChannels), Tanh(),
            Linear(lastChannels, numClasses, bias: false))
        super.init()
        registerModule("stem", stem)
        registerModule("blocks", self.blocks)
        registerModule("classifier", classifier)
    }

    /// `_get_conv_output_shape` of the 3x3, stride 2, padding 1 convolutions that halve each stage.
    static func convOutputShape(_ size: [Int]) -> [Int] {
        size.map { ($0 - 3 + 2) / 2 + 1 }
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try classifier(blocks(stem(input)))
    }
}

extension MaxVit {
    /// `MBConv`: pre-norm, 1x1 expansion, depthwise 3x3 (with the stride), squeeze-excitation and
    /// 1x1 projection, added to the input brought to the output's shape by `proj`.
    final class MBConv: Module, @unchecked Sendable {
        let proj: Module, layers: Sequential

        init(inChannels: Int, outChannels: Int, expansionRatio: Double, squeezeRatio: Double, stride: Int, pStochastic: Double) {
            let normLayer = { (channels: Int) in BatchNorm2d(channels, eps: 1e-3) }
            if stride != 1 || inChannels != outChannels {
                let conv = Conv2d(inChannels, outChannels, kernelSize: 1, stride: 1, bias: true)
                proj = stride == 2 ? Sequential(AvgPool2d(kernelSize: 3, stride: Pair(stride, stride), padding: 1), conv) : Sequential(conv)
            } else {
                proj = Identity()
            }
            let midChannels = Int(Double(outChannels) * expansionRatio)
            let sqzChannels = Int(Double(outChannels) * squeezeRatio)
            layers = Sequential(named: [
                ("pre_norm", normLayer(inChannels)),
                ("conv_a", Conv2dNormActivation(
                    inChannels, midChannels, kernelSize: 1, stride: 1, padding: 0, normLayer: normLayer,
                    activationLayer: GELU.init)),
                ("conv_b", Conv2dNormActivation(
                    midChannels, midChannels, kernelSize: 3, stride: stride, padding: 1, groups: midChannels,
                    normLayer: normLayer, activationLayer: GELU.init)),
                ("squeeze_excitation", SqueezeExcitation(midChannels, sqzChannels, activation: SiLU.init)),
                ("conv_c", Conv2d(midChannels, outChannels, kernelSize: 1, bias: true)),
            ])
            super.init()
            registerModule("proj", proj)
            registerModule("stochastic_depth", pStochastic != 0 ? StochasticDepth(pStochastic) : Identity())
            registerModule("layers", layers)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            let res = try proj(input)
            return try res + layers(input)
        }
    }

    /// `RelativePositionalMultiHeadAttention` over x [B, G, P, D]: attention among the P tokens of
    /// each of the G partitions, with a learned bias per relative offset. torch scales the keys by
    /// feat_dim^-0.5 (not the head size).
    final class RelativePositionalMultiHeadAttention: Module, @unchecked Sendable {
        let nHeads: Int, size: Int, maxSeqLen: Int, featDim: Int
        let toQKV: Linear, merge: Linear
        let relativePositionBiasTable: Parameter, relativePositionIndex: Parameter

        init(featDim: Int, headDim: Int, maxSeqLen: Int) throws {
            guard headDim > 0, featDim % headDim == 0 else {
                throw ModelError.invalidConfiguration("feat_dim: \(featDim) must be divisible by head_dim: \(headDim)")
            }
            nHeads = featDim / headDim
            size = Int(Double(maxSeqLen).squareRoot())
            self.maxSeqLen = maxSeqLen
            self.featDim = featDim
            toQKV = Linear(featDim, nHeads * headDim * 3)
            merge = Linear(headDim * nHeads, featDim)
            relativePositionBiasTable = Parameter(Tensor(zeros: [(2 * size - 1) * (2 * size - 1), nHeads]))
            // `_get_relative_position_index`: Swin's index, kept [P, P] rather than flattened.
            let index = ShiftedWindowAttention.relativePositionIndex([size, size])
            relativePositionIndex = Parameter(Tensor(zeros: [size * size, size * size]), dtype: .int64)
            relativePositionIndex.setIntegers(index.map(Int64.init), shape: [size * size, size * size])
            super.init()
            registerModule("to_qkv", toQKV)
            registerModule("merge", merge)
            registerParameter("relative_position_bias_table", relativePositionBiasTable)
            registerBuffer("relative_position_index", relativePositionIndex)
        }

        override func forward(_ x: Tensor) throws -> Tensor {
            guard x.rank == 4, x.shape[2] == maxSeqLen else {
                throw RuntimeError.shapeMismatch(
                    operation: "RelativePositionalMultiHeadAttention", expected: "[B, G, \(maxSeqLen), D]", found: "shape \(x.shape)")
            }
            let (b, g, p, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let qkv = try toQKV(x).reshaped([b * g, p, 3 * d])
            let bias = try Kernels.indexSelect(relativePositionBiasTable.value, index: relativePositionIndex.value)
                .reshaped([maxSeqLen, maxSeqLen, nHeads])
            let out = try Kernels.attention(
                packed: qkv, heads: nHeads, scale: Float(pow(Double(featDim), -0.5)), bias: Kernels.permute(bias, [2, 0, 1]))
            return try merge(out.reshaped([b, g, p, d]))
        }
    }

    /// `PartitionAttentionLayer`: x [B, C, H, W] cut into partitions (7x7 windows, or a 7x7 grid of
    /// pixels spread over the map), attention and an MLP on each, then put back.
    final class PartitionAttentionLayer: Module, @unchecked Sendable {
        let p: Int, gridSize: [Int], isGrid: Bool
        let attnLayer: Sequential, mlpLayer: Sequential

        init(inChannels: Int, headDim: Int, partitionSize: Int, partitionType: String, gridSize: [Int], mlpRatio: Int) throws {
            let nPartitions = gridSize[0] / partitionSize
            guard ["grid", "window"].contains(partitionType) else {
                throw ModelError.invalidConfiguration("partition_type must be either 'grid' or 'window'")
            }
            isGrid = partitionType == "grid"
            p = isGrid ? nPartitions : partitionSize
            self.gridSize = gridSize
            attnLayer = Sequential(
                LayerNorm(inChannels),
                try RelativePositionalMultiHeadAttention(featDim: inChannels, headDim: headDim, maxSeqLen: partitionSize * partitionSize),
                Dropout(0))
            mlpLayer = Sequential(
                LayerNorm(inChannels), Linear(inChannels, inChannels * mlpRatio), GELU(),
                Linear(inChannels * mlpRatio, inChannels), Dropout(0))
            super.init()
            registerModule("attn_layer", attnLayer)
            registerModule("mlp_layer", mlpLayer)
        }

        override func forward(_ input: Tensor) throws -> Tensor {
            guard p > 0, gridSize[0] % p == 0, gridSize[1] % p == 0, input.rank == 4,
                input.shape[2] == gridSize[0], input.shape[3] == gridSize[1]
            else {
                throw RuntimeError.shapeMismatch(
                    operation: "PartitionAttentionLayer", expected: "a \(gridSize) grid divisible by partition size \(p)",
                    found: "shape \(input.shape)")
            }
            let (b, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
            let (gh, gw) = (h / p, w / p)
            // `WindowPartition`: [B, C, H, W] -> [B, (H/P)(W/P), P*P, C]; a grid swaps the two middle axes.
            var x = try Kernels.permute(input.reshaped([b, c, gh, p, gw, p]), [0, 2, 4, 3, 5, 1]).reshaped([b, gh * gw, p * p, c])
            if isGrid { x = try Kernels.permute(x, [0, 2, 1, 3]) }
            x = try x + attnLayer(x)
            x = try x + mlpLayer(x)
            if isGrid { x = try Kernels.permute(x, [0, 2, 1, 3]) }
            // `WindowDepartition`: back to [B, C, H, W].
            return try Kernels.permute(x.reshaped([b, gh, gw, p, p, c]), [0, 5, 1, 3, 2, 4]).reshaped([b, c, h, w])
        }
    }

    /// `MaxVitBlock`: its layers, the first halving the map; each layer is MBConv, window attention,
    /// grid attention (`MaxVitLayer`).
    final class MaxVitBlock: Module, @unchecked Sendable {
        let gridSize: [Int], layers: Sequential

        init(
            inChannels: Int, outChannels: Int, squeezeRatio: Double, expansionRatio: Double, headDim: Int, mlpRatio: Int,
            partitionSize: Int, inputGridSize: [Int], pStochastic: [Double]
        ) throws {
            let gridSize = MaxVit.convOutputShape(inputGridSize)
            self.gridSize = gridSize
            layers = Sequential(try pStochastic.enumerated().map { index, rate in
                func attention(_ type: String) throws -> PartitionAttentionLayer {
                    try PartitionAttentionLayer(
                        inChannels: outChannels, headDim: headDim, partitionSize: partitionSize, partitionType: type,
                        gridSize: gridSize, mlpRatio: mlpRatio)
                }
                return MaxVitLayer(
                    mbconv: MBConv(
                        inChannels: index == 0 ? inChannels : outChannels, outChannels: outChannels,
                        expansionRatio: expansionRatio, squeezeRatio: squeezeRatio, stride: index == 0 ? 2 : 1,
                        pStochastic: rate),
                    windowAttention: try attention("window"), gridAttention: try attention("grid"))
            })
            super.init()
            registerModule("layers", layers)
        }

        override func forward(_ input: Tensor) throws -> Tensor { try layers(input) }
    }

    /// `MaxVitLayer`: MBConv, then window attention, then grid attention, one Sequential `layers`.
    final class MaxVitLayer: Module, @unchecked Sendable {
        let layers: Sequential

        init(mbconv: MBConv, windowAttention: PartitionAttentionLayer, gridAttention: PartitionAttentionLayer) {
            layers = Sequential(named: [
                ("MBconv", mbconv), ("window_attention", windowAttention), ("grid_attention", gridAttention),
            ])
            super.init()
            registerModule("layers", layers)
        }

        override func forward(_ input: Tensor) throws -> Tensor { try layers(input) }
    }
}

extension ModelZoo {
    static let maxvitBuilders: [String: Builder] = [
        "maxvit_t": { arguments in
            let inputSize = try arguments.ints("input_size", default: [224, 224])
            guard inputSize.count == 2, inputSize.allSatisfy({ (1...1 << 14).contains($0) }) else {
                throw ModelError.badArgument(name: "input_size", reason: "expected (height, width) of at most 16384")
            }
            _ = try arguments.double("mlp_dropout", default: 0, in: 0...1)
            _ = try arguments.double("attention_dropout", default: 0, in: 0...1)
            return try MaxVit(
                inputSize: inputSize, stemChannels: 64, partitionSize: 7, blockChannels: [64, 128, 256, 512],
                blockLayers: [2, 2, 5, 2], headDim: 32, stochasticDepthProb: 0.2,
                squeezeRatio: try arguments.double("squeeze_ratio", default: 0.25, in: 0.001...16),
                expansionRatio: try arguments.double("expansion_ratio", default: 4, in: 0.001...64),
                mlpRatio: try arguments.int("mlp_ratio", default: 4, in: 1...64), numClasses: try arguments.numClasses())
        },
    ]
}
