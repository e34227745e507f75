/// A tensor as `_rebuild_tensor_v2` describes it: a window (offset, sizes, strides, in elements) onto a
/// storage. Every number comes from the file, so `materialize` checks them all before copying.
struct TensorView {
    let dtype: DType
    let offset: Int
    let shape: [Int]
    let strides: [Int]

    /// Copies the logical values out of `storage` as contiguous little-endian bytes.
    func materialize(from storage: [UInt8], bigEndian: Bool) throws -> TensorData {
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

        // The common case, a whole storage seen contiguously, shares the storage's bytes instead of copying.
        if offset == 0, count * elementSize == storage.count, isContiguous {
            var output = storage
            if bigEndian && elementSize > 1 { Self.swapBytes(&output, elementSize: elementSize) }
            return TensorData(dtype: dtype, shape: shape, bytes: output)
        }
        var output = [UInt8](repeating: 0, count: count * elementSize)
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

struct TensorViewError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
