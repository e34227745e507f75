import Foundation
import PthKitCheckpoint

extension Module {
    /// torch.save(model.state_dict(), url): every parameter and persistent buffer (float32, int64 counters) with `_metadata`.
    public func saveStateDict(to url: URL) throws {
        try CheckpointWriter.write(stateDictForSaving().checkpointValue, to: url)
    }

    /// safetensors.torch.save_file(model.state_dict(), url, {"format": "pt"}).
    public func saveStateDictAsSafetensors(to url: URL) throws {
        try SafetensorsWriter.write(stateDictForSaving().entries, to: url)
    }

    /// The values `state_dict()` would return now, as tensors in their PyTorch dtypes.
    func stateDictForSaving() -> StateDict {
        StateDict(
            entries: stateDict().map { ($0.key, Self.tensorData($0.parameter)) },
            metadata: stateDictMetadata().mapValues { Optional($0) })
    }

    /// Counters such as `num_batches_tracked` go back to int64 as PyTorch keeps them: the exact values
    /// they were loaded with, or the float32 values rounded when they were set otherwise.
    private static func tensorData(_ parameter: Parameter) -> TensorData {
        let value = parameter.value
        let bytes: [UInt8]
        switch parameter.dtype {
        case .int64:
            let integers = parameter.integerValues.flatMap { $0.count == value.storage.count ? $0 : nil }
                ?? value.storage.map { $0.isFinite && abs($0) < 0x1p62 ? Int64($0) : 0 }
            bytes = integers.flatMap { number in withUnsafeBytes(of: number.littleEndian) { Array($0) } }
        default:
            bytes = value.storage.withUnsafeBytes { Array($0) }
        }
        return TensorData(dtype: parameter.dtype == .int64 ? .int64 : .float32, shape: value.shape, bytes: bytes)
    }
}
