import CKernels

/// Kernels that only move values: the permutes, rolls, pads, slices, broadcasts and table lookups
/// the transformer models write between their layers (torch's views made contiguous).
extension Kernels {
    /// `x.permute(dims)` made contiguous: dimension `i` of the result is dimension `dims[i]` of `x`.
    public static func permute(_ x: Tensor, _ dims: [Int]) throws -> Tensor {
        if PlanTracer.recording != nil { return try traced("permute", x) { try permute($0, dims) } }
        let op = "permute"
        try requireConsistent(x, op)
        let axes = try dims.map { try resolveDimension($0, rank: x.rank, op) }
        guard axes.count == x.rank, Set(axes).count == x.rank else {
            throw RuntimeError.invalidArgument(
                operation: op, reason: "dims \(dims) are not a permutation of the \(x.rank) dimensions of \(x.shape)")
        }
        let shape = axes.map { x.shape[$0] }
        let strides = contiguousStrides(x.shape)
        return Tensor(shape: shape, storage: gather(x.storage.array, shape: shape, sourceStrides: axes.map { strides[$0] }))
    }

    /// `torch.roll(x, shifts, dims)`: values leave one end of each dimension and come back at the other.
    public static func roll(_ x: Tensor, shifts: [Int], dims: [Int]) throws -> Tensor {
        if PlanTracer.recording != nil { return try traced("roll", x) { try roll($0, shifts: shifts, dims: dims) } }
        let op = "roll"
        try requireConsistent(x, op)
        guard shifts.count == dims.count else {
            throw RuntimeError.invalidArgument(operation: op, reason: "\(shifts.count) shifts for \(dims.count) dims")
        }
        var offsets = [Int](repeating: 0, count: x.rank)
        for (shift, dim) in zip(shifts, dims) {
            let axis = try resolveDimension(dim, rank: x.rank, op)
            guard x.shape[axis] > 0 else { continue }
            offsets[axis] = ((offsets[axis] - shift) % x.shape[axis] + x.shape[axis]) % x.shape[axis]
        }
        guard x.count > 0 else { return x }
        return Tensor(shape: x.shape, storage: copyWindow(x, offsets: offsets, shape: x.shape, wrap: true))
    }

    /// `torch.nn.functional.pad(x, pad)` with zeros, `pad` as torch orders it: (before, after) of the
    /// last dimension first. Negative amounts crop, as in torch.
    public static func pad(_ x: Tensor, _ pad: [Int]) throws -> Tensor {
        if PlanTracer.recording != nil { return try traced("pad", x) { try Kernels.pad($0, pad) } }
        let op = "pad"
        try requireConsistent(x, op)
        guard pad.count % 2 == 0, pad.count / 2 <= x.rank else {
            throw RuntimeError.invalidArgument(
                operation: op, reason: "padding \(pad) must be pairs for at most the \(x.rank) dimensions")
        }
        var offsets = [Int](repeating: 0, count: x.rank)
        var shape = x.shape
        for pair in 0..<(pad.count / 2) {
            let axis = x.rank - 1 - pair
            for amount in pad[(2 * pair)...(2 * pair + 1)] {
                try requireArgument(amount, "padding", in: -maxExtent...maxExtent, op)
            }
            offsets[axis] = -pad[2 * pair]
            shape[axis] += pad[2 * pair] + pad[2 * pair + 1]
            guard shape[axis] >= 0 else {
                throw RuntimeError.invalidArgument(
                    operation: op, reason: "padding \(pad) of shape \(x.shape) gives a negative size")
            }
        }
        shape = try resultShape(shape, op)
        return Tensor(shape: shape, storage: copyWindow(x, offsets: offsets, shape: shape, wrap: false))
    }

