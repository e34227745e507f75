import PthKitSupport

/// A tensor as `_rebuild_tensor_v2` describes it: a window (offset, sizes, strides, in elements) onto a
/// storage. Every number comes from the file, so `tensor(over:)` checks them all, with arithmetic
/// that throws on overflow. Nothing is copied: a view stays a view, as torch keeps it.
struct TensorView {
    let dtype: DType
    let offset: Int
    let shape: [Int]
    let strides: [Int]

    /// The tensor over `storage` (little-endian bytes): the whole storage as it lies is its dense
    /// values (still the file's bytes where the storage is a region of it); any other view keeps
    /// the storage with its `TensorLayout`.
    func tensor(over storage: TensorBytes) throws -> TensorData {
        let elementSize = dtype.byteSize
        let storageElements = storage.count / elementSize
        guard shape.count == strides.count else {
            throw TensorViewError("\(shape.count) sizes but \(strides.count) strides")
        }
        guard offset >= 0 else { throw TensorViewError("negative storage offset \(offset)") }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw TensorViewError("negative size in \(shape)") }
        guard strides.allSatisfy({ $0 >= 0 }) else { throw TensorViewError("negative stride in \(strides)") }
        guard let count = TensorShape.elementCount(of: shape) else {
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
        // A whole storage seen as it lies is the common case: its bytes are the dense values. Any
        // other view, a contiguous slice included, keeps its storage so that writing it again keeps
        // what torch shares (two slices of one storage stay one storage).
        if isContiguous, offset == 0, byteCount == storage.count {
            return TensorData(dtype: dtype, shape: shape, storage: storage)
        }
        return TensorData(
            dtype: dtype, shape: shape, storage: storage,
            layout: TensorLayout(offset: offset, shape: shape, strides: strides, elementCount: count))
    }

    private var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            if stride != expected { return false }
            expected *= size
        }
        return true
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
