extension Kernels {
    /// `a * b` with torch's broadcasting: ConvNeXt's layer scale [C, 1, 1] times [N, C, H, W], or a
    /// 0-d scalar times anything.
    public static func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        if PlanTracer.recording != nil { return try traced("mul", [a, b]) { [try multiply($0[0], $0[1])] }[0] }
        let op = "multiply"
        try requireConsistent(a, op, "a")
        try requireConsistent(b, op, "b")
        let shape = try broadcastShape(a.shape, b.shape, op)
        let left = a.shape == shape ? a.storage : try expand(a, to: shape).storage
        let right = b.shape == shape ? b.storage : try expand(b, to: shape).storage
        let count = left.count
        var product = uninitializedBuffer(count: count)
        product.withUnsafeMutableBufferPointer { output in
            left.withUnsafeBufferPointer { left in
                right.withUnsafeBufferPointer { right in
                    for i in 0..<count { output[i] = left[i] * right[i] }
                }
            }
        }
        return Tensor(shape: shape, storage: product)
    }

    /// The shape two tensors broadcast to, as torch aligns them: from the last dimension, each pair
    /// equal or one of them 1.
    static func broadcastShape(_ a: [Int], _ b: [Int], _ op: String) throws -> [Int] {
        let rank = max(a.count, b.count)
        let a = [Int](repeating: 1, count: rank - a.count) + a, b = [Int](repeating: 1, count: rank - b.count) + b
        return try zip(a, b).map { x, y in
            guard x == y || x == 1 || y == 1 else {
                throw RuntimeError.shapeMismatch(operation: op, expected: "shapes that broadcast", found: "\(a) and \(b)")
            }
            return x == 1 ? y : x
        }
    }
}
