import Foundation
import Testing

@testable import PthKitModels

#if canImport(Glibc)
import Glibc
import PthKit
#endif

/// float32 parameters loaded from a zip checkpoint borrow the mapped file's bytes: the same logits
/// as converted copies, writes that never reach the file or another tensor, and the documented
/// outcome when the file shrinks under the model.
struct BorrowedWeightsTests {
    static let zooCase = ZooCase.folder.appendingPathComponent("shufflenet_v2_x0_5@num_classes=10")
    static let available = FileManager.default.fileExists(atPath: zooCase.appendingPathComponent("model.pth").path)

    static func model() throws -> Module {
        try ModelZoo.build("shufflenet_v2_x0_5", arguments: ModelArguments(["num_classes": "10"]))
    }

    static func input() throws -> Tensor {
        try NPY.read(contentsOf: zooCase.appendingPathComponent("input.npy"))
    }

    /// A copy of the fixture's checkpoint, so a test may change or truncate it.
    static func copyOfCheckpoint(in folder: borrowing TemporaryFolder) throws -> URL {
        let copy = folder.file("model.pth")
        try FileManager.default.copyItem(at: zooCase.appendingPathComponent("model.pth"), to: copy)
        return copy
    }

    static func floatParameters(_ model: Module) -> [(name: String, parameter: Parameter)] {
        model.stateDict().filter { $0.parameter.dtype == .float32 }.map { ($0.key, $0.parameter) }
    }

    @Test(.enabled(if: available, "zoo fixtures missing: run Scripts/test.sh"))
    func aLoadedModelBorrowsAndGivesTheLogitsOfCopiedWeights() throws {
        let url = Self.zooCase.appendingPathComponent("model.pth")
        let borrowing = try Self.model(), copying = try Self.model()
        try borrowing.loadStateDict(StateDict(checkpoint: Checkpoint.load(contentsOf: url)))
        try copying.loadStateDict(StateDict(checkpoint: Checkpoint.load(contentsOf: url)), copyWeights: true)
        // torch aligns zip records to 64 bytes: every float32 tensor is read in place.
        #expect(Self.floatParameters(borrowing).allSatisfy { $0.parameter.value.storage.isBorrowed })
        #expect(!Self.floatParameters(copying).contains { $0.parameter.value.storage.isBorrowed })
        let input = try Self.input()
        #expect(try borrowing(input) == copying(input))
        #expect(try borrowing.referenceForward(input) == copying.referenceForward(input))
    }

    @Test(.enabled(if: available, "zoo fixtures missing: run Scripts/test.sh"))
    func writingABorrowedParameterCopiesItAndChangesNothingElse() throws {
        let folder = try TemporaryFolder()
        let url = try Self.copyOfCheckpoint(in: folder)
        let fileBefore = try Data(contentsOf: url)
        let checkpoint = try Checkpoint.load(contentsOf: url)
        // Two models borrowing one mapping.
        let first = try Self.model(), second = try Self.model()
        try first.loadStateDict(StateDict(checkpoint: checkpoint))
        try second.loadStateDict(StateDict(checkpoint: checkpoint))
        let input = try Self.input()
        let logitsBefore = try second(input)

        let (name, parameter) = try #require(Self.floatParameters(first).first { $0.name.hasSuffix("conv1.0.weight") })
        var value = parameter.value
        value.storage[0] += 1
        value.storage.withUnsafeMutableBufferPointer { $0[1] = 42 }
        parameter.value = value
        #expect(!parameter.value.storage.isBorrowed)
        #expect(parameter.value.storage[1] == 42)
        // A load into a borrowed parameter writes a new array too, never the file.
        let (_, other) = try #require(Self.floatParameters(first).last)
        other.overwrite(shape: other.shape) { $0.update(repeating: 7) }
        #expect(other.value.storage.allSatisfy { $0 == 7 })

        let original = try #require(checkpoint.tensors.first { $0.key == name }).tensor.floatValues()
        #expect(Array(second.stateDict().first { $0.key == name }!.parameter.value.storage) == original)
        #expect(try second(input) == logitsBefore)
        #expect(try Data(contentsOf: url) == fileBefore)
    }

