import Foundation
import PthKit
import Testing

/// TorchScript archives and safetensors files from Scripts/make_format_fixtures.py, in
/// Tests/Fixtures/generated/formats: listed exactly as torch.jit.load(f).state_dict() and
/// safetensors.torch.load_file list them, and broken ones refused with the recorded words.
@Suite("TorchScript and safetensors read as PyTorch reads them")
struct FormatFixtureTests {
    static let folder = Fixtures.url("generated/formats")
    static let cases = CheckpointCase.all(in: folder)
    static var present: Bool { !cases.isEmpty }

    @Test func fixturesArePresent() {
        if Fixtures.generatedAreRequired {
            #expect(Self.cases.count >= 20, "\(Self.folder.path)/manifest.json is missing or short: run Scripts/test.sh")
        }
    }

    @Test(.enabled(if: FormatFixtureTests.present), arguments: cases)
    func matchesPyTorch(_ fixture: CheckpointCase) throws {
        try CheckpointFixtureTests.check(fixture, in: Self.folder)
    }

    /// The scripted and traced resnet18 load into PthKit's resnet18 and give the TorchScript module's logits.
    @Test(.enabled(if: FormatFixtureTests.present), arguments: ["resnet18_scripted.pt", "resnet18_traced.pt"])
    func torchScriptModelGivesItsLogits(_ file: String) throws {
        let loaded = try ModelZoo.load(
            "resnet18", arguments: ModelArguments(["num_classes": "10"]), weights: Self.folder.appendingPathComponent(file))
        #expect(loaded.report.missingKeys.isEmpty && loaded.report.unexpectedKeys.isEmpty)
        let input = try NPY.read(contentsOf: Self.folder.appendingPathComponent("run/input.npy"))
        let expected = try NPY.read(contentsOf: Self.folder.appendingPathComponent("run/\(file).logits.npy"))
        let comparison = try OutputComparison(output: try loaded.model(input), reference: expected, atol: 1e-4, rtol: 1e-4)
        #expect(comparison.withinTolerance, "\(comparison)")
        // num_batches_tracked is 2^40 + 1 in the archive, and stays so through the model.
        let folder = try TemporaryFolder()
        try loaded.model.saveStateDict(to: folder.file("resaved.pth"))
        let tracked = try Checkpoint.load(contentsOf: folder.file("resaved.pth")).tensors.first { $0.key == "bn1.num_batches_tracked" }
        #expect(tracked?.tensor.integerValues() == [(1 << 40) + 1])
    }

    @Test(.enabled(if: FormatFixtureTests.present)) func safetensorsLoadIntoTheModel() throws {
        let loaded = try ModelZoo.load(
            "resnet18", arguments: ModelArguments(["num_classes": "10"]),
            weights: Self.folder.appendingPathComponent("resnet18.safetensors"))
        #expect(loaded.report.missingKeys.isEmpty && loaded.report.unexpectedKeys.isEmpty)
    }

    /// A TorchScript file is decided by its records, a safetensors file by its bytes: names say nothing.
    @Test(.enabled(if: FormatFixtureTests.present)) func formatIsDecidedByContent() throws {
        let folder = try TemporaryFolder()
        for (file, format) in [("every_dtype.safetensors", Checkpoint.Format.safetensors), ("resnet18_traced.pt", .torchScript)] {
            let renamed = folder.file("weights.bin")
            try? FileManager.default.removeItem(at: renamed)
            try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(file), to: renamed)
            #expect(try Checkpoint.load(contentsOf: renamed).format == format)
        }
    }
}
