import CKernels

extension Kernels {
    /// `torch.cat(tensors, dim)`: equal shapes except along `dim`, which may be negative.
    public static func concatenate(_ tensors: [Tensor], dim: Int) throws -> Tensor {
        if let tracer = PlanTracer.recording {
            return try tracer.record(.concatenate(dim: dim), tensors) { [try concatenate($0, dim: dim)] }[0]
        }
        let op = "concatenate"
        guard let first = tensors.first else {
            throw RuntimeError.invalidArgument(operation: op, reason: "needs at least one tensor")
        }
        for tensor in tensors { try requireConsistent(tensor, op) }
        guard first.rank >= 1 else {
            throw RuntimeError.invalidArgument(operation: op, reason: "0-d tensors cannot be concatenated")
        }
        let axis = try resolveDimension(dim, rank: first.rank, op)
        var shape = first.shape
        shape[axis] = 0
        for tensor in tensors {
            var other = tensor.shape
            if other.count == shape.count { other[axis] = 0 }
            guard other == shape else {
                throw RuntimeError.shapeMismatch(
                    operation: op, expected: "shapes equal to \(first.shape) except in dimension \(axis)",
                    found: "shape \(tensor.shape)")
            }
        }
        shape[axis] = try tensors.reduce(0) { total, tensor in
            let (sum, overflow) = total.addingReportingOverflow(tensor.shape[axis])
            guard !overflow, sum <= maxExtent else {
                throw RuntimeError.invalidArgument(operation: op, reason: "concatenated dimension is too large")
            }
            return sum
        }
        guard let count = Tensor.elementCount(of: try resultShape(shape, op)), count > 0 else {
            return Tensor(zeros: shape)
        }
        let inner = shape.dropFirst(axis + 1).reduce(1, *)
        let outer = count / (shape[axis] * inner)
        var output = [Float]()
        output.reserveCapacity(count)
        for o in 0..<outer {
            for tensor in tensors {
                let slice = tensor.shape[axis] * inner
                output.append(contentsOf: tensor.storage[(o * slice)..<((o + 1) * slice)])
            }
        }
        return Tensor(shape: shape, storage: output)
    }

    /// `torch.chunk(x, chunks, dim)`: pieces of ceil(size / chunks) along `dim`, the last one
    /// smaller; fewer than `chunks` pieces when the size does not stretch that far.
    public static func chunk(_ x: Tensor, chunks: Int, dim: Int) throws -> [Tensor] {
        if let tracer = PlanTracer.recording {
            return try tracer.record(.chunk(chunks: chunks, dim: dim), [x]) { try chunk($0[0], chunks: chunks, dim: dim) }
        }
        let op = "chunk"
        try requireConsistent(x, op)
        guard x.rank >= 1 else {
            throw RuntimeError.invalidArgument(operation: op, reason: "needs a tensor of rank >= 1")
        }
        try requireArgument(chunks, "chunks", in: 1...Int.max, op)
        let axis = try resolveDimension(dim, rank: x.rank, op)
        let size = x.shape[axis]
        if size == 0 {  // torch keeps the count: `chunks` empty pieces
            return Array(repeating: x, count: chunks)
        }
        let pieceSize = (size - 1) / chunks + 1
        return stride(from: 0, to: size, by: pieceSize).map { start in
            slice(x, axis: axis, start..<min(start + pieceSize, size))
        }
    }

