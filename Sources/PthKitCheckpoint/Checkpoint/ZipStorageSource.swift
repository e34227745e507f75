import PthKitSupport

/// Storages of a zip checkpoint: record `data/<key>`, read once each (tied weights share one). A
/// stored record stays a region of the file; a deflated one is extracted.
final class ZipStorageSource: StorageSource {
    private let container: ZipContainer
    private var cache: [String: TensorBytes] = [:]
    let bigEndian: Bool

    init(container: ZipContainer, bigEndian: Bool) {
        self.container = container
        self.bigEndian = bigEndian
    }

    func bytes(for reference: StorageReference) throws -> TensorBytes {
        if let cached = cache[reference.key] { return cached }
        let name = "data/\(reference.key)"
        let bytes: TensorBytes
        if let range = try container.storedRecord(name, expectedSize: reference.byteCount) {
            bytes = .region(container.contents, range)
        } else if let extracted = try container.record(name, expectedSize: reference.byteCount) {
            bytes = .owned(extracted)
        } else {
            throw TorchObjectError("storage \(SafeText.quoted(reference.key)) has no record data/\(SafeText.name(reference.key))")
        }
        cache[reference.key] = bytes
        return bytes
    }
}
