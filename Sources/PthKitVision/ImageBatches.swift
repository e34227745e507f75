import Foundation
import PthKitRuntime

extension Preprocessing {
    /// Decodes and preprocesses `files` `batchSize` at a time, handing each [N, C, H, W] batch and
    /// the range of `files` it holds to `body`: how a folder of images goes through a model without
    /// holding every decoded image at once.
    public func forEachBatch(
        of files: [URL], batchSize: Int, _ body: (_ batch: Tensor, _ files: Range<Int>) throws -> Void
    ) throws {
        let size = max(batchSize, 1)
        for start in stride(from: 0, to: files.count, by: size) {
            let range = start..<min(start + size, files.count)
            try body(tensor(from: files[range].map { try ImageDecoder.decode(contentsOf: $0) }), range)
        }
    }
}
