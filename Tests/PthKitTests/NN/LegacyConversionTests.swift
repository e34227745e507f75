import Foundation
import PthKit
import Testing

@testable import PthKitModels

/// A legacy (non-zip) `torch.save` file's storages follow its pickles, so most float32 storages
/// start off a float boundary and cannot be borrowed: `loadStateDict` converts them into the
/// parameters on the compute threads. Every value must still be the file's, bit for bit.
struct LegacyConversionTests {
    /// resnet18's state dict saved by PyTorch both ways (Scripts/make_loading_fixtures.py), the legacy
    /// one padded until its storages are misaligned; the zip copy's float32 tensors are read in place,
    /// so they are the bytes PyTorch wrote.
    static let legacy = LoadingCase.folder.appendingPathComponent("legacy_misaligned.pth")
    static let zip = LoadingCase.folder.appendingPathComponent("exact.pth")
    static let available = FileManager.default.fileExists(atPath: legacy.path)
        && FileManager.default.fileExists(atPath: zip.path)

    @Test(.enabled(if: available, "loading fixtures missing: run Scripts/test.sh"))
    func misalignedStoragesAreConvertedExactly() throws {
        let stateDict = try StateDict(checkpoint: Checkpoint.load(contentsOf: Self.legacy), key: "state_dict")
        let floats = stateDict.entries.filter { $0.tensor.dtype == .float32 }
        let misaligned = floats.filter { $0.tensor.borrowedFloat32Storage(count: $0.tensor.elementCount) == nil }
        // The case under test: the storages misaligned, and enough values for the parallel path
        // (`Kernels.forEachTask` splits from 2^18 values).
        #expect(misaligned.count == floats.count, "\(misaligned.count) of \(floats.count) misaligned")
        #expect(misaligned.reduce(0) { $0 + $1.tensor.elementCount } >= 1 << 18)

        let model = try ModelZoo.build("resnet18")
        try model.loadStateDict(stateDict)
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
        #expect(checked == floats.count)
    }
}
