import PthKitSupport

/// What a persistent id says about a storage: its key in the container, its dtype and element count,
/// and for legacy views the window onto a larger root storage.
struct StorageReference {
    let key: String
    let dtype: DType
    let elementCount: Int
    /// Legacy format only: the storage is elements `offset ..< offset + count` of storage `key`.
    let view: (offset: Int, count: Int)?

    /// Parses `('storage', StorageClass, key, location, numel)` (zip) or
    /// `('storage', StorageClass, root_key, location, numel, view_metadata)` (legacy).
    init(persistentID: PickleValue) throws {
        guard let fields = persistentID.asSequence, fields.count >= 5, fields[0].asString == "storage" else {
            throw TorchObjectError("persistent id is not a ('storage', ...) tuple")
        }
        guard case let .global(module, name) = fields[1],
              let dtype = DType(storageClass: "\(module).\(name)") else {
            throw TorchObjectError("unknown storage type \(fields[1].kindName)")
        }
        let key: String
        switch fields[2] {
        case .string(let text): key = text
        case .int(let number): key = String(number)
        default: throw TorchObjectError("storage key is a \(fields[2].kindName)")
        }
        guard let count = fields[4].asInt, count >= 0, count <= Int64(Int.max / dtype.byteSize) else {
            throw TorchObjectError("storage \(SafeText.quoted(key)) has an invalid element count")
        }
        self.key = key
        self.dtype = dtype
        self.elementCount = Int(count)
        if fields.count >= 6, let window = fields[5].asSequence {
            guard window.count == 3, let offset = window[1].asInt, let length = window[2].asInt,
                  offset >= 0, length >= 0, offset <= Int64(Int.max / 2), length <= Int64(Int.max / 2) else {
                throw TorchObjectError("storage \(SafeText.quoted(key)) has an invalid view")
            }
            view = (Int(offset), Int(length))
        } else {
            view = nil
        }
    }

    var byteCount: Int { elementCount * dtype.byteSize }
}

/// Gives the bytes of the storages a checkpoint's pickle refers to; one per container format.
protocol StorageSource: AnyObject {
    /// True when storages hold big-endian values that must be swapped.
    var bigEndian: Bool { get }
    func bytes(for reference: StorageReference) throws -> TensorBytes
}
