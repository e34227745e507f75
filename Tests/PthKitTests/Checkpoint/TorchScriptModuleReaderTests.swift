import Foundation
import PthKit
@testable import PthKitCheckpoint
import Testing

/// The TorchScript module walk on hand-built pickle graphs: shared modules are read once, and a
/// graph that expands without bound is refused instead of being walked.
@Suite("TorchScript module walk")
struct TorchScriptModuleReaderTests {
    /// One float32 storage of one element, the only storage these graphs refer to.
    final class OneStorage: StorageSource {
        var bigEndian: Bool { false }
        var reads = 0
        func bytes(for reference: StorageReference) throws -> TensorBytes {
            reads += 1
            return .owned([0, 0, 128, 63])  // 1.0
        }
    }

    static let classes = try! TorchScriptClasses(sources: [(
        "__torch__.py",
        """
        class Leaf(Module):
          __parameters__ = ["weight", ]
          __buffers__ = []
          weight : Tensor
        class Pair(Module):
          __parameters__ = []
          __buffers__ = []
          a : __torch__.Leaf
          b : __torch__.Leaf
        """
    )])

    static func tensor() -> PickleValue {
        let id = PickleValue.tuple([.string("storage"), .global(module: "torch", name: "FloatStorage"), .string("0"), .string("cpu"), .int(1)])
        return .object(PickleObject(
            callable: .global(module: "torch._utils", name: "_rebuild_tensor_v2"),
            arguments: [.persistentID(id), .int(0), .tuple([.int(1)]), .tuple([.int(1)])]))
    }

    static func module(_ type: String, _ attributes: [(String, PickleValue)]) -> PickleValue {
        let object = PickleObject(callable: .global(module: "__torch__", name: type), arguments: [])
        object.state = .dict(PickleDict(attributes.map { (key: PickleValue.string($0.0), value: $0.1) }))
        return .object(object)
    }

    @Test func sharedChildIsListedUnderEachNameAndReadOnce() throws {
        let storage = OneStorage()
        let leaf = Self.module("Leaf", [("weight", Self.tensor())])
        let root = Self.module("Pair", [("a", leaf), ("b", leaf)])
        let reader = TorchScriptModuleReader(classes: Self.classes, tensors: TorchObjectReader(storages: storage))
        let value = try reader.stateDict(of: root)
        #expect(value.flattenedTensors().map(\.key) == ["a.weight", "b.weight"])
        #expect(storage.reads == 1)
    }

    /// Forty levels of a module holding the same child twice: 2^40 paths, refused at the cap.
    @Test func exponentialSharingIsRefused() throws {
        var node = Self.module("Leaf", [("weight", Self.tensor())])
        for _ in 0..<40 { node = Self.module("Pair", [("a", node), ("b", node)]) }
        let reader = TorchScriptModuleReader(classes: Self.classes, tensors: TorchObjectReader(storages: OneStorage()))
        let error = #expect(throws: TorchScriptError.self) { try reader.stateDict(of: node) }
        #expect(error?.reason.contains("more than") == true)
    }

    @Test func declarationsAreReadFromTheirLinesOnly() throws {
        #expect(Self.classes.declarations["__torch__.Leaf"] == .init(isModule: true, parameters: ["weight"], buffers: []))
        #expect(throws: TorchScriptError.self) {
            try TorchScriptClasses(sources: [("__torch__.py", "class Leaf(Module):\n  __parameters__ = [__import__('os')]\n")])
        }
    }
}
