import Foundation

/// Writes checkpoints in the zip format torch.save has used since 1.6, record for record as torch
/// 2.x writes them, so that `torch.load(path, weights_only=True)` returns the tree that was written.
public enum CheckpointWriter {
    /// torch.save(root, url) in the zip format: what torch.load(weights_only=True) reads.
    public static func write(_ root: CheckpointValue, to url: URL) throws {
        let output = try TorchObjectWriter.write(root, file: url.path)
        try ZipArchiveWriter.write(records(output, archiveName: archiveName(for: url)), to: url)
    }

    /// Torch names the archive's folder after the file without its extension (`archive` when that is empty).
    static func archiveName(for url: URL) -> String {
        let stem = url.deletingPathExtension().lastPathComponent
        return stem.isEmpty ? "archive" : stem
    }

    /// The records in torch's order: the pickle, format markers, storages, then the trailer torch's
    /// stream writer adds when it closes the archive.
    static func records(_ output: TorchObjectWriter.Output, archiveName: String) -> [ZipArchiveWriter.Record] {
        var records: [(String, [UInt8])] = [
            ("data.pkl", output.pickle),
            (".format_version", Array("1".utf8)),
            (".storage_alignment", Array(String(ZipArchiveWriter.alignment).utf8)),
            ("byteorder", Array("little".utf8)),
        ]
        // Storages are numbered in the order the pickle first refers to them.
        records += output.storages.map { ("data/\($0.key)", $0.bytes) }
        records += [
            ("version", Array("3\n".utf8)),
            (".data/serialization_id", Array(serializationID(of: output).utf8)),
        ]
        return records.map { ZipArchiveWriter.Record(name: archiveName + "/" + $0.0, bytes: $0.1) }
    }

    /// Torch identifies each saved file by 40 decimal digits: 20 random ones and 20 from a hash of
    /// the contents. The hash here is FNV-1a of the pickle, cheap even for large storages.
    private static func serializationID(of output: TorchObjectWriter.Output) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in output.pickle { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        func digits(_ number: UInt64) -> String {
            let text = String(number)
            return String(repeating: "0", count: 20 - text.count) + text
        }
        return digits(UInt64.random(in: 0...UInt64.max)) + digits(hash)
    }
}
