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
        var output = uninitializedBuffer(count: x.count)
        x.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                withOptionalPointer(weight) { weight in
                    withOptionalPointer(bias) { bias in
                        pk_layer_norm_channels(
                            source.baseAddress, destination.baseAddress, x.shape[0], channels, plane, weight, bias, eps)
                    }
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
}
