import CKernels
import COpenBLAS

extension Kernels {
    /// Multi-head self-attention over packed projections, softmax(q kᵀ * scale + bias + mask) v per
    /// head, with the scale, bias, mask and softmax applied in one pass over each score row.
    ///
    /// `qkv` is [N, L, 3 * E]: per token the queries, then the keys, then the values, each E values
    /// with head h at h * D..<(h + 1) * D (D = E / heads): the layout of `nn.MultiheadAttention`'s
    /// `in_proj`, Swin's `qkv` and MaxViT's `to_qkv`, read in place so that the heads are never
    /// split into tensors of their own. The result is [N, L, E], the heads side by side, as torch
    /// has it after `transpose(1, 2).reshape(...)`.
    /// - `bias`: [heads, L, L], added to every sequence (relative position bias).
    /// - `mask`: [W, L, L], added to sequence n as mask[n % W] (Swin's shifted-window mask, with
    ///   the W windows of one image consecutive in N).
    /// - `logitScale`: per head; when given the scores are cosine similarities times it (Swin V2)
    ///   and `scale` is not used.
    public static func attention(
        packed qkv: Tensor, heads: Int, scale: Float, bias: Tensor? = nil, mask: Tensor? = nil,
        logitScale: [Float]? = nil
    ) throws -> Tensor {
        if PlanTracer.recording != nil {
            let extra = [bias, mask].compactMap { $0 }
            return try traced("attention", [qkv] + extra) { inputs in
                var rest = inputs.dropFirst()
                let bias = bias == nil ? nil : rest.popFirst()
                let mask = mask == nil ? nil : rest.popFirst()
                return [try attention(packed: inputs[0], heads: heads, scale: scale, bias: bias, mask: mask, logitScale: logitScale)]
            }[0]
        }
        let op = "attention"
        try require(qkv, rank: 3, op, layout: "[N, L, 3 * E]")
        try requireArgument(heads, "heads", in: 1...maxExtent, op)
        let (batch, length, packed) = (qkv.shape[0], qkv.shape[1], qkv.shape[2])
        guard packed % (3 * heads) == 0 else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "last dimension a multiple of 3 x \(heads) heads", found: "shape \(qkv.shape)")
        }
        let embed = packed / 3, depth = embed / heads
        if let bias {
            try requireConsistent(bias, op, "bias")
            guard bias.shape == [heads, length, length] else {
                throw RuntimeError.shapeMismatch(
                    operation: op, expected: "bias of shape \([heads, length, length])", found: "shape \(bias.shape)")
            }
        }
        let windows = mask?.shape.first ?? 1
        if let mask {
            try requireConsistent(mask, op, "mask")
            guard mask.rank == 3, mask.shape[1...] == [length, length], windows > 0, batch % windows == 0 else {
                throw RuntimeError.shapeMismatch(
                    operation: op, expected: "mask [W, \(length), \(length)] with W dividing \(batch)",
                    found: "shape \(mask.shape)")
            }
        }
        if let logitScale, logitScale.count != heads {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "\(heads) logit scales", found: "\(logitScale.count) values")
        }
        let shape = try resultShape([batch, length, embed], op)
        try requireBLASSizes([length, packed, depth], op)
        guard batch > 0, length > 0, depth > 0 else { return Tensor(zeros: shape) }
        _ = ComputeThreads.blas

        // Each head's last sgemm writes its columns of every row.
        var output = uninitializedBuffer(count: batch * length * embed)
        let biasValues = bias?.storage ?? [], maskValues = mask?.storage ?? []
        let (hasBias, hasMask) = (bias != nil, mask != nil)
        biasValues.withUnsafeBufferPointer { biasValues in
            maskValues.withUnsafeBufferPointer { maskValues in
                nonisolated(unsafe) let (biasBase, maskBase) = (biasValues.baseAddress, maskValues.baseAddress)
                qkv.storage.withUnsafeBufferPointer { qkv in
                    output.withUnsafeMutableBufferPointer { output in
                        guard let qkv = qkv.baseAddress, let out = output.baseAddress else { return }
                        nonisolated(unsafe) let (source, destination) = (qkv, out)
                        forEachChunk(of: batch * heads, work: batch * heads * length * length * depth * 2) { units in
                            var scores = [Float](repeating: 0, count: length * length)
                            // Cosine attention compares unit vectors: normalized copies of this head's q and k.
                            var unit = [Float](repeating: 0, count: logitScale == nil ? 0 : 2 * length * depth)
                            for item in units {
                                let (n, h) = item.quotientAndRemainder(dividingBy: heads)
                                let sequence = source + n * length * packed
                                var (q, k, ld) = (sequence + h * depth, sequence + embed + h * depth, packed)
                                var alpha = scale
                                unit.withUnsafeMutableBufferPointer { unit in
                                    if let logitScale, let base = unit.baseAddress {
                                        normalizeRows(q, ld: ld, rows: length, depth: depth, into: base)
                                        normalizeRows(k, ld: ld, rows: length, depth: depth, into: base + length * depth)
                                        (q, k, ld, alpha) = (UnsafePointer(base), UnsafePointer(base + length * depth), depth, logitScale[h])
                                    }
                                    scores.withUnsafeMutableBufferPointer { s in
                                        guard let s = s.baseAddress else { return }
                                        cblas_sgemm(
                                            CblasRowMajor, CblasNoTrans, CblasTrans, Int32(length), Int32(length), Int32(depth),
                                            alpha, q, Int32(ld), k, Int32(ld), 0, s, Int32(length))
                                        let biasOffset = h * length * length, maskOffset = (n % windows) * length * length
                                        for row in 0..<length {
                                            // The C pass adds bias and mask, then takes the softmax, eight lanes at a time.
                                            pk_attention_softmax_row(
                                                s + row * length, length,
                                                hasBias ? biasBase.map { $0 + biasOffset + row * length } : nil,
                                                hasMask ? maskBase.map { $0 + maskOffset + row * length } : nil)
                                        }
                                        cblas_sgemm(
                                            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(length), Int32(depth), Int32(length),
                                            1, s, Int32(length), sequence + 2 * embed + h * depth, Int32(packed), 0,
                                            destination + n * length * embed + h * depth, Int32(embed))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: shape, storage: output)
    }

    /// `F.normalize(x, dim=-1)` of `rows` rows of `depth` values `ld` apart: each divided by
    /// max(its norm, 1e-12).
    private static func normalizeRows(
        _ x: UnsafePointer<Float>, ld: Int, rows: Int, depth: Int, into output: UnsafeMutablePointer<Float>
    ) {
        for row in 0..<rows {
            var sum: Float = 0
            for i in 0..<depth { sum += x[row * ld + i] * x[row * ld + i] }
            let norm = max(sum.squareRoot(), 1e-12)
            for i in 0..<depth { output[row * depth + i] = x[row * ld + i] / norm }
        }
    }
}
