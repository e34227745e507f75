import PthKitSupport

/// Storages of a legacy (pre-1.6) checkpoint. They follow the pickles in the file, in the order of
/// the storage-key list, each as an 8-byte little-endian element count and the raw elements; the
/// element size comes from the dtype the main pickle gave each key. Always little-endian. Each
/// storage stays a region of the file.
final class LegacyStorageSource: StorageSource {
    private var storages: [String: TensorBytes] = [:]
    let bigEndian = false

    /// Reads every storage listed in `keys` from `bytes` starting at `offset`.
    init(contents: FileContents, offset: Int, keys: [String], dtypes: [String: DType]) throws {
        let bytes = contents.bytes
        var position = offset
        for key in keys {
            guard let dtype = dtypes[key] else {
                throw TorchObjectError("storage \(SafeText.quoted(key)) is listed but no tensor refers to it")
            }
            guard bytes.count - position >= 8 else {
                throw TorchObjectError("file ends before storage \(SafeText.quoted(key))")
            }
            var count: UInt64 = 0
            for index in 0..<8 { count |= UInt64(bytes[position + index]) << (8 * UInt64(index)) }
            position += 8
            let available = UInt64(bytes.count - position)
            guard count <= available / UInt64(dtype.byteSize) else {
                throw TorchObjectError(
                    "storage \(SafeText.quoted(key)) declares \(count) elements but only \(available) bytes remain")
            }
            let length = Int(count) * dtype.byteSize
            storages[key] = .region(contents, position..<(position + length))
            position += length
        }
    }

    func bytes(for reference: StorageReference) throws -> TensorBytes {
        guard let root = storages[reference.key] else {
            throw TorchObjectError("storage \(SafeText.quoted(reference.key)) is missing from the file")
        }
        guard let view = reference.view else { return root }
        let size = reference.dtype.byteSize
        guard view.offset <= root.count / size, view.count <= root.count / size - view.offset else {
            throw TorchObjectError("storage view of \(SafeText.quoted(reference.key)) reaches past its root storage")
        }
        return root.slice((view.offset * size)..<((view.offset + view.count) * size))
    }

    /// Key -> dtype of every storage the main pickle refers to, found without building tensors.
    static func storageTypes(in value: PickleValue) throws -> [String: DType] {
        var result: [String: DType] = [:]
        var pending: [PickleValue] = [value]
        var visited = Set<SharedIdentity>()
        func firstVisit(_ identity: SharedIdentity?) -> Bool { identity.map { visited.insert($0).inserted } ?? true }
        // Iterative walk: shared (memoized, DUP'ed) values, tuples included, are visited once.
        while let next = pending.popLast() {
            switch next {
            case .persistentID(let id):
                if id.asSequence?.first?.asString == "storage" {
                    let reference = try StorageReference(persistentID: id)
                    result[reference.key] = reference.dtype
                }
            case .tuple(let items):
                if firstVisit(SharedIdentity(items)) { pending += items }
            case .list(let list), .set(let list):
                if firstVisit(SharedIdentity(list)) { pending += list.items }
            case .dict(let dict):
                if firstVisit(SharedIdentity(dict)) {
                    for entry in dict.entries { pending += [entry.key, entry.value] }
                }
            case .object(let object):
                if firstVisit(SharedIdentity(object)) {
                    pending += object.arguments + object.listItems
                    pending += object.dictItems.flatMap { [$0.key, $0.value] }
                    if let state = object.state { pending.append(state) }
                }
            default: break
            }
        }
        return result
    }
}
