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

    /// A linear layer packed from a mapped file lets the weight's pages go run by run as it packs
    /// (so a large classifier is never resident twice), and runs of whole strips pack exactly what
    /// packing at once does.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/smaps")))
    func packedLinearLayersLetTheirWeightPagesGoRunByRun() throws {
        let (outFeatures, inFeatures) = (203, 5171)  // a last strip of 11 features
        let values = (0..<(outFeatures * inFeatures)).map { Float($0 % 7919) / 7919 - 0.5 }
        let folder = try TemporaryFolder()
        let url = folder.file("weight.bin")
        try values.withUnsafeBytes { try Data($0).write(to: url) }
        let contents = try FileContents.read(url)
        let region = UnsafeBufferPointer(
            start: try #require(contents.bytes.baseAddress).bindMemory(to: Float.self, capacity: values.count),
            count: values.count)
        let borrowed = Tensor(shape: [outFeatures, inFeatures], storage: TensorStorage(borrowing: region, keepingAlive: contents))
        #expect(borrowed.storage.withUnsafeBufferPointer { $0.reduce(0, +) } == values.reduce(0, +))  // every page read
        let before = try #require(try Self.residentKilobytes(ofMappingAt: UnsafeRawPointer(region.baseAddress!)))

        let bias = (0..<outFeatures).map { Float($0) / 100 }
        // 64 KB runs: one 16-feature strip (82 KB here) each, the least a run takes.
        let inRuns = try PackedLinear(weight: borrowed, bias: bias, inputShape: [3, inFeatures], activation: nil, releaseBytes: 64 << 10)
        let after = try #require(try Self.residentKilobytes(ofMappingAt: UnsafeRawPointer(region.baseAddress!)))
        #expect(before >= 4000)
        #expect(after < 64, "\(after) KiB still resident of \(before)")

        let atOnce = try PackedLinear(
            weight: Tensor(shape: [outFeatures, inFeatures], storage: values), bias: bias, inputShape: [3, inFeatures],
            activation: nil)
        let input = (0..<(3 * inFeatures)).map { Float($0 % 101) / 101 }
        var fromRuns = [Float](repeating: .nan, count: 3 * outFeatures), fromWhole = fromRuns
        inRuns.run(Tensor(shape: [3, inFeatures], storage: input), into: &fromRuns)
        atOnce.run(Tensor(shape: [3, inFeatures], storage: input), into: &fromWhole)
        #expect(fromRuns == fromWhole)
        let reference = try Kernels.linear(Tensor(shape: [3, inFeatures], storage: input), weight: borrowed, bias: bias)
        let worst = zip(fromRuns, reference.storage.array).map { abs($0 - $1) }.max() ?? .infinity
        // Sums of 5171 products of up to 0.5: float rounding in another order, nothing more.
        #expect(worst <= 1e-5 * Float(inFeatures), "\(worst)")
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
