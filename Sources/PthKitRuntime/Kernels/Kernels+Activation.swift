import CKernels

extension Kernels {
    public enum Activation: Sendable {
        case relu, relu6, hardswish, hardsigmoid, silu, sigmoid, tanh, gelu

        /// Rough inner-loop cost per value relative to a copy, for deciding when threads pay off.
        var relativeCost: Int {
            switch self {
            case .relu, .relu6, .hardswish, .hardsigmoid: return 1
            case .silu, .sigmoid, .tanh, .gelu: return 8
            }
        }
    }

    /// Applies `activation` in place with ATen's float32 formulas and operation order: the
    /// piecewise-linear ones (relu, relu6, hardswish, hardsigmoid) match PyTorch bit for bit, the
    /// others differ only by their exp (a vectorizable one here, Sleef's in ATen), about 1e-7. NaN
    /// passes through, as in torch.
    public static func activate(_ x: inout Tensor, _ activation: Activation) {
        if let tracer = PlanTracer.recording {
            x = tracer.record(.activation(activation), [x]) { [activated($0[0], activation)] }[0]
            return
        }
        let count = x.count
        x.storage.withUnsafeMutableBufferPointer { values in
            guard let values = values.baseAddress else { return }
            activateInChunks(activation, values, values, count: count)
        }
    }

    /// `activation` of `x` as a new tensor. A module's input is still held by its caller, so an
    /// in-place pass would first copy it; reading from it while writing the result saves that pass.
    public static func activated(_ x: Tensor, _ activation: Activation) -> Tensor {
        if let tracer = PlanTracer.recording {
            return tracer.record(.activation(activation), [x]) { [activated($0[0], activation)] }[0]
        }
        let count = x.count
        var output = uninitializedBuffer(count: count)
        output.withUnsafeMutableBufferPointer { destination in
            x.storage.withUnsafeBufferPointer { source in
                guard let source = source.baseAddress, let destination = destination.baseAddress else { return }
                activateInChunks(activation, source, destination, count: count)
            }
        }
        return Tensor(shape: x.shape, storage: output)
    }

    /// `apply` over a large buffer, split across the compute threads (each value is independent).
    private static func activateInChunks(
        _ activation: Activation, _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        let block = 1 << 14
        let blocks = (count + block - 1) / block
        nonisolated(unsafe) let (source, destination) = (source, destination)
        forEachChunk(of: blocks, work: count * activation.relativeCost) { range in
            let start = range.lowerBound * block, end = min(range.upperBound * block, count)
            apply(activation, source + start, destination + start, count: end - start)
        }
    }

    /// destination[i] = activation(source[i]) for i in 0..<count; the two may be the same buffer.
    /// The one place the reference path's formulas live, so that a convolution applying its
    /// activation to its own output (`conv2d(..., activation:)`) rounds exactly as a separate pass
    /// does. The exponential ones (SiLU, sigmoid, GELU) run as the C kernels' pass: the formulas of
    /// the compiled plan's convolution epilogues, eight lanes at a time, where Swift's loop over
    /// `exponential` does not vectorize (GELU took a tenth of ConvNeXt's forward pass that way).
    static func apply(
        _ activation: Activation, _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        switch activation {
        case .relu: map(source, destination, count) { clamp($0, 0, .infinity) }
        case .relu6: map(source, destination, count) { clamp($0, 0, 6) }
        case .hardswish: map(source, destination, count) { $0 * clamp($0 + 3, 0, 6) / 6 }
        case .hardsigmoid: map(source, destination, count) { clamp($0 + 3, 0, 6) / 6 }
        case .silu: pk_activation_apply(PK_ACTIVATION_SILU, source, destination, count)
        case .sigmoid: pk_activation_apply(PK_ACTIVATION_SIGMOID, source, destination, count)
        case .tanh: map(source, destination, count) { hyperbolicTangent($0) }
        case .gelu: pk_activation_apply(PK_ACTIVATION_GELU, source, destination, count)
        }
    }

    /// The C kernels' code for `activation`, nil for the ones they do not implement (tanh).
    static func kernelActivation(_ activation: Activation) -> pk_activation? {
        switch activation {
        case .relu: return PK_ACTIVATION_RELU
        case .relu6: return PK_ACTIVATION_RELU6
        case .hardswish: return PK_ACTIVATION_HARDSWISH
        case .hardsigmoid: return PK_ACTIVATION_HARDSIGMOID
        case .silu: return PK_ACTIVATION_SILU
        case .sigmoid: return PK_ACTIVATION_SIGMOID
        case .gelu: return PK_ACTIVATION_GELU
        case .tanh: return nil
        }
    }

