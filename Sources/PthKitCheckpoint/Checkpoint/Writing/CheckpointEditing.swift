/// Edits `pthkit convert` makes to a checkpoint before writing it again.
extension CheckpointValue {
    /// A dictionary whose string keys lose a leading `prefix` (`module.` from DataParallel), with its
    /// `_metadata` paths rewritten to match; anything else is returned unchanged.
    public func strippingPrefix(_ prefix: String) -> CheckpointValue {
        guard case .dict(var dict) = self else { return self }
        dict.entries = dict.entries.map { entry in
            guard case .string(let key) = entry.key, key.hasPrefix(prefix) else { return entry }
            return (.string(String(key.dropFirst(prefix.count))), entry.value)
        }
        dict.metadata = dict.metadata.map { StateDict.strippingPrefix(prefix, from: $0) }
        return .dict(dict)
    }

    /// Every tensor of `dtypes` converted to float32 as `tensor.float()` converts it, with the
    /// dotted paths of the tensors that changed.
    public func castingToFloat32(_ dtypes: Set<DType>) -> (value: CheckpointValue, castKeys: [String]) {
        var castKeys: [String] = []
        var castStorages: [TensorBytes.Identity: TensorBytes] = [:]
        let value = mappingTensors(prefix: "") { path, tensor in
            guard dtypes.contains(tensor.dtype), tensor.dtype != .float32 else { return tensor }
            castKeys.append(path)
            guard let layout = tensor.layout else { return tensor.castToFloat32() }
            // A view stays a view: its storage is cast (once, however many views share it), so the
            // cost is the storage's, not what the view's shape claims.
            let storage = tensor.storage.identity.flatMap { castStorages[$0] }
                ?? TensorData(dtype: tensor.dtype, shape: [tensor.storage.count / tensor.dtype.byteSize], storage: tensor.storage)
                    .castToFloat32().storage
            tensor.storage.identity.map { castStorages[$0] = storage }
            return TensorData(dtype: .float32, shape: tensor.shape, storage: storage, layout: layout)
        }
        return (value, castKeys)
    }

    /// Pickled modules replaced by their state dicts: all of a module `torch.load(weights_only=True)`
    /// can read back. Returns the paths that were replaced.
    public func replacingModulesWithStateDicts() -> (value: CheckpointValue, replacedKeys: [String]) {
        var replaced: [String] = []
        let value = mapping(prefix: "") { path, value in
            guard case .module(_, let stateDict) = value else { return nil }
            replaced.append(path)
            return .dict(stateDict)
        }
        return (value, replaced)
    }

    private func mappingTensors(
        prefix: String, _ transform: (String, TensorData) -> TensorData
    ) -> CheckpointValue {
        mapping(prefix: prefix) { path, value in
            guard case .tensor(let tensor) = value else { return nil }
            return .tensor(transform(path, tensor))
        }
    }

    /// The tree with each value `replace` returns non-nil for swapped in (and not descended into).
    /// A container shared along many paths is rewritten once, at the first path that reaches it,
    /// and the result shared again (a file's DUP'ed tuples would otherwise cost 2^k steps).
    private func mapping(
        prefix: String, _ replace: (String, CheckpointValue) -> CheckpointValue?
    ) -> CheckpointValue {
        var done: [SharedIdentity: CheckpointValue] = [:]
        return mapping(prefix: prefix, replace, done: &done)
    }

    private func mapping(
        prefix: String, _ replace: (String, CheckpointValue) -> CheckpointValue?,
        done: inout [SharedIdentity: CheckpointValue]
    ) -> CheckpointValue {
        if let replacement = replace(prefix, self) { return replacement }
        let identity: SharedIdentity?
        switch self {
        case .list(let items), .tuple(let items): identity = SharedIdentity(items)
        case .dict(let dict): identity = SharedIdentity(dict.entries)
        default: return self
        }
        if let identity, let known = done[identity] { return known }
        func join(_ component: String) -> String { prefix.isEmpty ? component : prefix + "." + component }
        let result: CheckpointValue
        switch self {
        case .list(let items):
            result = .list(items.enumerated().map { $1.mapping(prefix: join(String($0)), replace, done: &done) })
        case .tuple(let items):
            result = .tuple(items.enumerated().map { $1.mapping(prefix: join(String($0)), replace, done: &done) })
        case .dict(var dict):
            dict.entries = dict.entries.map { ($0.key, $0.value.mapping(prefix: join($0.key.pathComponent), replace, done: &done)) }
            result = .dict(dict)
        default:
            result = self
        }
        if let identity { done[identity] = result }
        return result
    }
}

extension TensorData {
    /// The values as float32 bits, as torch's vectorized `tensor.float()` gives them: exact for every
    /// finite value, and a float16 NaN keeps its payload but becomes quiet (the F16C conversion).
    func castToFloat32() -> TensorData {
        let values = floatValues().map { value -> Float in
            guard dtype == .float16, value.isNaN else { return value }
            return Float(bitPattern: value.bitPattern | 0x0040_0000)
        }
        return TensorData(dtype: .float32, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
    }
}
