/// A tensor's bytes: a region of the file they were read from (a stored zip record, a legacy
/// storage, a safetensors tensor), not copied until something converts them, or an array of their
/// own (deflated records, big-endian files' swapped storages, tensors built in memory).
public enum TensorBytes: Sendable {
    case owned([UInt8])
    case region(FileContents, Range<Int>)

    public var count: Int {
        switch self {
        case .owned(let bytes): return bytes.count
        case .region(_, let range): return range.count
        }
    }

    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch self {
        case .owned(let bytes): return try bytes.withUnsafeBytes(body)
        case .region(let contents, let range): return try body(UnsafeRawBufferPointer(rebasing: contents.bytes[range]))
        }
    }

    /// Where the bytes live and how many there are: equal for two tensors that share their bytes
    /// (tied weights, one value reached by several paths), so writers and digests treat them once.
    /// Nil when empty (empty arrays share one buffer in Swift without sharing anything in torch).
    public var identity: Identity? {
        guard count > 0 else { return nil }
        return withUnsafeBytes { raw in raw.baseAddress.map { Identity(address: $0, count: raw.count) } }
    }

    public struct Identity: Hashable, @unchecked Sendable {
        let address: UnsafeRawPointer
        let count: Int
    }

    /// A copy as an array (what writers and digests of small tensors take).
    public var array: [UInt8] {
        switch self {
        case .owned(let bytes): return bytes
        case .region: return withUnsafeBytes { Array($0) }
        }
    }

    /// Bytes `range` of these, sharing the file where these are a region of it.
    func slice(_ range: Range<Int>) -> TensorBytes {
        if range == 0..<count { return self }
        switch self {
        case .owned(let bytes): return .owned(Array(bytes[range]))
        case .region(let contents, let whole):
            return .region(contents, (whole.lowerBound + range.lowerBound)..<(whole.lowerBound + range.upperBound))
        }
    }

    /// Runs `body` over consecutive chunks (whole elements of `elementSize` bytes each), letting a
    /// file region's pages go after each chunk, so converting a large tensor never holds both it and
    /// its source resident.
    func forEachChunk(elementSize: Int, _ body: (_ elementOffset: Int, _ chunk: UnsafeRawBufferPointer) -> Void) {
        switch self {
        case .owned(let bytes):
            bytes.withUnsafeBytes { body(0, $0) }
        case .region(let contents, let range):
            let chunkBytes = max(elementSize, (4 << 20) / elementSize * elementSize)
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(range.upperBound, start + chunkBytes)
                body((start - range.lowerBound) / elementSize, UnsafeRawBufferPointer(rebasing: contents.bytes[start..<end]))
                contents.releaseResidentPages(start..<end)
                start = end
            }
        }
    }
}