    @Test(.enabled(if: available, "zoo fixtures missing: run Scripts/test.sh"))
    func copiedWeightsOutliveTheirFile() throws {
        let folder = try TemporaryFolder()
        let url = try Self.copyOfCheckpoint(in: folder)
        let model = try Self.model()
        try model.loadStateDict(StateDict(checkpoint: Checkpoint.load(contentsOf: url)), copyWeights: true)
        let input = try Self.input()
        let (compiled, reference) = (try model(input), try model.referenceForward(input))
        #expect(truncate(url.path, 0) == 0)
        try FileManager.default.removeItem(at: url)
        #expect(try model.referenceForward(input) == reference)
        #expect(try model(input) == compiled)
    }

    #if os(Linux)
    /// A file cut short under a model that borrows it: reading a lost page is a SIGBUS, as with
    /// `torch.load(mmap=True)`. Read in a forked child so the signal ends only the child.
    @Test(.enabled(if: available, "zoo fixtures missing: run Scripts/test.sh"))
    func readingBorrowedWeightsOfAShrunkFileIsASIGBUS() throws {
        let folder = try TemporaryFolder()
        let url = try Self.copyOfCheckpoint(in: folder)
        let model = try Self.model()
        try model.loadStateDict(StateDict(checkpoint: Checkpoint.load(contentsOf: url)))
        let (_, parameter) = try #require(Self.floatParameters(model).max { $0.parameter.elementCount < $1.parameter.elementCount })
        let storage = parameter.value.storage
        try #require(storage.isBorrowed)
        #expect(truncate(url.path, 0) == 0)
        let status = storage.withUnsafeBufferPointer { values -> Int32 in
            let pointer = values.baseAddress!
            let count = values.count
            let child = fork()
            if child == 0 {
                // Only async-signal-safe calls and a read here: the child of a threaded process may
                // not allocate. The default action (no Swift backtrace) is the signal's outcome.
                signal(SIGBUS, SIG_DFL)
                var sum: Float = 0
                for index in stride(from: 0, to: count, by: 1024) { sum += pointer[index] }
                _exit(sum.isNaN ? 2 : 0)
            }
            var status: Int32 = 0
            waitpid(child, &status, 0)
            return status
        }
        // WIFSIGNALED / WTERMSIG, spelled out: Glibc's macros are not imported into Swift.
        let terminatingSignal = status & 0x7F
        #expect(terminatingSignal == SIGBUS, "child ended with status \(status)")
    }
    #endif

    /// Only dense tensors are borrowed: `views_zip.pth`'s `transposed` is base.t() of a whole 4 x 6
    /// storage, as many bytes as the [6, 4] weight it loads into, and must arrive transposed.
    @Test func aViewOfAWholeStorageIsGatheredNotBorrowed() throws {
        let checkpoint = try Checkpoint.load(contentsOf: Fixtures.url("checkpoints").appendingPathComponent("views_zip.pth"))
        let tensors = Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.key, $0.tensor) })
        let transposed = try #require(tensors["transposed"]), base = try #require(tensors["base"])
        #expect(transposed.borrowedFloat32Storage(count: 24) == nil)
        #expect(base.borrowedFloat32Storage(count: 24) != nil)
        let layer = Linear(4, 6, bias: false)
        try layer.loadStateDict(StateDict(entries: [("weight", transposed)]))
        // base is arange(24) as 4 x 6, so its transpose holds base[j][i] = 6 j + i at [i][j].
        let expected = (0..<6).flatMap { i in (0..<4).map { j in Float(6 * j + i) } }
        #expect(layer.weight.value.storage.array == expected)
    }
}
