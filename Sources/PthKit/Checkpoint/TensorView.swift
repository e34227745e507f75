/// A tensor as `_rebuild_tensor_v2` describes it: a window (offset, sizes, strides, in elements) onto a
/// storage. Every number comes from the file, so `materialize` checks them all, with arithmetic that
/// throws on overflow, before copying; a copy is paid from a `ViewCopyBudget`.
struct TensorView {
    let dtype: DType
    let offset: Int
    let shape: [Int]
    let strides: [Int]

    /// The logical values of the view as contiguous little-endian bytes. A contiguous run of the
    /// storage is shared, not copied (a region of the file where the storage is one); any other view
    /// (a transpose, an expanded stride-0 view) is a new allocation and must fit in `budget` first.
    func materialize(from storage: TensorBytes, bigEndian: Bool, budget: ViewCopyBudget) throws -> TensorData {
        let elementSize = dtype.byteSize
        let storageElements = storage.count / elementSize
        guard shape.count == strides.count else {
            throw TensorViewError("\(shape.count) sizes but \(strides.count) strides")
        }
        guard offset >= 0 else { throw TensorViewError("negative storage offset \(offset)") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorViewError("negative size in \(shape)") }
        guard strides.allSatisfy({ $0 >= 0 }) else { throw TensorViewError("negative stride in \(strides)") }
        guard let count = Tensor.elementCount(of: shape) else {
            throw TensorViewError("sizes \(shape) overflow")
        }
        if count == 0 { return TensorData(dtype: dtype, shape: shape, bytes: []) }
        let (byteCount, byteOverflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !byteOverflow else { throw TensorViewError("sizes \(shape) of \(dtype.rawValue) overflow a byte count") }

        // The furthest element the view touches must lie inside the storage.
        var last = offset
        for (size, stride) in zip(shape, strides) {
            let (step, overflowA) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, overflowB) = last.addingReportingOverflow(step)
            guard !overflowA, !overflowB else { throw TensorViewError("strides \(strides) overflow") }
            last = sum
        }
        guard last < storageElements else {
            throw TensorViewError(
                "view (offset \(offset), sizes \(shape), strides \(strides)) reaches element \(last) "
                    + "of a storage of \(storageElements)")
        }

        // The common case, a whole storage (or a contiguous run of it) seen as it lies, shares the
        // storage's bytes instead of copying.
        if isContiguous, !(bigEndian && elementSize > 1) {
            let start = offset * elementSize
            return TensorData(dtype: dtype, shape: shape, storage: storage.slice(start..<(start + byteCount)))
        }
        if offset == 0, byteCount == storage.count, isContiguous {
            var output = storage.array
            Self.swapBytes(&output, elementSize: elementSize)
            return TensorData(dtype: dtype, shape: shape, bytes: output)
        }
        try budget.spend(byteCount, on: self)
        var output = [UInt8](repeating: 0, count: byteCount)
        output.withUnsafeMutableBytes { destination in
            storage.withUnsafeBytes { source in
                copyElements(from: source, to: destination, elementSize: elementSize)
            }
        }
        if bigEndian && elementSize > 1 { Self.swapBytes(&output, elementSize: elementSize) }
        return TensorData(dtype: dtype, shape: shape, bytes: output)
    }

    private var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            if stride != expected { return false }
            expected *= size
        }
        return true
    }

    /// Walks the view in row-major order, copying runs along the last dimension.
    private func copyElements(
        from source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawBufferPointer, elementSize: Int
    ) {
        guard let sourceBase = source.baseAddress, let destinationBase = destination.baseAddress else { return }
        if isContiguous {
            (destinationBase).copyMemory(from: sourceBase + offset * elementSize, byteCount: destination.count)
            return
        }
        let rank = shape.count
        let innerSize = rank > 0 ? shape[rank - 1] : 1
        let innerStride = rank > 0 ? strides[rank - 1] : 1
        let outerCount = destination.count / elementSize / innerSize
        var index = [Int](repeating: 0, count: max(rank - 1, 0))
        var written = 0
        for _ in 0..<outerCount {
            var start = offset
            for dimension in 0..<index.count { start += index[dimension] * strides[dimension] }
            for inner in 0..<innerSize {
                (destinationBase + written).copyMemory(
                    from: sourceBase + (start + inner * innerStride) * elementSize, byteCount: elementSize)
                written += elementSize
            }
            // Odometer step over the outer dimensions.
            var dimension = index.count - 1
            while dimension >= 0 {
                index[dimension] += 1
                if index[dimension] < shape[dimension] { break }
                index[dimension] = 0
                dimension -= 1
            }
        }
    }

    static func swapBytes(_ bytes: inout [UInt8], elementSize: Int) {
        bytes.withUnsafeMutableBufferPointer { buffer in
            var start = 0
            while start + elementSize <= buffer.count {
                var low = start, high = start + elementSize - 1
                while low < high {
                    buffer.swapAt(low, high)
                    low += 1
                    high -= 1
                }
                start += elementSize
            }
        }
    }
}

/// How many bytes copied views may take in all: the bytes of the storages the file holds plus an
/// allowance. Without it a stride-0 view (what `tensor.expand` saves) of a 4-byte storage could claim
/// 2^30 elements and have them allocated; torch keeps such a tensor as a view, PthKit copies it out,
/// so it copies only what the file could plausibly mean.
final class ViewCopyBudget {
    private(set) var storageBytes = 0
    private(set) var copiedBytes = 0
    let allowance: Int

    init(allowance: Int) {
        self.allowance = allowance
    }

    /// A storage the file holds raises the budget by its size (each storage once, by its key).
    func addStorage(_ byteCount: Int) {
        storageBytes = storageBytes.addingReportingOverflow(byteCount).overflow ? Int.max : storageBytes + byteCount
    }

    func spend(_ byteCount: Int, on view: TensorView) throws {
        let limit = storageBytes.addingReportingOverflow(allowance).overflow ? Int.max : storageBytes + allowance
        let (total, overflow) = copiedBytes.addingReportingOverflow(byteCount)
        guard !overflow, total <= limit else {
            throw TensorViewError(
                "view (sizes \(view.shape), strides \(view.strides)) needs a copy of \(byteCount) bytes, which would "
                    + "take the file's copied views past \(limit) bytes (its storages' \(storageBytes) bytes plus an "
                    + "allowance of \(allowance)); raise the allowance (CheckpointLimits.viewCopyAllowance, "
                    + "--view-copy-allowance) if the file is trusted")
        }
        copiedBytes = total
    }
}

struct TensorViewError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