    /// The element-wise loop, written twice: when both pointers are one buffer the compiler cannot
    /// prove it and would fall back to a scalar loop, so the in-place case gets its own.
    @inline(__always)
    private static func map(
        _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, _ count: Int,
        _ f: (Float) -> Float
    ) {
        if UnsafePointer(destination) == source {
            for i in 0..<count { destination[i] = f(destination[i]) }
        } else {
            for i in 0..<count { destination[i] = f(source[i]) }
        }
    }

    /// e^x to within about 2 ulp, written so that loops over it vectorize (libm's expf is a call
    /// per element): Cody-Waite reduction x = n ln2 + r, Cephes' polynomial for e^r, and 2^n built
    /// in the exponent bits. NaN passes through; above 88.72 the result is +inf and below -87.34
    /// (where e^x is subnormal) 0; in between 88.38 and 88.72 it stays at e^88.38. ATen's vectorized
    /// kernels use Sleef's expf (1 ulp) in the same places.
    @inline(__always)
    static func exponential(_ x: Float) -> Float {
        // Clamp so that 2^n stays a normal float; the ends are patched up below.
        let clamped = x > 88.37626 ? 88.37626 : (x < -87.33654 ? -87.33654 : x)
        // Round to nearest by the 1.5 * 2^23 trick: n lands in the low mantissa bits of `shifted`.
        let magic: Float = 12_582_912
        let shifted = clamped * 1.442_695_04 + magic
        let n = shifted - magic
        let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * r * r + r + 1
        let exponentBits = (shifted.bitPattern &- magic.bitPattern &+ 127) &<< 23
        let result = p * Float(bitPattern: exponentBits)
        return x > 88.72284 ? .infinity : (x < -87.33654 ? 0 : result)
    }

    /// tanh as Cephes computes it (about 2 ulp), vectorizable: an odd polynomial below |x| = 0.625,
    /// 1 - 2 / (e^2|x| + 1) above.
    @inline(__always)
    static func hyperbolicTangent(_ x: Float) -> Float {
        let magnitude = abs(x)
        let large = 1 - 2 / (exponential(2 * magnitude) + 1)
        let z = x * x
        var p: Float = -5.704_988_727_45e-3
        p = p * z + 2.063_908_879_54e-2
        p = p * z - 5.373_971_555_31e-2
        p = p * z + 1.333_144_220_36e-1
        p = p * z - 3.333_328_194_22e-1
        let small = p * z * x + x
        return magnitude > 0.625 ? (x < 0 ? -large : large) : small
    }

    /// min(max(x, low), high) letting NaN through, like torch.clamp.
    @inline(__always)
    private static func clamp(_ x: Float, _ low: Float, _ high: Float) -> Float {
        x < low ? low : (x > high ? high : x)
    }

    /// `torch.softmax(x, dim)`: exp(x - max) / sum along `dim`, which may be negative.
    public static func softmax(_ x: Tensor, dim: Int) throws -> Tensor {
        if PlanTracer.recording != nil { return try traced("softmax", x) { try softmax($0, dim: dim) } }
        let op = "softmax"
        try requireConsistent(x, op)
        let axis = try resolveDimension(dim, rank: x.rank, op)
        guard x.count > 0 else { return x }
        let length = x.rank == 0 ? 1 : x.shape[axis]
        let inner = x.shape.dropFirst(axis + 1).reduce(1, *)
        let outer = x.count / (length * inner)
        var output = x.storage
        output.withUnsafeMutableBufferPointer { values in
            for o in 0..<outer {
                for i in 0..<inner {
                    let start = o * length * inner + i
                    var maximum = -Float.infinity
                    for k in 0..<length {
                        let value = values[start + k * inner]
                        if value > maximum || value != value { maximum = value }  // NaN wins, as in torch
                    }
                    // A float64 sum keeps long rows (1000 classes) within an ulp of ATen's tree sum.
                    var sum: Double = 0
                    for k in 0..<length {
                        let e = exponential(values[start + k * inner] - maximum)
                        values[start + k * inner] = e
                        sum += Double(e)
                    }
                    let total = Float(sum)
                    for k in 0..<length { values[start + k * inner] /= total }
                }
            }
        }
        return Tensor(shape: x.shape, storage: output)
    }
}
