import Foundation
import PthKitRuntime

/// torchvision `models/swin_transformer.py` (Swin T/S/B and Swin V2 T/S/B), key for key. The
/// feature maps run channels-last, [B, H, W, C], as in torch.

/// `_patch_merging_pad`: each 2x2 neighbourhood's four pixels side by side in the channels, in
/// torch's order x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]; odd sizes padded first.
func patchMergingPad(_ x: Tensor) throws -> Tensor {
    guard x.rank == 4 else {
        throw RuntimeError.shapeMismatch(operation: "PatchMerging", expected: "[B, H, W, C]", found: "shape \(x.shape)")
    }
    let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let padded = try Kernels.pad(x, [0, 0, 0, w % 2, 0, h % 2])
    let (halfH, halfW) = ((h + 1) / 2, (w + 1) / 2)
    // [B, H/2, row in pair, W/2, column in pair, C] -> the pair's column outermost, as the list is.
    let pairs = try padded.reshaped([b, halfH, 2, halfW, 2, c])
    return try Kernels.permute(pairs, [0, 1, 3, 4, 2, 5]).reshaped([b, halfH, halfW, 4 * c])
}

/// `PatchMerging` (V1: norm, then reduction) and `PatchMergingV2` (reduction, then norm).
final class PatchMerging: Module, @unchecked Sendable {
    let reduction: Linear, norm: LayerNorm
    let normAfter: Bool

    init(_ dim: Int, v2: Bool) {
        reduction = Linear(4 * dim, 2 * dim, bias: false)
        norm = LayerNorm(v2 ? 2 * dim : 4 * dim)
        normAfter = v2
        super.init()
        registerModule("reduction", reduction)
        registerModule("norm", norm)
    }

    override var typeName: String { normAfter ? "PatchMergingV2" : "PatchMerging" }

    override func forward(_ input: Tensor) throws -> Tensor {
        let x = try patchMergingPad(input)
        return normAfter ? try norm(reduction(x)) : try reduction(norm(x))
    }
}

/// `ShiftedWindowAttention` and, with `v2`, `ShiftedWindowAttentionV2`: attention within windows
/// of `windowSize`, shifted by `shiftSize`, with a relative position bias learned as a table (V1)
/// or computed by the continuous position-bias MLP `cpb_mlp` (V2, with cosine attention scaled by
/// `logit_scale`).
final class ShiftedWindowAttention: Module, @unchecked Sendable {
    let windowSize: [Int], shiftSize: [Int], numHeads: Int
    let qkv: Linear, proj: Linear
    let relativePositionBiasTable: Parameter?
    let relativePositionIndex: Parameter
    let relativeCoordsTable: Parameter?, logitScale: Parameter?, cpbMLP: Sequential?

    init(_ dim: Int, windowSize: [Int], shiftSize: [Int], numHeads: Int, v2: Bool) throws {
        guard windowSize.count == 2, shiftSize.count == 2 else {
            throw ModelError.invalidConfiguration("window_size and shift_size must be of length 2")
        }
        guard numHeads > 0, dim % numHeads == 0 else {
            throw ModelError.invalidConfiguration("dim \(dim) must be divisible by num_heads \(numHeads)")
        }
        (self.windowSize, self.shiftSize, self.numHeads) = (windowSize, shiftSize, numHeads)
        qkv = Linear(dim, dim * 3)
        proj = Linear(dim, dim)
        let tableSize = (2 * windowSize[0] - 1) * (2 * windowSize[1] - 1)
        if v2 {
            relativePositionBiasTable = nil
            relativeCoordsTable = Parameter(Self.relativeCoordsTable(windowSize))
            logitScale = Parameter(Tensor(shape: [numHeads, 1, 1], storage: [Float](repeating: log(10), count: numHeads)))
            cpbMLP = Sequential(Linear(2, 512), ReLU(), Linear(512, numHeads, bias: false))
        } else {
            relativePositionBiasTable = Parameter(Tensor(zeros: [tableSize, numHeads]))
            (relativeCoordsTable, logitScale, cpbMLP) = (nil, nil, nil)
        }
        let index = Self.relativePositionIndex(windowSize)
        relativePositionIndex = Parameter(Tensor(shape: [index.count], storage: index.map(Float.init)), dtype: .int64)
        relativePositionIndex.setIntegers(index.map(Int64.init), shape: [index.count])
        super.init()
        registerModule("qkv", qkv)
        registerModule("proj", proj)
        if let relativePositionBiasTable { registerParameter("relative_position_bias_table", relativePositionBiasTable) }
        if let relativeCoordsTable { registerBuffer("relative_coords_table", relativeCoordsTable) }
        registerBuffer("relative_position_index", relativePositionIndex)
        if let logitScale { registerParameter("logit_scale", logitScale) }
        if let cpbMLP { registerModule("cpb_mlp", cpbMLP) }
    }

