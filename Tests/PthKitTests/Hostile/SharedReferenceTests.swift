import Foundation
import PthKit
@testable import PthKitCheckpoint
import Testing

/// Every walk over a value graph follows a shared value once. The pickle machine's expansion bound
/// keeps files from reaching these walks with 2^60 paths; here the graphs are built directly, so
/// each walk is shown linear on its own (a walk that repeated shared work would not finish).
@Suite("Shared references are followed once")
struct SharedReferenceTests {
    static let doublings = 60

    /// `leaf` reachable along 2^`doublings` paths: ((x, x), (x, x)) ... sharing one buffer per level.
    static func pickleGraph(_ leaf: PickleValue) -> PickleValue {
        var value = leaf
        for _ in 0..<doublings { value = .tuple([value, value]) }
        return value
    }

    static func checkpointGraph(_ leaf: CheckpointValue) -> CheckpointValue {
        var value = leaf
        for _ in 0..<doublings { value = .tuple([value, value]) }
        return value
    }

    static let float16Tensor = TensorData(dtype: .float16, shape: [2], bytes: [0x00, 0x3C, 0x00, 0xC0])

    /// `_rebuild_tensor_v2(persistent storage, 0, (2,), (1,), False, OrderedDict())`.
    static func rebuildTensor(legacy: Bool) -> PickleValue {
        var fields: [PickleValue] = [.string("storage"), .global(module: "torch", name: "HalfStorage"), .string("0"), .string("cpu"), .int(2)]
        if legacy { fields.append(.none) }
        let arguments: [PickleValue] = [
            .persistentID(.tuple(fields)), .int(0), .tuple([.int(2)]), .tuple([.int(1)]), .bool(false),
            .object(PickleObject(callable: .global(module: "collections", name: "OrderedDict"), arguments: [])),
        ]
        return .object(PickleObject(callable: .global(module: "torch._utils", name: "_rebuild_tensor_v2"), arguments: arguments))
    }

    final class OneStorage: StorageSource {
        let bigEndian = false
        var reads = 0
        func bytes(for reference: StorageReference) throws -> TensorBytes {
            reads += 1
            return .owned([0x00, 0x3C, 0x00, 0xC0])
        }
    }

    @Test func torchObjectReaderConvertsASharedTupleOnce() throws {
        let storages = OneStorage()
        let value = try TorchObjectReader(storages: storages).read(Self.pickleGraph(Self.rebuildTensor(legacy: false)))
        #expect(storages.reads == 1)
        #expect(value.containsTensors)
        // 2^60 paths of 120-odd bytes each: refused by size, counted without walking them.
        #expect(value.tensorPathBytes(limit: 64 << 20) == nil)
    }

    @Test func legacyStorageScanVisitsASharedTupleOnce() throws {
        let types = try LegacyStorageSource.storageTypes(in: Self.pickleGraph(Self.rebuildTensor(legacy: true)))
        #expect(types == ["0": .float16])
    }

    @Test func flatteningSkipsSharedPartsWithoutTensors() {
        let root = CheckpointValue.dict(CheckpointDict(entries: [
            (.string("noise"), Self.checkpointGraph(.int(7))), (.string("w"), .tensor(Self.float16Tensor)),
        ]))
        let flat = root.flattenedTensors()
        #expect(flat.map(\.key) == ["w"])
        #expect(root.tensorPathBytes(limit: 1 << 20) == 1)
    }

    @Test func convertEditsASharedTupleOnce() {
        let graph = Self.checkpointGraph(.tensor(Self.float16Tensor))
        let cast = graph.castingToFloat32([.float16])
        // The innermost tuple holds the tensor twice (a tensor is a value, not a shared container).
        #expect(cast.castKeys.count == 2)
        guard case .tuple(let pair) = cast.value, case .tuple(let left) = pair[0], case .tuple(let right) = pair[1] else {
            Issue.record("not a tuple of tuples")
            return
        }
        #expect(SharedIdentity(left) == SharedIdentity(right), "the rewritten value is shared again")
        #expect(graph.replacingModulesWithStateDicts().replacedKeys.isEmpty)
    }

    /// The writer memoizes what is shared, as torch.save's pickler does: the pickle grows with the
    /// number of distinct values, and reads back (within the reader's bound) as the same graph.
    @Test func writtenPickleRefersBackToSharedValues() throws {
        let pickle = PickleWriter.pickle(Self.pickleGraph(.string("x")))
        #expect(pickle.count < 16 * Self.doublings)
        var small: PickleValue = .string("x")
        for _ in 0..<12 { small = .tuple([small, small]) }
        let back = try PickleMachine.load(PickleWriter.pickle(small))
        var depth = 0
        var cursor = back
        while case .tuple(let items) = cursor, items.count == 2 {
            #expect(SharedIdentity(items) != nil)
            depth += 1
            cursor = items[0]
        }
        #expect(depth == 12)
        #expect(cursor.asString == "x")
    }

    @Test func checkpointWriterWritesASharedTensorOnce() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("shared.pth")
        try CheckpointWriter.write(Self.checkpointGraph(.tensor(Self.float16Tensor)), to: url)
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? .max
        #expect(size < 4096, "\(size) bytes")
    }
}
