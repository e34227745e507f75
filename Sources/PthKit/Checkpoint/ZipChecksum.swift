import CLibZip
import Foundation

/// zlib's CRC-32 of a file region, the check a zip record carries. Large regions are split across
/// the cores and the parts combined (`crc32_combine`), and each part's pages are let go after it is
/// summed, so checking a 500 MB checkpoint costs a fraction of reading it and no resident memory.
enum ZipChecksum {
    private static let partBytes = 8 << 20

    static func crc32(_ contents: FileContents, _ range: Range<Int>) -> UInt32 {
        let partCount = (range.count + partBytes - 1) / partBytes
        guard partCount > 1 else { return sum(contents, range) }
        let parts = PartSums(count: partCount)
        let workers = min(partCount, ProcessInfo.processInfo.activeProcessorCount)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for part in stride(from: worker, to: partCount, by: workers) {
                let start = range.lowerBound + part * partBytes
                parts.set(part, sum(contents, start..<min(range.upperBound, start + partBytes)))
            }
        }
        var combined = UInt(parts.values[0])
        for part in 1..<partCount {
            let length = min(range.upperBound, range.lowerBound + (part + 1) * partBytes) - (range.lowerBound + part * partBytes)
            combined = crc32_combine(combined, UInt(parts.values[part]), off_t(length))
        }
        return UInt32(truncatingIfNeeded: combined)
    }

    private static func sum(_ contents: FileContents, _ range: Range<Int>) -> UInt32 {
        var crc = CLibZip.crc32(0, nil, 0)
        contents.forEachChunk(of: range) { chunk in
            guard let base = chunk.baseAddress else { return }
            crc = CLibZip.crc32(crc, base.assumingMemoryBound(to: UInt8.self), UInt32(chunk.count))
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// One slot per part, each written by exactly one worker.
    private final class PartSums: @unchecked Sendable {
        private(set) var values: [UInt32]
        private let lock = NSLock()
        init(count: Int) { values = Array(repeating: 0, count: count) }
        func set(_ index: Int, _ value: UInt32) { lock.withLock { values[index] = value } }
    }
}