    /// The part of `x` with indices `range` along `axis` (both already validated).
    static func slice(_ x: Tensor, axis: Int, _ range: Range<Int>) -> Tensor {
        var shape = x.shape
        shape[axis] = range.count
        guard x.count > 0 else { return Tensor(zeros: shape) }
        let inner = x.shape.dropFirst(axis + 1).reduce(1, *)
        if axis == 1 {  // channels: whole planes, copied on the compute threads
            var output = uninitializedBuffer(count: shape.reduce(1, *))
            x.storage.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { destination in
                    pk_copy_channels(source.baseAddress, x.shape[1], range.lowerBound, destination.baseAddress,
                                     range.count, x.shape[0], inner)
                }
            }
            return Tensor(shape: shape, storage: output)
        }
        let stretch = x.shape[axis] * inner
        var output = [Float]()
        output.reserveCapacity(x.count / x.shape[axis] * range.count)
        for o in 0..<(x.count / stretch) {
            output.append(contentsOf: x.storage[(o * stretch + range.lowerBound * inner)..<(o * stretch + range.upperBound * inner)])
        }
        return Tensor(shape: shape, storage: output)
    }

    /// `torch.nn.functional.channel_shuffle`: view [N, g, C/g, ...] transposed to [N, C/g, g, ...].
    public static func channelShuffle(_ x: Tensor, groups: Int) throws -> Tensor {
        if let tracer = PlanTracer.recording {
            return try tracer.record(.channelShuffle(groups: groups), [x]) { [try channelShuffle($0[0], groups: groups)] }[0]
        }
        let op = "channelShuffle"
        try requireConsistent(x, op)
        guard x.rank >= 3 else {
            throw RuntimeError.shapeMismatch(operation: op, expected: "input [N, C, ...] of rank >= 3", found: "shape \(x.shape)")
        }
        try requireArgument(groups, "groups", in: 1...Int.max, op)
        let channels = x.shape[1]
        guard channels % groups == 0 else {
            throw RuntimeError.invalidArgument(
                operation: op, reason: "groups \(groups) must divide the \(channels) channels")
        }
        guard x.count > 0 else { return x }
        let inner = x.count / (x.shape[0] * channels)
        var output = uninitializedBuffer(count: x.count)
        x.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                pk_channel_shuffle(source.baseAddress, destination.baseAddress, x.shape[0], channels, groups, inner)
            }
        }
        return Tensor(shape: x.shape, storage: output)
    }

    /// `torch.nn.ZeroPad2d((left, right, top, bottom))` on the last two dimensions; negative
    /// amounts crop, as in torch.
    public static func zeroPad2d(_ x: Tensor, left: Int, right: Int, top: Int, bottom: Int) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("zero_pad2d", x) { try zeroPad2d($0, left: left, right: right, top: top, bottom: bottom) }
        }
        let op = "zeroPad2d"
        try requireConsistent(x, op)
        guard x.rank >= 2 else {
            throw RuntimeError.shapeMismatch(operation: op, expected: "input of rank >= 2", found: "shape \(x.shape)")
        }
        for amount in [left, right, top, bottom] {
            try requireArgument(amount, "padding", in: -maxExtent...maxExtent, op)
        }
        let (height, width) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let (newHeight, newWidth) = (height + top + bottom, width + left + right)
        guard newHeight >= 0, newWidth >= 0 else {
            throw RuntimeError.invalidArgument(
                operation: op,
                reason: "padding (\(left), \(right), \(top), \(bottom)) of a \(height)x\(width) input gives a negative size")
        }
        let shape = try resultShape(x.shape.dropLast(2) + [newHeight, newWidth], op)
        guard let count = Tensor.elementCount(of: shape), count > 0, x.count > 0 else { return Tensor(zeros: shape) }
        let planes = x.count / (height * width)
        // Output columns that come from the input, and the rows likewise.
        let columns = max(left, 0)..<max(min(width + left, newWidth), max(left, 0))
        let rows = max(top, 0)..<max(min(height + top, newHeight), max(top, 0))
        var output = zeroedBuffer(count: count)
        x.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                for plane in 0..<planes {
                    for oy in rows {
                        let from = plane * height * width + (oy - top) * width - left
                        let to = plane * newHeight * newWidth + oy * newWidth
                        for ox in columns { destination[to + ox] = source[from + ox] }
                    }
                }
            }
        }
        return Tensor(shape: shape, storage: output)
    }

    /// `torch.flatten(x, start_dim)`: dimensions from `startDim` (may be negative) to the end
    /// become one.
    public static func flatten(_ x: Tensor, startDim: Int) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("flatten", x) { try flatten($0, startDim: startDim) }
        }
        let op = "flatten"
        try requireConsistent(x, op)
        let axis = try resolveDimension(startDim, rank: x.rank, op)
        guard let merged = Tensor.elementCount(of: Array(x.shape.dropFirst(axis))) else {
            throw RuntimeError.invalidArgument(operation: op, reason: "shape \(x.shape) is too large")
        }
        return Tensor(shape: x.shape.prefix(axis) + [merged], storage: x.storage)
    }
}
