/// Where a non-contiguous view (a transpose, a strided slice, an expanded stride-0 view) lies in its
/// storage, in elements. Torch keeps such a tensor as a view and so does PthKit: `TensorView` checks
/// the numbers once (in bounds, no overflow), and the dense values are produced only piecewise, by
/// the consumer that needs them, in row-major order (`TensorData.forEachDenseChunk`).
public struct TensorLayout: Sendable, Hashable {
    public let offset: Int
    public let strides: [Int]
    /// The product of the sizes, checked against overflow in bytes as well.
    let elementCount: Int
    /// The dimensions as the walk steps through them: size-1 dimensions dropped and neighbours that
    /// step as one merged, so a [2^30] stride-0 row or a transposed matrix is one or two loops.
    let walk: [Dimension]

    struct Dimension: Hashable {
        let size: Int
        let stride: Int
    }

    init(offset: Int, shape: [Int], strides: [Int], elementCount: Int) {
        self.offset = offset
        self.strides = strides
        self.elementCount = elementCount
        var walk: [Dimension] = []
        for (size, stride) in zip(shape, strides) where size != 1 {
            if let outer = walk.last, outer.stride == stride &* size {
                walk[walk.count - 1] = Dimension(size: outer.size * size, stride: stride)
            } else {
                walk.append(Dimension(size: size, stride: stride))
            }
        }
        self.walk = walk
    }

    /// Whether the view is one run of consecutive elements (a slice of rows, `base[2]`).
    var isContiguous: Bool { walk.count <= 1 && (walk.first?.stride ?? 1) == 1 }
}

extension TensorData {
    /// Runs `body` over consecutive pieces of the dense row-major bytes of `elements` (all by
    /// default): a dense tensor's own bytes chunk by chunk, a view's gathered into one reused
    /// buffer of at most `chunkBytes`. Memory stays bounded whatever the view claims.
    public func forEachDenseChunk(
        elements: Range<Int>? = nil, chunkBytes: Int = 1 << 20,
        _ body: (_ firstElement: Int, _ chunk: UnsafeRawBufferPointer) -> Void
    ) {
        let size = dtype.byteSize
        let range = (elements ?? 0..<elementCount).clamped(to: 0..<elementCount)
        guard !range.isEmpty else { return }
        if let dense = denseStorage {
            dense.forEachChunk(elementSize: size) { first, raw in
                let start = max(first, range.lowerBound), end = min(first + raw.count / size, range.upperBound)
                guard start < end else { return }
                body(start, UnsafeRawBufferPointer(rebasing: raw[((start - first) * size)..<((end - first) * size)]))
            }
            return
        }
        guard let layout else { return }
        let chunkElements = max(1, chunkBytes / size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(chunkElements, range.count) * size, alignment: 16)
        defer { buffer.deallocate() }
        storage.withUnsafeBytes { source in
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(start + chunkElements, range.upperBound)
                layout.gather(elements: start..<end, elementSize: size, from: source, into: buffer)
                body(start, UnsafeRawBufferPointer(rebasing: buffer[0..<((end - start) * size)]))
                start = end
            }
        }
    }

    /// The dense values as bytes of their own or of the file, without copying: the storage of a
    /// dense tensor, the run of a contiguous view; nil for a view that must be gathered.
    public var denseStorage: TensorBytes? {
        guard let layout else { return storage }
        guard layout.isContiguous else { return nil }
        let start = layout.offset * dtype.byteSize
        return storage.slice(start..<(start + byteCount))
    }

    /// Dense bytes of `elements`, allocated whole: for callers whose size the model or the user
    /// decided (a parameter's buffer, a tensor a test builds), never a size taken from a file.
    func denseBytes(elements: Range<Int>) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(elements.count * dtype.byteSize)
        forEachDenseChunk(elements: elements) { _, chunk in result += chunk }
        return result
    }

    /// SHA-256 of the dense row-major bytes (what hashing `tensor.contiguous()` in torch gives),
    /// streamed, so an expanded view is hashed without allocating its dense copy.
    public func denseSHA256() -> String {
        let stream = SHA256.Stream()
        forEachDenseChunk { _, chunk in stream.update(chunk) }
        return stream.hexDigest()
    }

    /// Equality of the dense values, compared piecewise.
    func denseValuesEqual(_ other: TensorData) -> Bool {
        var equal = true
        forEachDenseChunk { first, chunk in
            guard equal else { return }
            let count = chunk.count / dtype.byteSize
            other.forEachDenseChunk(elements: first..<(first + count), chunkBytes: chunk.count) { otherFirst, otherChunk in
                let offset = (otherFirst - first) * dtype.byteSize
                if equal, !otherChunk.elementsEqual(chunk[offset..<(offset + otherChunk.count)]) { equal = false }
            }
        }
        return equal
    }

    /// A key equal for two tensors that are the same values of the same bytes (tied weights, one
    /// value reached by several paths): digests and writers treat them once.
    public var viewIdentity: ViewIdentity? {
        storage.identity.map { ViewIdentity(storage: $0, dtype: dtype, shape: shape, layout: layout) }
    }

    public struct ViewIdentity: Hashable, Sendable {
        let storage: TensorBytes.Identity
        let dtype: DType
        let shape: [Int]
        let layout: TensorLayout?
    }
}

extension TensorLayout {
    /// Copies the dense elements `elements` (row-major indices) of the view into `destination`.
    func gather(
        elements: Range<Int>, elementSize size: Int, from source: UnsafeRawBufferPointer,
        into destination: UnsafeMutableRawBufferPointer
    ) {
        guard let sourceBase = source.baseAddress, let base = destination.baseAddress else { return }
        let inner = walk.last ?? Dimension(size: 1, stride: 0)
        let outer = Array(walk.dropLast())
        // The multi-index of the first element, then an odometer over the outer dimensions.
        var index = [Int](repeating: 0, count: outer.count)
        var rest = elements.lowerBound / inner.size
        for (dimension, step) in outer.enumerated().reversed() {
            index[dimension] = rest % step.size
            rest /= step.size
        }
        var column = elements.lowerBound % inner.size
        var written = 0
        let total = elements.count
        while written < total {
            var rowStart = offset
            for (dimension, step) in outer.enumerated() { rowStart += index[dimension] * step.stride }
            let count = min(inner.size - column, total - written)
            let from = sourceBase + (rowStart + column * inner.stride) * size
            let to = base + written * size
            switch inner.stride {
            case 1:
                to.copyMemory(from: from, byteCount: count * size)
            case 0:
                // One element repeated: copy it once, then double the filled run.
                to.copyMemory(from: from, byteCount: size)
                var filled = 1
                while filled < count {
                    let step = min(filled, count - filled)
                    (to + filled * size).copyMemory(from: to, byteCount: step * size)
                    filled += step
                }
            default:
                for item in 0..<count {
                    (to + item * size).copyMemory(from: from + item * inner.stride * size, byteCount: size)
                }
            }
            written += count
            column = 0
            var dimension = outer.count - 1
            while dimension >= 0 {
                index[dimension] += 1
                if index[dimension] < outer[dimension].size { break }
                index[dimension] = 0
                dimension -= 1
            }
        }
    }
}
