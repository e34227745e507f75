import Foundation
import PthKit
@testable import PthKitCheckpoint
import Testing

@Suite("safetensors PthKit writes")
struct SafetensorsWriterTests {
    static let everyDtype = CheckpointValue.dict(CheckpointDict(entries: WriterSamples.everyDtype.map { (.string($0.0), $0.1) }))

    @Test func readsBackWhatItWrote() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("every_dtype.safetensors")
        try SafetensorsWriter.write(Self.everyDtype, to: url)
        let checkpoint = try Checkpoint.load(contentsOf: url)
        #expect(checkpoint.format == .safetensors)
        #expect(checkpoint.safetensorsMetadata == ["format": "pt"])
        let written = Dictionary(uniqueKeysWithValues: Self.everyDtype.flattenedTensors().map { ($0.key, $0.tensor) })
        let read = checkpoint.tensors
        #expect(read.count == written.count)
        for (key, tensor) in read { #expect(written[key] == tensor, "\(key)") }
        // The header is padded to 8 bytes and every tensor starts at a multiple of its element size.
        let header = try FileReading.bytes(of: url).withUnsafeBytes { try SafetensorsFile.parseHeader($0) }
        #expect(header.size % 8 == 0)
        for tensor in header.tensors { #expect(tensor.begin % tensor.dtype.byteSize == 0, "\(tensor.name)") }
    }

    @Test func refusesWhatIsNotATensor() throws {
        let folder = try TemporaryFolder()
        let value = CheckpointValue.dict(CheckpointDict(entries: [
            (.string("state_dict"), Self.everyDtype), (.string("epoch"), .int(3)),
        ]))
        let error = #expect(throws: CheckpointWriteError.self) { try SafetensorsWriter.write(value, to: folder.file("x.safetensors")) }
        #expect(error?.description.contains("\"epoch\"") == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: folder.file("x.safetensors").path))
    }

    // MARK: - Round trips judged by PyTorch and the safetensors package

    /// pth -> safetensors: the package reads every tensor bit for bit as torch.load reads the original.
    @Test(.enabled(if: PythonOracle.isAvailable)) func pthToSafetensors() throws {
        let folder = try TemporaryFolder()
        let original = folder.file("every_dtype.pth")
        try CheckpointWriter.write(Self.everyDtype, to: original)
        let written = folder.file("every_dtype.safetensors")
        try SafetensorsWriter.write(try Checkpoint.load(contentsOf: original).root, to: written)
        let result = try PythonOracle.run("compare_tensor_files.py", [written.path, original.path])
        #expect(result["equal"] as? Bool == true, "\(result)")
        #expect(result["metadata"] as? [String: String] == ["format": "pt"])
    }

    /// safetensors (written by the package) -> pth: torch.load reads what the package wrote.
    @Test(.enabled(if: PythonOracle.isAvailable && FormatFixtureTests.present)) func safetensorsToPth() throws {
        let folder = try TemporaryFolder()
        let original = FormatFixtureTests.folder.appendingPathComponent("every_dtype.safetensors")
        let written = folder.file("every_dtype.pth")
        try CheckpointWriter.write(try Checkpoint.load(contentsOf: original).root, to: written)
        let result = try PythonOracle.run("compare_tensor_files.py", [written.path, original.path])
        #expect(result["equal"] as? Bool == true, "\(result)")
    }

    /// TorchScript -> safetensors and TorchScript -> pth: both equal torch.jit.load(f).state_dict().
    @Test(.enabled(if: PythonOracle.isAvailable && FormatFixtureTests.present)) func torchScriptConverts() throws {
        let folder = try TemporaryFolder()
        let original = FormatFixtureTests.folder.appendingPathComponent("buffers_and_constants.pt")
        let module = try Checkpoint.load(contentsOf: original).root.replacingModulesWithStateDicts().value
        let safetensors = folder.file("converted.safetensors"), pth = folder.file("converted.pth")
        try SafetensorsWriter.write(module, to: safetensors)
        try CheckpointWriter.write(module, to: pth)
        for written in [safetensors, pth] {
            let result = try PythonOracle.run("compare_tensor_files.py", [written.path, original.path])
            #expect(result["equal"] as? Bool == true, "\(written.lastPathComponent): \(result)")
        }
    }
}
