import Foundation

extension Module {
    /// torch.save(model.state_dict(), url): every parameter and persistent buffer (float32, int64 counters) with `_metadata`.
    public func saveStateDict(to url: URL) throws {
        try CheckpointWriter.write(stateDictForSaving().checkpointValue, to: url)
    }

    /// The values `state_dict()` would return now, as tensors in their PyTorch dtypes.
    func stateDictForSaving() -> StateDict {
        StateDict(
            entries: stateDict().map { ($0.key, Self.tensorData($0.parameter)) },
            metadata: stateDictMetadata().mapValues { Optional($0) })
    }

    /// Counters such as `num_batches_tracked` live as exact small integers in float storage, and go
    /// back to int64 as PyTorch keeps them.
    private static func tensorData(_ parameter: Parameter) -> TensorData {
        let value = parameter.value
        let bytes: [UInt8]
        switch parameter.dtype {
        case .int64:
            bytes = value.storage.flatMap { number in
                let count = number.isFinite && abs(number) < 0x1p62 ? Int64(number) : 0
                return withUnsafeBytes(of: count.littleEndian) { Array($0) }
            }
        default:
            bytes = value.storage.withUnsafeBytes { Array($0) }
        }
        return TensorData(dtype: parameter.dtype == .int64 ? .int64 : .float32, shape: value.shape, bytes: bytes)
    }
}

extension StateDict {
    /// The state dict as the tree `torch.save(model.state_dict())` pickles: an OrderedDict of
    /// tensors, carrying `_metadata` when this state dict has it.
    public var checkpointValue: CheckpointValue {
        .dict(CheckpointDict(entries: entries.map { (.string($0.key), .tensor($0.tensor)) }, metadata: metadata))
    }
}
