import Foundation
import PthKit
import Testing

/// `pthkit compare` end to end on the bundled digits: PyTorch's logits for the held-out inputs are
/// matched on the compiled path and on the plain forward pass, and a wrong reference fails.
@Suite(.enabled(if: BoundedRun.isAvailable))
struct CompareCommandTests {
    static let digits = PythonOracle.packageRoot.appendingPathComponent("Examples/digits")

    func compare(_ extra: [String], reference: URL) throws -> BoundedRun.Result {
        let folder = try TemporaryFolder()
        return try BoundedRun.run(
            ["compare", "lenet5", "--weights", Self.digits.appendingPathComponent("lenet5_digits.pth").path,
             "--input", Self.digits.appendingPathComponent("heldout_inputs.npy").path, "--reference", reference.path,
             "--atol", "1e-4"] + extra,
            memoryMiB: 4096, seconds: 60, scratch: folder.url)
    }

    @Test(arguments: [[], ["--uncompiled"]])
    func pyTorchsLogitsAreMatched(_ extra: [String]) throws {
        let result = try compare(extra, reference: Self.digits.appendingPathComponent("heldout_logits.npy"))
        #expect(result.status == 0, "\(String(decoding: result.errors, as: UTF8.self))")
    }

    @Test func otherLogitsFail() throws {
        let folder = try TemporaryFolder()
        let logits = try NPY.read(contentsOf: Self.digits.appendingPathComponent("heldout_logits.npy"))
        let shifted = Tensor(shape: logits.shape, storage: logits.storage.map { $0 + 0.01 })
        let wrong = folder.file("wrong.npy")
        try NPY.write(shifted, to: wrong)
        let result = try compare([], reference: wrong)
        #expect(result.status == 1)
    }
}
