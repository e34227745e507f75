/// Storages of a zip checkpoint: record `data/<key>`, read once each (tied weights share one).
final class ZipStorageSource: StorageSource {
    private let container: ZipContainer
    private var cache: [String: [UInt8]] = [:]
    let bigEndian: Bool

    init(container: ZipContainer, bigEndian: Bool) {
        self.container = container
        self.bigEndian = bigEndian
    }

    func bytes(for reference: StorageReference) throws -> [UInt8] {
        if let cached = cache[reference.key] { return cached }
        guard let bytes = try container.record("data/\(reference.key)", expectedSize: reference.byteCount) else {
            throw TorchObjectError("storage \(SafeText.quoted(reference.key)) has no record data/\(SafeText.name(reference.key))")
        }
        cache[reference.key] = bytes
        return bytes
    }
}