    override var typeName: String { logitScale == nil ? "ShiftedWindowAttention" : "ShiftedWindowAttentionV2" }

    /// `define_relative_position_index`: for tokens p and q of a window, the row of the bias table
    /// that holds their offset, (dy + Wh - 1) * (2 Ww - 1) + (dx + Ww - 1), flattened over (p, q).
    static func relativePositionIndex(_ windowSize: [Int]) -> [Int] {
        let (wh, ww) = (windowSize[0], windowSize[1])
        let tokens = (0..<(wh * ww)).map { ($0 / ww, $0 % ww) }
        return tokens.flatMap { p in tokens.map { q in (p.0 - q.0 + wh - 1) * (2 * ww - 1) + (p.1 - q.1 + ww - 1) } }
    }

    /// V2's `relative_coords_table` [1, 2Wh-1, 2Ww-1, 2]: each offset scaled to [-8, 8], then
    /// sign(x) log2(|x| + 1) / 3, in float32 as torch computes it.
    static func relativeCoordsTable(_ windowSize: [Int]) -> Tensor {
        let (wh, ww) = (windowSize[0], windowSize[1])
        func coordinate(_ offset: Int, _ size: Int) -> Float {
            let scaled = Float(offset) / Float(size - 1) * 8
            return (scaled > 0 ? 1 : (scaled < 0 ? -1 : 0)) * log2(abs(scaled) + 1) / 3
        }
        var values: [Float] = []
        for dy in -(wh - 1)..<wh {
            for dx in -(ww - 1)..<ww { values += [coordinate(dy, wh), coordinate(dx, ww)] }
        }
        return Tensor(shape: [1, 2 * wh - 1, 2 * ww - 1, 2], storage: values)
    }

    /// `get_relative_position_bias`: [heads, N, N] for the N tokens of a window.
    func relativePositionBias() throws -> Tensor {
        let n = windowSize[0] * windowSize[1]
        let table: Tensor
        if let cpbMLP, let relativeCoordsTable {
            let offsets = (2 * windowSize[0] - 1) * (2 * windowSize[1] - 1)
            table = try cpbMLP(relativeCoordsTable.value).reshaped([offsets, numHeads])
        } else if let relativePositionBiasTable {
            table = relativePositionBiasTable.value
        } else {
            throw ModelError.invalidConfiguration("ShiftedWindowAttention has no position bias")
        }
        let bias = try Kernels.indexSelect(table, index: relativePositionIndex.value).reshaped([n, n, numHeads])
        let perHead = try Kernels.permute(bias, [2, 0, 1])
        guard cpbMLP != nil else { return perHead }
        return try Kernels.multiply(Tensor(shape: [], storage: [16]), Kernels.activated(perHead, .sigmoid))
    }

    override func forward(_ input: Tensor) throws -> Tensor {
        try shiftedWindowAttention(input, relativePositionBias: relativePositionBias())
    }

