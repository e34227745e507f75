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
        let value = mappingTensors(prefix: "") { path, tensor in
            guard dtypes.contains(tensor.dtype), tensor.dtype != .float32 else { return tensor }
            castKeys.append(path)
            return tensor.castToFloat32()
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
    private func mapping(
        prefix: String, _ replace: (String, CheckpointValue) -> CheckpointValue?
    ) -> CheckpointValue {
        if let replacement = replace(prefix, self) { return replacement }
        func join(_ component: String) -> String { prefix.isEmpty ? component : prefix + "." + component }
        switch self {
        case .list(let items):
            return .list(items.enumerated().map { $1.mapping(prefix: join(String($0)), replace) })
        case .tuple(let items):
            return .tuple(items.enumerated().map { $1.mapping(prefix: join(String($0)), replace) })
        case .dict(var dict):
            dict.entries = dict.entries.map { ($0.key, $0.value.mapping(prefix: join($0.key.pathComponent), replace)) }
            return .dict(dict)
        default:
            return self
        }
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
