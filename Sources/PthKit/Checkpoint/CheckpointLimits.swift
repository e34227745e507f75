/// Bounds on what a checkpoint file may make PthKit do beyond holding its own bytes. Every other
/// resource is already proportional to the file (the pickle machine refuses values whose expansion
/// outgrows the stream, see `PickleMachine.maximumExpansion`); copying views out of storages is the
/// one place a few bytes can ask for many, so it is bounded here.
public struct CheckpointLimits: Sendable {
    /// Bytes that copied views (slices, transposes, expanded stride-0 views) may take beyond the
    /// bytes of the storages the file holds. A state dict of whole tensors copies nothing.
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
