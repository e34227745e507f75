import Foundation
import PthKit
import Testing

@testable import PthKitCheckpoint
@testable import PthKitModels

/// A legacy (non-zip) `torch.save` file's storages follow its pickles, so in many files every
/// float32 storage starts off a float boundary. The reader then copies the file once, shifted so
/// the storages line up (`FileContents(realigning:offset:)`), and the parameters borrow that copy as
/// they borrow a zip file's records; `copyWeights` converts each tensor into its parameter on the
/// compute threads instead. Either way every value must be the file's, bit for bit.
struct LegacyConversionTests {
    /// resnet18's state dict saved by PyTorch both ways (Scripts/make_loading_fixtures.py), the legacy
    /// one padded until its storages are misaligned; the zip copy's float32 tensors are read in place,
    /// so they are the bytes PyTorch wrote.
    static let legacy = LoadingCase.folder.appendingPathComponent("legacy_misaligned.pth")
    static let zip = LoadingCase.folder.appendingPathComponent("exact.pth")
    static let available = FileManager.default.fileExists(atPath: legacy.path)
        && FileManager.default.fileExists(atPath: zip.path)

    static func legacyStateDict() throws -> StateDict {
        try StateDict(checkpoint: Checkpoint.load(contentsOf: legacy), key: "state_dict")
    }

    @Test(.enabled(if: available, "loading fixtures missing: run Scripts/test.sh"))
    func misalignedStoragesAreRealignedAndBorrowed() throws {
        let stateDict = try Self.legacyStateDict()
        let floats = stateDict.entries.filter { $0.tensor.dtype == .float32 }
        // The case under test: every storage starts off a 4-byte boundary in the file (the ranges
        // are file offsets), yet every one can be read in place from the realigned copy.
        let misalignedInFile = floats.filter {
            guard case .region(let contents, let range)? = $0.tensor.denseStorage else { return false }
            return range.lowerBound % 4 != 0 && !contents.isMappedFile
        }
        #expect(!floats.isEmpty && misalignedInFile.count == floats.count, "\(misalignedInFile.count) of \(floats.count) misaligned")
        #expect(floats.allSatisfy { $0.tensor.borrowedFloat32Storage(count: $0.tensor.elementCount) != nil })

        let model = try ModelZoo.build("resnet18")
        try model.loadStateDict(stateDict)
        #expect(model.stateDict().filter { $0.parameter.dtype == .float32 }.allSatisfy { $0.parameter.value.storage.isBorrowed })
        try Self.expectTheFilesValues(in: model, stateDict: stateDict)
    }

    @Test(.enabled(if: available, "loading fixtures missing: run Scripts/test.sh"))
    func copiedWeightsAreConvertedExactly() throws {
        let stateDict = try Self.legacyStateDict()
        // Enough values for the parallel path (`Kernels.forEachTask` splits from 2^18 values).
        #expect(stateDict.entries.reduce(0) { $0 + $1.tensor.elementCount } >= 1 << 18)
        let model = try ModelZoo.build("resnet18")
        try model.loadStateDict(stateDict, copyWeights: true)
        #expect(!model.stateDict().contains { $0.parameter.value.storage.isBorrowed })
        try Self.expectTheFilesValues(in: model, stateDict: stateDict)
    }

    static func expectTheFilesValues(in model: Module, stateDict: StateDict) throws {
        let reference = try StateDict(checkpoint: Checkpoint.load(contentsOf: Self.zip))
        let expected = Dictionary(uniqueKeysWithValues: reference.entries.map { ($0.key, $0.tensor) })
        let file = Dictionary(uniqueKeysWithValues: stateDict.entries.map { ($0.key, $0.tensor) })
        var checked = 0
        for (key, parameter) in model.stateDict() {
            let pytorch = try #require(expected[key], "\(key) missing from exact.pth")
            let legacyTensor = try #require(file[key])
            if parameter.dtype == .int64 {
                #expect(parameter.integerValues == pytorch.integerValues(), "\(key)")
                continue
            }
            let loaded = parameter.value.storage.withUnsafeBytes { Array($0) }
            // Bit for bit: the bytes of the legacy file's storage and of PyTorch's zip record.
            #expect(loaded == legacyTensor.bytes, "\(key) differs from the legacy file's bytes")
            #expect(loaded == pytorch.bytes, "\(key) differs from PyTorch's zip copy")
            checked += 1
        }
        #expect(checked == file.values.filter { $0.dtype == .float32 }.count)
    }
}
