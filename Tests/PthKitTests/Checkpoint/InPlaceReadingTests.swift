import Foundation
import PthKit
import Testing

/// Tensors of stored zip records, legacy storages and safetensors stay regions of the mapped file
/// until they are converted; a damaged stored record is caught by its CRC when the check is asked for,
/// and read as `torch.load` reads it otherwise.
struct InPlaceReadingTests {
    static let checkpoints = Fixtures.url("checkpoints")

    static func isRegion(_ tensor: TensorData) -> Bool {
        if case .region = tensor.storage { return true }
        return false
    }

    @Test(arguments: ["state_dict_zip.pth", "state_dict_legacy.pth", "zip64.pth", "views_zip.pth"])
    func storedTensorsAreRegionsOfTheFile(_ name: String) throws {
        let tensors = try Checkpoint.load(contentsOf: Self.checkpoints.appendingPathComponent(name)).tensors
        #expect(!tensors.isEmpty)
        // Every tensor shares the file's bytes, views included: a view keeps its storage's region.
        #expect(tensors.allSatisfy { Self.isRegion($0.tensor) })
        if name.hasPrefix("state_dict") { #expect(tensors.allSatisfy { Self.isRegion($0.tensor) }) }
    }

    @Test func deflatedRecordsAreExtracted() throws {
        let tensors = try Checkpoint.load(contentsOf: Self.checkpoints.appendingPathComponent("zip_deflated.pth")).tensors
        #expect(!tensors.isEmpty)
        #expect(!tensors.contains { Self.isRegion($0.tensor) })
    }

    @Test func convertingTwiceGivesTheSameValues() throws {
        // Conversion lets the region's pages go; reading them again must map the same bytes back.
        let tensors = try Checkpoint.load(contentsOf: Self.checkpoints.appendingPathComponent("state_dict_zip.pth")).tensors
        for (key, tensor) in tensors where tensor.dtype.isFloatingPoint {
            #expect(tensor.floatValues() == tensor.floatValues(), "\(key)")
        }
    }

    @Test func aDamagedStoredRecordFailsItsCRCWhenChecked() throws {
        let original = Self.checkpoints.appendingPathComponent("state_dict_zip.pth")
        let checkpoint = try Checkpoint.load(contentsOf: original)
        let largest = try #require(checkpoint.tensors.max { $0.tensor.byteCount < $1.tensor.byteCount })
        guard case .region(_, let range) = largest.tensor.storage else {
            Issue.record("\(largest.key) is not read in place")
            return
        }
        var bytes = try [UInt8](Data(contentsOf: original))
        bytes[range.lowerBound + range.count / 2] ^= 0x40
        let folder = try TemporaryFolder()
        let damaged = folder.file("damaged.pth")
        try Data(bytes).write(to: damaged)
        let error = #expect(throws: CheckpointError.self) { try Checkpoint.load(contentsOf: damaged, verifyChecksums: true) }
        #expect(error.map { "\($0)".contains("CRC") } == true, "\(String(describing: error))")
        // torch.load checks no CRC: by default the damaged values are read as they are.
        let read = try Checkpoint.load(contentsOf: damaged).tensors.first { $0.key == largest.key }
        #expect(read.map { $0.tensor.bytes != largest.tensor.bytes } == true)
    }
}
