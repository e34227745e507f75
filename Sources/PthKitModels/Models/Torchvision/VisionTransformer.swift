import PthKitRuntime

/// torchvision `models/vision_transformer.py` (ViT B/16, B/32, L/16, L/32, H/14), key for key.

/// `MLPBlock`: the encoder's MLP, Linear-GELU-Linear. Its `_version` is 2 (the keys `0` and `3`
/// that replaced `linear_1` and `linear_2`).
final class MLPBlock: MLP, @unchecked Sendable {
    init(_ inDim: Int, _ mlpDim: Int, dropout: Double) {
        super.init(inDim, [mlpDim, inDim], dropout: dropout)
    }

    override var metadataVersion: Int { 2 }
}

/// `EncoderBlock`: pre-norm self-attention and MLP, each with a residual sum.
final class EncoderBlock: Module, @unchecked Sendable {
    let ln1: LayerNorm, selfAttention: MultiheadAttention, dropout: Dropout, ln2: LayerNorm, mlp: MLPBlock

    init(numHeads: Int, hiddenDim: Int, mlpDim: Int, dropout: Double, attentionDropout: Double) throws {
        ln1 = LayerNorm(hiddenDim, eps: 1e-6)
        selfAttention = try MultiheadAttention(hiddenDim, numHeads)
        self.dropout = Dropout(dropout)
        ln2 = LayerNorm(hiddenDim, eps: 1e-6)
        mlp = MLPBlock(hiddenDim, mlpDim, dropout: dropout)
        super.init()
        registerModule("ln_1", ln1)
        registerModule("self_attention", selfAttention)
        registerModule("dropout", self.dropout)
        registerModule("ln_2", ln2)
        registerModule("mlp", mlp)
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        guard input.rank == 3 else {
            throw RuntimeError.shapeMismatch(
                operation: "EncoderBlock", expected: "(batch_size, seq_length, hidden_dim)", found: "shape \(input.shape)")
        }
        var x = try dropout(selfAttention(ln1(input)))
        try x += input
        let y = try mlp(ln2(x))
        return try x + y
    }
}

/// `Encoder`: the position embedding added, then the blocks and a final LayerNorm.
final class Encoder: Module, @unchecked Sendable {
    let posEmbedding: Parameter, dropout: Dropout, layers: Sequential, ln: LayerNorm

    init(seqLength: Int, numLayers: Int, numHeads: Int, hiddenDim: Int, mlpDim: Int, dropout: Double, attentionDropout: Double)
        throws
    {
        posEmbedding = Parameter(Tensor(zeros: [1, seqLength, hiddenDim]))
        self.dropout = Dropout(dropout)
        layers = Sequential(named: try (0..<numLayers).map { index in
            ("encoder_layer_\(index)", try EncoderBlock(
                numHeads: numHeads, hiddenDim: hiddenDim, mlpDim: mlpDim, dropout: dropout,
                attentionDropout: attentionDropout))
        })
        ln = LayerNorm(hiddenDim, eps: 1e-6)
        super.init()
        registerParameter("pos_embedding", posEmbedding)
        registerModule("dropout", self.dropout)
        registerModule("layers", layers)
        registerModule("ln", ln)
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        let x = try input + Kernels.expand(posEmbedding.value, to: input.shape)
        return try ln(layers(dropout(x)))
    }
}

public final class VisionTransformer: Module, @unchecked Sendable {
    let imageSize: Int, patchSize: Int, hiddenDim: Int
    let convProj: Conv2d, classToken: Parameter, encoder: Encoder, heads: Sequential

    init(
        imageSize: Int, patchSize: Int, numLayers: Int, numHeads: Int, hiddenDim: Int, mlpDim: Int, dropout: Double,
        attentionDropout: Double, numClasses: Int, representationSize: Int?
    ) throws {
        guard imageSize % patchSize == 0 else {
            throw ModelError.invalidConfiguration("Input shape indivisible by patch size!")
        }
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenDim = hiddenDim
        convProj = Conv2d(3, hiddenDim, kernelSize: Pair(patchSize, patchSize), stride: Pair(patchSize, patchSize))
        classToken = Parameter(Tensor(zeros: [1, 1, hiddenDim]))
        let seqLength = (imageSize / patchSize) * (imageSize / patchSize) + 1
        encoder = try Encoder(
            seqLength: seqLength, numLayers: numLayers, numHeads: numHeads, hiddenDim: hiddenDim, mlpDim: mlpDim,
            dropout: dropout, attentionDropout: attentionDropout)
        if let representationSize {
            heads = Sequential(named: [
                ("pre_logits", Linear(hiddenDim, representationSize)), ("act", Tanh()),
                ("head", Linear(representationSize, numClasses)),
            ])
        } else {
            heads = Sequential(named: [("head", Linear(hiddenDim, numClasses))])
        }
        super.init()
        registerModule("conv_proj", convProj)
        registerParameter("class_token", classToken)
        registerModule("encoder", encoder)
        registerModule("heads", heads)
    }

    /// `_process_input`: patches to tokens [N, (H/p)(W/p), hidden]. torch asserts the image size
    /// the position embedding was made for.
    func processInput(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[2] == imageSize, x.shape[3] == imageSize else {
            throw RuntimeError.shapeMismatch(
                operation: "VisionTransformer", expected: "images of \(imageSize)x\(imageSize)", found: "shape \(x.shape)")
        }
        let (n, nH, nW) = (x.shape[0], imageSize / patchSize, imageSize / patchSize)
        let projected = try convProj(x).reshaped([n, hiddenDim, nH * nW])
        return try Kernels.permute(projected, [0, 2, 1])
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        let x = try processInput(input)
        let n = x.shape[0]
        let batchClassToken = try Kernels.expand(classToken.value, to: [n, 1, hiddenDim])
        let tokens = try encoder(Kernels.concatenate([batchClassToken, x], dim: 1))
        let first = try Kernels.narrow(tokens, dim: 1, start: 0, length: 1).reshaped([n, hiddenDim])
        return try heads(first)
    }
}

extension ModelZoo {
    /// name -> (patch_size, num_layers, num_heads, hidden_dim, mlp_dim): torchvision's builders.
    private static let vitConfigurations: [String: (Int, Int, Int, Int, Int)] = [
        "vit_b_16": (16, 12, 12, 768, 3072),
        "vit_b_32": (32, 12, 12, 768, 3072),
        "vit_l_16": (16, 24, 16, 1024, 4096),
        "vit_l_32": (32, 24, 16, 1024, 4096),
        "vit_h_14": (14, 32, 16, 1280, 5120),
    ]

    static let visionTransformerBuilders: [String: Builder] = vitConfigurations.mapValues { configuration in
        { arguments in
            let (patchSize, numLayers, numHeads, hiddenDim, mlpDim) = configuration
            let representationSize = try arguments.optionalInt("representation_size", in: 1...1 << 16)
            return try VisionTransformer(
                imageSize: try arguments.int("image_size", default: 224, in: 1...1 << 14), patchSize: patchSize,
                numLayers: numLayers, numHeads: numHeads, hiddenDim: hiddenDim, mlpDim: mlpDim,
                dropout: try arguments.double("dropout", default: 0, in: 0...1),
                attentionDropout: try arguments.double("attention_dropout", default: 0, in: 0...1),
                numClasses: try arguments.numClasses(), representationSize: representationSize)
        }
    }
}
