import PthKitCheckpoint
import PthKitRuntime

extension TensorData {
    /// The values as storage that borrows the checkpoint's mapped bytes instead of converting them:
    /// only float32 values that are a region of the file, hold `count` values (the parameter's
    /// shape), and start on a float boundary (a zip record, which torch aligns to 64 bytes, or a
    /// safetensors tensor; a legacy file's storages follow its pickles and may not) can be read in
    /// place. Nil for everything else, which is converted into the parameter's own array as before.
    /// Files are little-endian (a big-endian file's bytes are already swapped into an array of their
    /// own), so this host must be too.
    func borrowedFloat32Storage(count: Int) -> TensorStorage? {
        #if _endian(little)
        // `denseStorage`, not `storage`: a view (a transpose of a whole record has its byte count)
        // must be gathered into the parameter's order, never read in the storage's.
        guard dtype == .float32, case .region(let contents, let range)? = denseStorage, range.count == count * 4,
              count > 0, let base = contents.bytes.baseAddress else { return nil }
        let start = base + range.lowerBound
        guard Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 else { return nil }
        contents.lend()
        let values = UnsafeBufferPointer(start: start.bindMemory(to: Float.self, capacity: count), count: count)
        return TensorStorage(borrowing: values, keepingAlive: contents)
        #else
        return nil
        #endif
    }
}

/// A mapped file lets the pages of a weight the plan has packed go (`releasePages(ofCopied:)`). Declared
/// here, where the file's bytes are lent to tensors: the checkpoint reader knows nothing of the runtime.
extension FileContents: CopiedRegionPages {}
