extension Kernels {
    /// `torch.nn.functional.linear`: input [..., in], weight [out, in], bias of `out` values or nil;
    /// the result is [..., out]. One row runs as sgemv, several as sgemm (the reference path; a
    /// compiled plan runs its linear layers on packed weights, `PackedLinear`).
    public static func linear(_ input: Tensor, weight: Tensor, bias: [Float]?) throws -> Tensor {
        if let tracer = PlanTracer.recording {
            // A weight the trace did not compute is a parameter (a layer's, called directly as
            // attention's projections are): recorded as a linear node, so the plan packs it.
            guard tracer.value(ofOutput: weight) == nil else {
                return try traced("linear", [input, weight]) { [try linear($0[0], weight: $0[1], bias: bias)] }[0]
            }
            return try tracer.record(.linear(weight: weight, bias: bias), [input]) {
                [try linear($0[0], weight: weight, bias: bias)]
            }[0]
        }
        let op = "linear"
        try requireConsistent(input, op)
        let (rows, inFeatures, outFeatures, shape) = try linearGeometry(
            inputShape: input.shape, weight: weight, biasCount: bias?.count)

        // sgemm overwrites every value (or adds to the bias) unless there is nothing to sum.
        var output = inFeatures > 0 ? uninitializedBuffer(count: rows * outFeatures) : zeroedBuffer(count: rows * outFeatures)
        if let bias {
            output.withUnsafeMutableBufferPointer { buffer in
                for row in 0..<rows {
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[(row * outFeatures)..<((row + 1) * outFeatures)])
                        .update(fromContentsOf: bias)
                }
            }
        }
        // BLAS rejects zero leading dimensions; with nothing to sum the result is the bias.
        guard rows > 0, outFeatures > 0, inFeatures > 0 else { return Tensor(shape: shape, storage: output) }
        input.storage.withUnsafeBufferPointer { x in
            weight.storage.withUnsafeBufferPointer { w in
                output.withUnsafeMutableBufferPointer { y in
                    // Sizes are non-zero (checked above), so the buffers have base addresses.
                    guard let x = x.baseAddress, let w = w.baseAddress, let y = y.baseAddress else { return }
                    if rows == 1 {
                        multiply(m: outFeatures, n: inFeatures, w, vector: x, accumulate: bias != nil, y)
                    } else {
                        multiply(
                            transposeB: true, m: rows, n: outFeatures, k: inFeatures, x, lda: inFeatures, w,
                            ldb: inFeatures, accumulate: bias != nil, y, ldc: outFeatures)
                    }
                }
            }
        }
        return Tensor(shape: shape, storage: output)
    }

    /// The rules `linear` holds its operands to, shared with the plan's packed linear layers: weight
    /// [out, in] with `in` the input's last dimension, a bias of `out` values, sizes within OpenBLAS's
    /// 32-bit range. Gives the rows multiplied, the feature counts and the output shape.
    static func linearGeometry(inputShape: [Int], weight: Tensor, biasCount: Int?) throws
        -> (rows: Int, inFeatures: Int, outFeatures: Int, outputShape: [Int])
    {
        let op = "linear"
        try require(weight, rank: 2, op, "weight", layout: "[out, in]")
        guard let inFeatures = inputShape.last else {
            throw RuntimeError.shapeMismatch(operation: op, expected: "input of rank >= 1", found: "a 0-d tensor")
        }
        let outFeatures = weight.shape[0]
        guard weight.shape[1] == inFeatures else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "weight [out, \(inFeatures)] for input shape \(inputShape)",
                found: "weight shape \(weight.shape)")
        }
        if let biasCount, biasCount != outFeatures {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "bias of \(outFeatures) values", found: "\(biasCount) values")
        }
        let outputShape = try resultShape(inputShape.dropLast() + [outFeatures], op)
        guard let rows = Tensor.elementCount(of: Array(inputShape.dropLast())) else {
            throw RuntimeError.invalidArgument(operation: op, reason: "input shape \(inputShape) is too large")
        }
        try requireBLASSizes([rows, inFeatures, outFeatures], op)
        return (rows, inFeatures, outFeatures, outputShape)
    }

    /// C[M, N] = op(A) * op(B) for rank-2 tensors, where op transposes when asked: A is [M, K]
    /// (or [K, M] with `transposeA`), B is [K, N] (or [N, K] with `transposeB`).
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("matmul", [a, b]) {
                [try matmul($0[0], $0[1], transposeA: transposeA, transposeB: transposeB)]
            }[0]
        }
        let op = "matmul"
        try require(a, rank: 2, op, "a")
        try require(b, rank: 2, op, "b")
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (bk, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == bk else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "inner dimensions to agree (a gives \(k))",
                found: "a shape \(a.shape)\(transposeA ? "ᵀ" : ""), b shape \(b.shape)\(transposeB ? "ᵀ" : "")")
        }
        let shape = try resultShape([m, n], op)
        try requireBLASSizes([m, n, k], op)
        var output = k > 0 ? uninitializedBuffer(count: m * n) : zeroedBuffer(count: m * n)
        guard m > 0, n > 0, k > 0 else { return Tensor(shape: shape, storage: output) }
        a.storage.withUnsafeBufferPointer { a in
            b.storage.withUnsafeBufferPointer { b in
                output.withUnsafeMutableBufferPointer { c in
                    guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
                    multiply(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a, lda: transposeA ? m : k,
                        b, ldb: transposeB ? k : n, accumulate: false, c, ldc: n)
                }
            }
        }
        return Tensor(shape: shape, storage: output)
    }

    /// OpenBLAS here takes 32-bit sizes.
    static func requireBLASSizes(_ sizes: [Int], _ operation: String) throws {
        for size in sizes where size > Int(Int32.max) {
            throw RuntimeError.invalidArgument(operation: operation, reason: "size \(size) exceeds the BLAS index range")
        }
    }
}