    /// `shifted_window_attention` on x [B, H, W, C].
    func shiftedWindowAttention(_ input: Tensor, relativePositionBias: Tensor) throws -> Tensor {
        guard input.rank == 4 else {
            throw RuntimeError.shapeMismatch(operation: typeName, expected: "[B, H, W, C]", found: "shape \(input.shape)")
        }
        let (b, h, w, c) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (wh, ww) = (windowSize[0], windowSize[1])
        let padR = (ww - w % ww) % ww, padB = (wh - h % wh) % wh
        var x = try Kernels.pad(input, [0, 0, 0, padR, 0, padB])
        let (padH, padW) = (h + padB, w + padR)
        // A window covering the whole padded side makes shifting that side pointless: torch skips it.
        let shift = [wh >= padH ? 0 : shiftSize[0], ww >= padW ? 0 : shiftSize[1]]
        let shifted = shift[0] + shift[1] > 0
        if shifted { x = try Kernels.roll(x, shifts: [-shift[0], -shift[1]], dims: [1, 2]) }
        let numWindows = (padH / wh) * (padW / ww)
        x = try Kernels.permute(x.reshaped([b, padH / wh, wh, padW / ww, ww, c]), [0, 1, 3, 2, 4, 5])
            .reshaped([b * numWindows, wh * ww, c])

        var qkvBias = qkv.bias?.value.storage.array
        if logitScale != nil, var bias = qkvBias {
            // V2 learns no key bias: torch zeroes the middle third on every call.
            let length = bias.count / 3
            for i in length..<(2 * length) { bias[i] = 0 }
            qkvBias = bias
        }
        let packed = try Kernels.linear(x, weight: qkv.weight.value, bias: qkvBias)
        let mask = shifted ? Self.attentionMask(padH: padH, padW: padW, windowSize: windowSize, shiftSize: shift) : nil
        let scales = logitScale.map { $0.value.storage.map { exp(min($0, Float(log(100.0)))) } }
        let attended = try Kernels.attention(
            packed: packed, heads: numHeads, scale: Float(pow(Double(c / numHeads), -0.5)), bias: relativePositionBias,
            mask: mask, logitScale: scales)
        x = try Kernels.linear(attended, weight: proj.weight.value, bias: proj.bias?.value.storage.array)

        x = try Kernels.permute(x.reshaped([b, padH / wh, padW / ww, wh, ww, c]), [0, 1, 3, 2, 4, 5])
            .reshaped([b, padH, padW, c])
        if shifted { x = try Kernels.roll(x, shifts: shift, dims: [1, 2]) }
        return try Kernels.pad(x, [0, 0, 0, -padR, 0, -padB])
    }

    /// The shifted windows' mask [windows, N, N]: -100 between tokens that came from different
    /// regions of the image before the roll, 0 within one. Regions are labelled with torch's
    /// Python slices, negative bounds and all, so a side whose shift is 0 labels as torch's does.
    static func attentionMask(padH: Int, padW: Int, windowSize: [Int], shiftSize: [Int]) -> Tensor {
        func slices(_ size: Int, _ window: Int, _ shift: Int) -> [Range<Int>] {
            func bound(_ value: Int?) -> Int {
                guard let value else { return size }
                return min(max(value < 0 ? value + size : value, 0), size)
            }
            // Python's -0 is 0: with shift 0, `(-window, -shift)` is empty and `(-shift, None)` the whole side.
            let ranges = [(0, -window), (-window, -shift), (-shift, nil)] as [(Int, Int?)]
            return ranges.map { start, end in
                let lower = bound(start), upper = bound(end)
                return lower..<max(lower, upper)
            }
        }
        var label = [Int](repeating: 0, count: padH * padW)
        var count = 0
        for rows in slices(padH, windowSize[0], shiftSize[0]) {
            for columns in slices(padW, windowSize[1], shiftSize[1]) {
                for y in rows { for x in columns { label[y * padW + x] = count } }
                count += 1
            }
        }
        let (wh, ww) = (windowSize[0], windowSize[1])
        let n = wh * ww
        var mask: [Float] = []
        mask.reserveCapacity((padH / wh) * (padW / ww) * n * n)
        for windowRow in 0..<(padH / wh) {
            for windowColumn in 0..<(padW / ww) {
                let labels = (0..<n).map { label[(windowRow * wh + $0 / ww) * padW + windowColumn * ww + $0 % ww] }
                for p in labels { for q in labels { mask.append(p == q ? 0 : -100) } }
            }
        }
        return Tensor(shape: [(padH / wh) * (padW / ww), n, n], storage: mask)
    }
}

/// `SwinTransformerBlock` (pre-norm) and, with `v2`, `SwinTransformerBlockV2` (norm after the
/// attention and after the MLP, res-post-norm).
final class SwinTransformerBlock: Module, @unchecked Sendable {
    let norm1: LayerNorm, attn: ShiftedWindowAttention, norm2: LayerNorm, mlp: MLP
    let v2: Bool

    init(
        _ dim: Int, numHeads: Int, windowSize: [Int], shiftSize: [Int], mlpRatio: Double, dropout: Double,
        stochasticDepthProb: Double, v2: Bool
    ) throws {
        norm1 = LayerNorm(dim)
        attn = try ShiftedWindowAttention(dim, windowSize: windowSize, shiftSize: shiftSize, numHeads: numHeads, v2: v2)
        norm2 = LayerNorm(dim)
        mlp = MLP(dim, [Int(Double(dim) * mlpRatio), dim], dropout: dropout)
        self.v2 = v2
        super.init()
        registerModule("norm1", norm1)
        registerModule("attn", attn)
        registerModule("stochastic_depth", StochasticDepth(stochasticDepthProb))
        registerModule("norm2", norm2)
        registerModule("mlp", mlp)
    }

