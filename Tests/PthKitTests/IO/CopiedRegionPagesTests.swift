import Foundation
import PthKit
import Testing

@testable import PthKitRuntime

/// A borrowed region of a mapped file whose values were copied elsewhere (a packed convolution's
/// weights) lets its pages leave resident memory, and still reads the file's values afterwards.
struct CopiedRegionPagesTests {
    /// Resident kilobytes of the mapping that contains `address`, from /proc/self/smaps.
    static func residentKilobytes(ofMappingAt address: UnsafeRawPointer) throws -> Int? {
        // /proc files report a size of 0: read to the end instead of trusting stat.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/smaps"))
        defer { try? handle.close() }
        let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        let target = UInt(bitPattern: address)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= target && target < bounds[1]
            } else if inside, fields.first == "Rss:", fields.count >= 2 {
                return Int(fields[1])
            }
        }
        return nil
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/smaps")))
    func pagesOfACopiedRegionLeaveResidentMemoryAndReadBackTheFile() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("values.bin")
        let count = 1 << 20  // 4 MiB of floats
        let values = (0..<count).map { Float($0 % 9973) * 0.5 }
        try values.withUnsafeBytes { try Data($0).write(to: url) }

        let contents = try FileContents.read(url)
        let region = UnsafeBufferPointer(
            start: try #require(contents.bytes.baseAddress).bindMemory(to: Float.self, capacity: count), count: count)
        let storage = TensorStorage(borrowing: region, keepingAlive: contents)
        #expect(storage.withUnsafeBufferPointer { $0.reduce(0, +) } == values.reduce(0, +))  // every page read
        let before = try #require(try Self.residentKilobytes(ofMappingAt: UnsafeRawPointer(region.baseAddress!)))

        storage.releaseBorrowedPagesAfterCopy()
        let after = try #require(try Self.residentKilobytes(ofMappingAt: UnsafeRawPointer(region.baseAddress!)))
        #expect(before >= 4000)
        #expect(after < 64, "\(after) KiB still resident of \(before)")
        #expect(Array(storage.array) == values)
    }

    @Test func storagesNotBorrowedFromAMappedFileAreLeftAlone() throws {
        // Memory a caller lends (not a file's pages) must never be dropped: it would read back as zeros.
        let values = [Float](repeating: 3, count: 1 << 16)
        let owner = Box(values)
        let storage = owner.values.withUnsafeBufferPointer { TensorStorage(borrowing: $0, keepingAlive: owner) }
        storage.releaseBorrowedPagesAfterCopy()
        #expect(storage.array == values)
        TensorStorage(values).releaseBorrowedPagesAfterCopy()
    }

    final class Box: @unchecked Sendable {
        let values: [Float]
        init(_ values: [Float]) { self.values = values }
    }
}
