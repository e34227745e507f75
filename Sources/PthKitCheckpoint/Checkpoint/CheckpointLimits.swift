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

extension CheckpointLimits {
    /// Checks that making the views among `tensors` dense (hashing them in torch's order, writing a
    /// format without strides) stays within their storages' bytes plus `viewCopyAllowance`: the time
    /// or space such a copy takes is the file's word (a 600-byte file may claim 2^40 expanded floats).
    /// A view reached under several keys counts once, as it is hashed or written once.
    public func checkDenseViews(_ tensors: [TensorData]) throws {
        var storages: [TensorBytes.Identity: Int] = [:]
        var seen = Set<TensorData.ViewIdentity>()
        var dense = 0
        for tensor in tensors where tensor.denseStorage == nil {
            if let identity = tensor.viewIdentity, !seen.insert(identity).inserted { continue }
            tensor.storage.identity.map { storages[$0] = tensor.storage.count }
            let (total, overflow) = dense.addingReportingOverflow(tensor.byteCount)
            dense = overflow ? Int.max : total
        }
        let storageBytes = storages.values.reduce(0) { $0.addingReportingOverflow($1).overflow ? Int.max : $0 + $1 }
        let (limit, overflow) = storageBytes.addingReportingOverflow(viewCopyAllowance)
        guard overflow || dense <= limit else {
            throw ViewCopyLimitError(denseBytes: dense, storageBytes: storageBytes, allowance: viewCopyAllowance)
        }
    }
}

/// Views that would be made dense past `CheckpointLimits.viewCopyAllowance`.
public struct ViewCopyLimitError: Error, CustomStringConvertible {
    public let denseBytes: Int
    public let storageBytes: Int
    public let allowance: Int

    public var description: String {
        "the file's tensor views (expanded or strided) would be made dense as \(denseBytes) bytes, more than "
            + "their storages' \(storageBytes) bytes plus an allowance of \(allowance); raise the allowance "
            + "(CheckpointLimits.viewCopyAllowance, --view-copy-allowance) if the file is trusted"
    }
}
