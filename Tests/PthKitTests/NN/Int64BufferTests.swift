import Foundation
import PthKit
@testable import PthKitModels
import Testing

/// int64 buffers (`num_batches_tracked`) keep their exact values from file to model to file.
@Suite("int64 buffers stay exact")
struct Int64BufferTests {
    /// 2^40 + 1 has no float32 twin: it survives only if the integers themselves are kept.
    static let count: Int64 = (1 << 40) + 1

    static func int64(_ value: Int64) -> TensorData {
        TensorData(dtype: .int64, shape: [], bytes: withUnsafeBytes(of: value.littleEndian) { Array($0) })
    }

    static func floats(_ values: [Float]) -> TensorData {
        TensorData(dtype: .float32, shape: [values.count], bytes: values.withUnsafeBytes { Array($0) })
    }

    @Test func numBatchesTrackedSavesWhatWasLoaded() throws {
        let norm = BatchNorm2d(2)
        try norm.loadStateDict(StateDict(entries: [
            ("weight", Self.floats([1, 2])), ("bias", Self.floats([0, 1])), ("running_mean", Self.floats([0, 0])),
            ("running_var", Self.floats([1, 1])), ("num_batches_tracked", Self.int64(Self.count)),
        ]), strict: true)
        let folder = try TemporaryFolder()
        let url = folder.file("norm.pth")
        try norm.saveStateDict(to: url)
        let saved = try StateDict(checkpoint: Checkpoint.load(contentsOf: url))
        let tracked = try #require(saved.entries.first { $0.key == "num_batches_tracked" }?.tensor)
        #expect(tracked.dtype == .int64)
        #expect(tracked.integerValues() == [Self.count])
    }

    @Test func settingTheValueForgetsTheIntegers() throws {
        let norm = BatchNorm2d(1)
        norm.numBatchesTracked.setIntegers([Self.count], shape: [])
        norm.numBatchesTracked.value = Tensor(shape: [], storage: [3])
        #expect(norm.numBatchesTracked.integerValues == nil)
        let tracked = try #require(norm.stateDictForSaving().entries.first { $0.key == "num_batches_tracked" }?.tensor)
        #expect(tracked.integerValues() == [3])
    }
}