    override var typeName: String { v2 ? "SwinTransformerBlockV2" : "SwinTransformerBlock" }

    override func forward(_ input: Tensor) throws -> Tensor {
        if v2 {
            let x = try input + norm1(attn(input))
            return try x + norm2(mlp(x))
        }
        let x = try input + attn(norm1(input))
        return try x + mlp(norm2(x))
    }
}

public final class SwinTransformer: Module, @unchecked Sendable {
    let features: Sequential, norm: LayerNorm, permute = Permute([0, 3, 1, 2])
    let avgpool = AdaptiveAvgPool2d(1), flatten = Flatten(startDim: 1), head: Linear

    init(
        patchSize: [Int], embedDim: Int, depths: [Int], numHeads: [Int], windowSize: [Int], mlpRatio: Double,
        dropout: Double, stochasticDepthProb: Double, numClasses: Int, v2: Bool
    ) throws {
        var layers: [Module] = [
            Sequential(
                Conv2d(3, embedDim, kernelSize: Pair(patchSize[0], patchSize[1]), stride: Pair(patchSize[0], patchSize[1])),
                Permute([0, 2, 3, 1]), LayerNorm(embedDim)),
        ]
        let totalStageBlocks = depths.reduce(0, +)
        var stageBlockID = 0
        for (stageIndex, depth) in depths.enumerated() {
            let dim = embedDim << stageIndex
            var stage: [Module] = []
            for layer in 0..<depth {
                // The drop rate grows linearly with depth; it only matters in training.
                let sdProb = stochasticDepthProb * Double(stageBlockID) / max(Double(totalStageBlocks - 1), 1)
                stage.append(try SwinTransformerBlock(
                    dim, numHeads: numHeads[stageIndex], windowSize: windowSize,
                    shiftSize: windowSize.map { layer % 2 == 0 ? 0 : $0 / 2 }, mlpRatio: mlpRatio, dropout: dropout,
                    stochasticDepthProb: sdProb, v2: v2))
                stageBlockID += 1
            }
            layers.append(Sequential(stage))
            if stageIndex < depths.count - 1 { layers.append(PatchMerging(dim, v2: v2)) }
        }
        features = Sequential(layers)
        let numFeatures = embedDim << (depths.count - 1)
        norm = LayerNorm(numFeatures)
        head = Linear(numFeatures, numClasses)
        super.init()
        registerModule("features", features)
        registerModule("norm", norm)
        registerModule("permute", permute)
        registerModule("avgpool", avgpool)
        registerModule("flatten", flatten)
        registerModule("head", head)
    }

    public override func forward(_ input: Tensor) throws -> Tensor {
        try head(flatten(avgpool(permute(norm(features(input))))))
    }
}

extension ModelZoo {
    /// name -> (embed_dim, depths, num_heads, window_size, stochastic_depth_prob, V2): torchvision's
    /// builders; every variant uses 4x4 patches.
    private static let swinConfigurations: [String: (Int, [Int], [Int], Int, Double, Bool)] = [
        "swin_t": (96, [2, 2, 6, 2], [3, 6, 12, 24], 7, 0.2, false),
        "swin_s": (96, [2, 2, 18, 2], [3, 6, 12, 24], 7, 0.3, false),
        "swin_b": (128, [2, 2, 18, 2], [4, 8, 16, 32], 7, 0.5, false),
        "swin_v2_t": (96, [2, 2, 6, 2], [3, 6, 12, 24], 8, 0.2, true),
        "swin_v2_s": (96, [2, 2, 18, 2], [3, 6, 12, 24], 8, 0.3, true),
        "swin_v2_b": (128, [2, 2, 18, 2], [4, 8, 16, 32], 8, 0.5, true),
    ]

    static let swinBuilders: [String: Builder] = swinConfigurations.mapValues { configuration in
        { arguments in
            let (embedDim, depths, numHeads, window, stochasticDepthProb, v2) = configuration
            _ = try arguments.double("attention_dropout", default: 0, in: 0...1)
            return try SwinTransformer(
                patchSize: [4, 4], embedDim: embedDim, depths: depths, numHeads: numHeads, windowSize: [window, window],
                mlpRatio: try arguments.double("mlp_ratio", default: 4, in: 0.01...64),
                dropout: try arguments.double("dropout", default: 0, in: 0...1),
                stochasticDepthProb: try arguments.double("stochastic_depth_prob", default: stochasticDepthProb, in: 0...1),
                numClasses: try arguments.numClasses(), v2: v2)
        }
    }
}