    /// `x.narrow(dim, start, length)` made contiguous (torch's `x[:, start:start + length]`).
    public static func narrow(_ x: Tensor, dim: Int, start: Int, length: Int) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("narrow", x) { try narrow($0, dim: dim, start: start, length: length) }
        }
        let op = "narrow"
        try requireConsistent(x, op)
        let axis = try resolveDimension(dim, rank: x.rank, op)
        guard x.rank > 0, start >= 0, length >= 0, start <= x.shape[axis] - length else {
            throw RuntimeError.invalidArgument(
                operation: op, reason: "range \(start)..<\(start + length) outside dimension \(dim) of \(x.shape)")
        }
        return slice(x, axis: axis, start..<(start + length))
    }

    /// `x.expand(shape)` made contiguous: dimensions of size 1 (or missing in front) repeated.
    public static func expand(_ x: Tensor, to shape: [Int]) throws -> Tensor {
        if PlanTracer.recording != nil { return try traced("expand", x) { try expand($0, to: shape) } }
        let op = "expand"
        try requireConsistent(x, op)
        let strides = try broadcastStrides(x.shape, to: shape, op)
        return Tensor(shape: try resultShape(shape, op), storage: gather(x.storage.array, shape: shape, sourceStrides: strides))
    }

    /// `table[index]` (`torch.index_select(table, 0, index)`): rows of `table` [R, ...] picked by
    /// `index` of any shape, giving index.shape + table.shape[1...]. The index values come from a
    /// checkpoint's buffer, so each is checked against the table.
    public static func indexSelect(_ table: Tensor, index: Tensor) throws -> Tensor {
        if PlanTracer.recording != nil {
            return try traced("index_select", [table, index]) { [try indexSelect($0[0], index: $0[1])] }[0]
        }
        let op = "indexSelect"
        try requireConsistent(table, op, "table")
        try requireConsistent(index, op, "index")
        guard let rows = table.shape.first else {
            throw RuntimeError.shapeMismatch(operation: op, expected: "table of rank >= 1", found: "a 0-d tensor")
        }
        let width = rows == 0 ? 0 : table.count / rows
        var output = [Float]()
        output.reserveCapacity(index.count * width)
        for value in index.storage {
            guard let row = Int(exactly: value), row >= 0, row < rows else {
                throw RuntimeError.invalidArgument(operation: op, reason: "index \(value) outside a table of \(rows) rows")
            }
            output.append(contentsOf: table.storage[(row * width)..<((row + 1) * width)])
        }
        return Tensor(shape: try resultShape(index.shape + table.shape.dropFirst(), op), storage: output)
    }

    /// The strides that read `shape` from a contiguous tensor of `source` shape broadcast to it
    /// (zero where a dimension repeats), or an error when the two do not broadcast.
    static func broadcastStrides(_ source: [Int], to shape: [Int], _ op: String) throws -> [Int] {
        guard source.count <= shape.count else {
            throw RuntimeError.shapeMismatch(operation: op, expected: "at most \(shape.count) dimensions", found: "shape \(source)")
        }
        let padded = [Int](repeating: 1, count: shape.count - source.count) + source
        let strides = contiguousStrides(padded)
        return try shape.indices.map { axis in
            if padded[axis] == shape[axis] { return padded[axis] == 1 ? 0 : strides[axis] }
            guard padded[axis] == 1 else {
                throw RuntimeError.shapeMismatch(
                    operation: op, expected: "a shape that broadcasts to \(shape)", found: "shape \(source)")
            }
            return 0
        }
    }

    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in shape.indices.dropLast().reversed() { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        return strides
    }

    /// The values of a `shape` tensor whose element at index i is `source[sum(i[d] * sourceStrides[d])]`,
    /// in row-major order: the one loop behind permute and expand.
    static func gather(_ source: [Float], shape: [Int], sourceStrides: [Int]) -> [Float] {
        let count = shape.reduce(1, *)
        guard count > 0 else { return [] }
        let (dims, strides) = mergedDimensions(shape, sourceStrides)
        guard let inner = dims.last, let innerStride = strides.last else { return [source[0]] }
        if dims.count >= 2, innerStride != 1, strides[dims.count - 2] == 1 {
            return transposed(source, dims: dims, strides: strides)
        }
        var output = uninitializedBuffer(count: count)
        output.withUnsafeMutableBufferPointer { output in
            source.withUnsafeBufferPointer { source in
                var index = [Int](repeating: 0, count: dims.count)
                var offset = 0, position = 0
                while position < count {
                    for i in 0..<inner { output[position + i] = source[offset + i * innerStride] }
                    position += inner
                    var axis = dims.count - 2
                    while axis >= 0 {
                        index[axis] += 1
                        offset += strides[axis]
                        if index[axis] < dims[axis] { break }
                        offset -= strides[axis] * dims[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return output
    }

    /// The same gather over fewer dimensions: size-1 dimensions move nothing, and neighbours that
    /// walk the source as one dimension would (outer stride = inner stride x inner size) are one.
    /// NCHW -> NHWC becomes [N, H*W, C], a batch of 2-D transposes.
    private static func mergedDimensions(_ shape: [Int], _ sourceStrides: [Int]) -> (dims: [Int], strides: [Int]) {
        var dims: [Int] = [], strides: [Int] = []
        for axis in shape.indices where shape[axis] != 1 {
            if let last = dims.last, let lastStride = strides.last, lastStride == sourceStrides[axis] * shape[axis] {
                dims[dims.count - 1] = last * shape[axis]
                strides[strides.count - 1] = sourceStrides[axis]
            } else {
                dims.append(shape[axis])
                strides.append(sourceStrides[axis])
            }
        }
        return (dims, strides)
    }

    /// A gather whose last two (merged) dimensions are a transpose: the innermost output dimension
    /// strides through the source and the one before it reads consecutive values. The C kernel
    /// moves 8 x 8 blocks through registers: element by element, every read of ConvNeXt's
    /// NCHW -> NHWC permute landed a plane apart.
    private static func transposed(_ source: [Float], dims: [Int], strides: [Int]) -> [Float] {
        let (rows, columns) = (dims[dims.count - 2], dims[dims.count - 1])
        let columnStride = strides[dims.count - 1]
        let outer = Array(dims.dropLast(2)), outerStrides = Array(strides.dropLast(2))
        let batches = outer.reduce(1, *)
        var output = uninitializedBuffer(count: batches * rows * columns)
        output.withUnsafeMutableBufferPointer { output in
            source.withUnsafeBufferPointer { source in
                guard let to = output.baseAddress, let from = source.baseAddress else { return }
                for batch in 0..<batches {
                    // The batch's source offset from its index in the outer dimensions.
                    var rest = batch, offset = 0
                    for axis in outer.indices.reversed() {
                        offset += rest % outer[axis] * outerStrides[axis]
                        rest /= outer[axis]
                    }
                    let out = to + batch * rows * columns
                    if columnStride > 0 {
                        pk_transpose(from + offset, columnStride, out, rows, columns)
                    } else {
                        // A broadcast (stride 0): each output row repeats one source value.
                        for row in 0..<rows { (out + row * columns).update(repeating: from[offset + row], count: columns) }
                    }
                }
            }
        }
        return output
    }

    /// A `shape` tensor whose element at index i is x[i + offsets], taken modulo x's shape when
    /// `wrap` (roll), zero outside x otherwise (pad and crop).
    private static func copyWindow(_ x: Tensor, offsets: [Int], shape: [Int], wrap: Bool) -> [Float] {
        let count = shape.reduce(1, *)
        guard count > 0 else { return [] }
        guard x.rank > 0 else { return x.storage.array }
        let strides = contiguousStrides(x.shape)
        // Per dimension, the source index of each output index (-1: a zero of the padding).
        let sources = shape.indices.map { axis in
            (0..<shape[axis]).map { o -> Int in
                let i = o + offsets[axis]
                if wrap { return i % x.shape[axis] }
                return i >= 0 && i < x.shape[axis] ? i : -1
            }
        }
        var output = zeroedBuffer(count: count)
        let last = x.rank - 1
        x.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { output in
                var index = [Int](repeating: 0, count: x.rank)
                var position = 0
                while position < count {
                    var offset = 0, inside = true
                    for axis in 0..<last {
                        let s = sources[axis][index[axis]]
                        if s < 0 { inside = false; break }
                        offset += s * strides[axis]
                    }
                    if inside {
                        let row = sources[last]
                        for o in 0..<shape[last] where row[o] >= 0 { output[position + o] = source[offset + row[o]] }
                    }
                    position += shape[last]
                    var axis = last - 1
                    while axis >= 0 {
                        index[axis] += 1
                        if index[axis] < shape[axis] { break }
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return output
    }
}
