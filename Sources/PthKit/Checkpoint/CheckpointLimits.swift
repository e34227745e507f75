/// Bounds on what a checkpoint file may make PthKit do beyond holding its own bytes. Reading is
/// proportional to the file: views (slices, transposes, expanded stride-0 views) stay views, as
/// torch keeps them, and shared values are followed once. What remains is what a file's word could
/// make large: the dense copies of its views where a consumer has no strides, and its dotted paths.
public struct CheckpointLimits: Sendable {
    /// Bytes that views written dense (safetensors has no strides) may take beyond the bytes of
    /// the storages they view. Loading into a model needs no allowance: the model's parameter
    /// sizes decide what is copied, after the shapes are checked.
    public var viewCopyAllowance: Int
    /// Bytes the tensors' dotted key paths (`layer1.0.conv1.weight`) may take in all, as
    /// `Checkpoint.tensors` and pickled modules' state dicts spell them out.
    public var tensorPathBytes: Int

    public init(
        viewCopyAllowance: Int = CheckpointLimits.defaultViewCopyAllowance,
        tensorPathBytes: Int = CheckpointLimits.defaultTensorPathBytes
    ) {
        self.viewCopyAllowance = max(0, viewCopyAllowance)
        self.tensorPathBytes = max(0, tensorPathBytes)
    }

    /// 256 MiB.
    public static let defaultViewCopyAllowance = 256 << 20
    /// 64 MiB: a million tensors with 64-byte keys.
    public static let defaultTensorPathBytes = 64 << 20
    public static let `default` = CheckpointLimits()
}
