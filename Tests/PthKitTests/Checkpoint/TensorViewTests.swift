import Foundation
import PthKit
@testable import PthKitCheckpoint
import Testing

/// Views stay views: a checkpoint's tensor keeps (storage, sizes, strides, offset) and its dense
/// values are produced piecewise, by the consumer that needs them.
@Suite("Tensor views")
struct TensorViewTests {
    /// Int32 storage 0, 1, 2, ... so every element names the storage index it came from.
    static func storage(_ count: Int) -> TensorBytes {
        .owned((0..<Int32(count)).flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
    }

    /// The dense values by the definition: element (i, j, ...) is storage[offset + Σ index·stride].
    static func expected(offset: Int, shape: [Int], strides: [Int]) -> [Int64] {
        let count = shape.reduce(1, *)
        return (0..<count).map { linear in
            var rest = linear, position = offset
            for (size, stride) in zip(shape, strides).reversed() {
                position += (rest % size) * stride
                rest /= size
            }
            return Int64(position)
        }
    }

    @Test(arguments: [
        (0, [4, 6], [6, 1]), (0, [6, 4], [1, 6]), (8, [2, 3], [6, 1]), (0, [2, 2], [12, 3]), (12, [6], [1]),
        (5, [1], [1]), (7, [], []), (0, [4, 3], [0, 1]), (3, [2, 2], [0, 0]), (0, [2, 1, 3, 1], [3, 9, 1, 5]),
        (1, [3, 2, 2], [1, 0, 6]),
    ])
    func denseValuesFollowTheStrides(offset: Int, shape: [Int], strides: [Int]) throws {
        let view = TensorView(dtype: .int32, offset: offset, shape: shape, strides: strides)
        let tensor = try view.tensor(over: Self.storage(24))
        let expected = Self.expected(offset: offset, shape: shape, strides: strides)
        #expect(tensor.integerValues() == expected)
        #expect(tensor.elementCount == expected.count)
        // In pieces of any size (here 3 elements), in order.
        var pieces: [UInt8] = []
        tensor.forEachDenseChunk(chunkBytes: 12) { first, chunk in
            #expect(first * 4 == pieces.count)
            pieces += chunk
        }
        #expect(pieces == tensor.bytes)
        #expect(tensor.denseSHA256() == SHA256.hexDigest(tensor.bytes))
        let dense = TensorData(dtype: .int32, shape: shape, bytes: tensor.bytes)
        #expect(tensor == dense)
        // Loading into a parameter's buffer: as many values as the buffer holds.
        var floats = [Float](repeating: -1, count: expected.count)
        floats.withUnsafeMutableBufferPointer { tensor.writeFloatValues(into: $0) }
        #expect(floats == expected.map(Float.init))
    }

    /// `[2^30]` floats over a 4-byte storage: a view, no allocation; hashed and sliced in pieces.
    @Test func anExpandedViewIsNotCopied() throws {
        let storage = TensorBytes.owned([0, 0, 0xC0, 0x3F])  // 1.5
        let tensor = try TensorView(dtype: .float32, offset: 0, shape: [1 << 30], strides: [0]).tensor(over: storage)
        #expect(tensor.layout != nil)
        #expect(tensor.denseStorage == nil)
        #expect(tensor.byteCount == 4 << 30)
        #expect(tensor.storage.count == 4)
        var first = [Float](repeating: 0, count: 6)
        first.withUnsafeMutableBufferPointer { tensor.writeFloatValues(into: $0) }
        #expect(first == [Float](repeating: 1.5, count: 6))
        #expect(tensor.integerValues(limit: 3) == nil, "float32 has no integer values")
    }

    @Test func viewsPastTheStorageOrOverflowingThrow() {
        let storage = Self.storage(4)
        for (offset, shape, strides) in [(0, [5], [1]), (4, [1], [1]), (0, [2, 2], [3, 1]), (0, [1 << 61], [0]),
                                         (0, [1 << 31, 1 << 31], [0, 0]), (1, [2], [Int.max / 2])] {
            #expect(throws: TensorViewError.self, "\(offset) \(shape) \(strides)") {
                try TensorView(dtype: .int32, offset: offset, shape: shape, strides: strides).tensor(over: storage)
            }
        }
    }

    /// Writing a view as torch.save would: its storage once plus sizes, strides and offset; what
    /// torch.load(weights_only=True) then returns is the original view, sharing what it shared.
    @Test(.enabled(if: PythonOracle.shouldRun), arguments: [
        "checkpoints/views_zip.pth", "checkpoints/views_legacy.pth", "hostile/expand_2p30_zip.pth",
        "hostile/expand_lenet5.pth",
    ])
    func writtenViewsStayViewsInTorch(_ fixture: String) throws {
        try PythonOracle.require()
        let original = Fixtures.url(fixture)
        try #require(FileManager.default.fileExists(atPath: original.path), "missing fixture \(fixture)")
        let folder = try TemporaryFolder()
        let written = folder.file("written.pth")
        try CheckpointWriter.write(try Checkpoint.load(contentsOf: original).root, to: written)
        let result = try PythonOracle.run("check_written_views.py", [written.path, original.path])
        #expect(result["equal"] as? Bool == true, "\(result["difference"] ?? "no verdict")")
        #expect((result["tensors"] as? Int ?? 0) > 0)
    }

    /// The one consumer that must copy a view on the file's word, a safetensors file, is bounded.
    @Test func safetensorsCopiesOfViewsAreBounded() throws {
        let storage = TensorBytes.owned([0, 0, 0xC0, 0x3F])
        let big = try TensorView(dtype: .float32, offset: 0, shape: [1 << 28], strides: [0]).tensor(over: storage)
        let small = try TensorView(dtype: .float32, offset: 0, shape: [2, 3], strides: [0, 0]).tensor(over: storage)
        let folder = try TemporaryFolder()
        #expect(throws: CheckpointWriteError.self) {
            try SafetensorsWriter.write([("w", big)], to: folder.file("big.safetensors"), limits: CheckpointLimits(viewCopyAllowance: 1 << 20))
        }
        try SafetensorsWriter.write([("w", small)], to: folder.file("small.safetensors"))
        let read = try Checkpoint.load(contentsOf: folder.file("small.safetensors"))
        #expect(read.tensors.first?.tensor == small)
    }
}
