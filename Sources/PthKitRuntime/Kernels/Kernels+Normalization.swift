extension Kernels {
    /// The per-channel affine of eval-mode `BatchNorm2d`: y = x * scale + shift.
    ///
    /// Computed the way ATen's CPU batch norm does, so that `scaleShiftChannels` reproduces
    /// PyTorch's output bit for bit: invstd = 1 / sqrt(var + Float(eps)) in float32,
    /// scale = invstd * weight, shift = bias - mean * scale as one fused multiply-add (PyTorch's
    /// AVX2 build contracts it). A float64 computation would be more accurate but disagrees with
    /// PyTorch in the last bit for about a third of the channels.
    ///
    /// The counts should agree; if they do not, the result has as many channels as the shortest
    /// array and `scaleShiftChannels` reports the mismatch.
    public static func batchNormScaleShift(
        mean: [Float], variance: [Float], weight: [Float]?, bias: [Float]?, eps: Double
    ) -> (scale: [Float], shift: [Float]) {
        let channels = [mean.count, variance.count, weight?.count ?? .max, bias?.count ?? .max].min()!
        let epsilon = Float(eps)
        var scale = [Float](repeating: 0, count: channels)
        var shift = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let invstd = 1 / (variance[c] + epsilon).squareRoot()
            scale[c] = invstd * (weight?[c] ?? 1)
            shift[c] = (bias?[c] ?? 0).addingProduct(-mean[c], scale[c])
        }
        return (scale, shift)
    }

    /// y = x * scale[c] + shift[c] in place on [N, C, ...], rounded once per element as PyTorch's
    /// fused batch-norm kernel does.
    public static func scaleShiftChannels(_ x: inout Tensor, scale: [Float], shift: [Float]) throws {
        if let tracer = PlanTracer.recording {
            x = try tracer.record(.batchNorm(scale: scale, shift: shift), [x]) { inputs in
                var output = inputs[0]
                try scaleShiftChannels(&output, scale: scale, shift: shift)
                return [output]
            }[0]
            return
        }
        let op = "scaleShiftChannels"
        try requireConsistent(x, op)
        guard x.rank >= 2 else {
            throw RuntimeError.shapeMismatch(operation: op, expected: "input [N, C, ...]", found: "shape \(x.shape)")
        }
        let channels = x.shape[1]
        guard scale.count == channels, shift.count == channels else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "\(channels) scale and shift values",
                found: "\(scale.count) scale and \(shift.count) shift values")
        }
        guard x.count > 0 else { return }
        let batch = x.shape[0]
        let inner = x.count / (batch * channels)
        x.storage.withUnsafeMutableBufferPointer { buffer in
            guard var pointer = buffer.baseAddress else { return }
            for _ in 0..<batch {
                for c in 0..<channels {
                    let (a, b) = (Double(scale[c]), Double(shift[c]))
                    // The product of two floats is exact in Double, so this rounds like a fused
                    // multiply-add except in rare double-rounding ties, and it vectorizes, which
                    // a call to fmaf on baseline x86-64 does not.
                    for i in 0..<inner { pointer[i] = Float(Double(pointer[i]) * a + b) }
                    pointer += inner
                }
            }
        }
    }
}
