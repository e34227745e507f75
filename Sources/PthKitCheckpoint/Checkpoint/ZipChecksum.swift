import CLibZip
import CZipChecksum
import Foundation

/// zlib's CRC-32 of a file region, the check a zip record carries. Large regions are split across
/// the cores and the parts combined (`crc32_combine`), and each part's pages are let go after it is
/// summed, so checking a 500 MB checkpoint costs a fraction of reading it and no resident memory.
/// Where the CPU has PCLMULQDQ the bulk of each chunk is folded by `pk_crc32_fold` (several times
/// zlib's speed); zlib sums the rest, and everything on other CPUs.
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
        var crc: UInt32 = 0
        contents.forEachChunk(of: range) { chunk in crc = update(crc, chunk) }
        return crc
    }

    /// zlib's `crc32(crc, bytes)`: the running CRC-32 `crc` continued over `bytes` (any length,
    /// any alignment), folded where the CPU can unless `folding` is false (the plain zlib path).
    static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer, folding: Bool = true) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        var running = UInt(crc)
        var taken = 0
        if folding {
            var folded = [UInt8](repeating: 0, count: 16)
            taken = folded.withUnsafeMutableBufferPointer { pk_crc32_fold(crc, base, bytes.count, $0.baseAddress) }
            // The folded lane is what remains of the bytes taken, summed from a zero register.
            if taken > 0 { running = CLibZip.crc32(0xFFFF_FFFF, folded, 16) }
        }
        var start = base.assumingMemoryBound(to: UInt8.self) + taken
        var remaining = bytes.count - taken
        // zlib takes 32-bit lengths.
        while remaining > 0 {
            let length = min(remaining, 1 << 30)
            running = CLibZip.crc32(running, start, UInt32(length))
            start += length
            remaining -= length
        }
        return UInt32(truncatingIfNeeded: running)
    }

    /// One slot per part, each written by exactly one worker.
    private final class PartSums: @unchecked Sendable {
        private(set) var values: [UInt32]
        private let lock = NSLock()
        init(count: Int) { values = Array(repeating: 0, count: count) }
        func set(_ index: Int, _ value: UInt32) { lock.withLock { values[index] = value } }
    }
}
