import CKernels

extension Kernels {
    /// `torch.nn.functional.layer_norm` over the last dimension: each row of `x` [..., C] becomes
    /// (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance as torch uses.
    public static func layerNorm(_ x: Tensor, weight: [Float]?, bias: [Float]?, eps: Double) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("layer_norm", x) { try layerNorm($0, weight: weight, bias: bias, eps: eps) }
        }
        let op = "layerNorm"
        try requireConsistent(x, op)
        guard let features = x.shape.last else {
            throw RuntimeError.shapeMismatch(operation: op, expected: "input of rank >= 1", found: "a 0-d tensor")
        }
        try requireAffine(weight, bias, features: features, op)
        guard x.count > 0, features > 0 else { return x }
        let rows = x.count / features
        var output = uninitializedBuffer(count: x.count)
        x.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                withOptionalPointer(weight) { weight in
                    withOptionalPointer(bias) { bias in
                        pk_layer_norm_rows(source.baseAddress, destination.baseAddress, rows, features, weight, bias, eps)
                    }
                }
            }
        }
        return Tensor(shape: x.shape, storage: output)
    }

    /// torchvision's `LayerNorm2d`: layer norm over the channels of an [N, C, H, W] tensor, each
    /// pixel normalized on its own (torch permutes to channels-last and back to do the same).
    public static func layerNormChannels(_ x: Tensor, weight: [Float]?, bias: [Float]?, eps: Double) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("layer_norm2d", x) { try layerNormChannels($0, weight: weight, bias: bias, eps: eps) }
        }
        let op = "layerNormChannels"
        try require(x, rank: 4, op, layout: "[N, C, H, W]")
        let channels = x.shape[1]
        try requireAffine(weight, bias, features: channels, op)
        guard x.count > 0 else { return x }
        let plane = x.shape[2] * x.shape[3]
        var output = copiedBuffer(x.storage)
        output.withUnsafeMutableBufferPointer { values in
            guard let values = values.baseAddress else { return }
            nonisolated(unsafe) let base = values
            forEachChunk(of: x.shape[0] * plane, work: x.count * 4) { range in
                for pixel in range {
                    let (n, p) = pixel.quotientAndRemainder(dividingBy: plane)
                    normalize(base + n * channels * plane + p, count: channels, stride: plane, weight: weight, bias: bias, eps: eps)
                }
            }
        }
        return Tensor(shape: x.shape, storage: output)
    }

    private static func requireAffine(_ weight: [Float]?, _ bias: [Float]?, features: Int, _ op: String) throws {
        for (role, values) in [("weight", weight), ("bias", bias)] {
            if let values, values.count != features {
                throw RuntimeError.shapeMismatch(
                    operation: op, expected: "\(role) of \(features) values", found: "\(values.count) values")
            }
        }
    }

    /// Normalizes `count` values `stride` apart in place. Mean and variance are summed in float64:
    /// ATen's float32 Welford pass is about as accurate, so the two agree to float32 rounding.
    @inline(__always)
    private static func normalize(
        _ row: UnsafeMutablePointer<Float>, count: Int, stride: Int, weight: [Float]?, bias: [Float]?, eps: Double
    ) {
        var sum: Double = 0
        for i in 0..<count { sum += Double(row[i * stride]) }
        let mean = sum / Double(count)
        var squares: Double = 0
        for i in 0..<count {
            let d = Double(row[i * stride]) - mean
            squares += d * d
        }
        let rstd = 1 / (squares / Double(count) + eps).squareRoot()
        for i in 0..<count {
            var y = (Double(row[i * stride]) - mean) * rstd
            if let weight { y *= Double(weight[i]) }
            if let bias { y += Double(bias[i]) }
            row[i * stride] = Float(y)
        }
    }
}
