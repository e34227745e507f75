extension Kernels {
    /// a + b for tensors of one shape (residual connections).
    public static func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        if let tracer = PlanTracer.recording {
            return try tracer.record(.add, [a, b]) { [try add($0[0], $0[1])] }[0]
        }
        var sum = a
        try addInPlace(&sum, b)
        return sum
    }

    public static func addInPlace(_ a: inout Tensor, _ b: Tensor) throws {
        if let tracer = PlanTracer.recording {
            a = try tracer.record(.add, [a, b]) { [try add($0[0], $0[1])] }[0]
            return
        }
        let op = "add"
        try requireConsistent(a, op, "a")
        try requireConsistent(b, op, "b")
        guard a.shape == b.shape else {
            throw RuntimeError.shapeMismatch(operation: op, expected: "b of shape \(a.shape)", found: "shape \(b.shape)")
        }
        a.storage.withUnsafeMutableBufferPointer { a in
            b.storage.withUnsafeBufferPointer { b in
                for i in 0..<a.count { a[i] += b[i] }
            }
        }
    }

    /// x [N, C, H, W] times s [N, C, 1, 1], each plane by its own scalar (squeeze-excitation).
    public static func multiplyChannels(_ x: Tensor, by s: Tensor) throws -> Tensor {
        if let tracer = PlanTracer.recording {
            return try tracer.record(.multiplyChannels, [x, s]) { [try multiplyChannels($0[0], by: $0[1])] }[0]
        }
        let op = "multiplyChannels"
        try require(x, rank: 4, op, layout: "[N, C, H, W]")
        try require(s, rank: 4, op, "scale", layout: "[N, C, 1, 1]")
        guard s.shape == [x.shape[0], x.shape[1], 1, 1] else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "scale of shape \([x.shape[0], x.shape[1], 1, 1])", found: "shape \(s.shape)")
        }
        let plane = x.shape[2] * x.shape[3]
        // Written from x in one pass: a copy of x to scale in place would read it twice.
        var output = uninitializedBuffer(count: x.count)
        output.withUnsafeMutableBufferPointer { output in
            x.storage.withUnsafeBufferPointer { x in
                s.storage.withUnsafeBufferPointer { s in
                    for p in 0..<s.count {
                        let factor = s[p]
                        for i in (p * plane)..<((p + 1) * plane) { output[i] = x[i] * factor }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, storage: output)
    }
}

extension Tensor {
    /// `a + b` as torch writes a residual connection (`Kernels.add`).
    public static func + (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try Kernels.add(lhs, rhs)
    }

    /// `out += identity` as torch writes a residual connection (`Kernels.addInPlace`).
    public static func += (lhs: inout Tensor, rhs: Tensor) throws {
        try Kernels.addInPlace(&lhs, rhs)
    }
}
