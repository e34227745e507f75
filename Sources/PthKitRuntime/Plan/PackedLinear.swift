import CKernels

/// A linear layer over several rows, its weights packed once for the C kernels' GEMM
/// (`pk_linear_run`), with the activation that follows it applied in the same pass.
///
/// One row stays with OpenBLAS's sgemv (the plan's `.linear` step): a matrix-vector product reads
/// each weight once whatever the layout, so packing gains nothing there, while the register tile
/// would spend 16 multiplies on every weight. From two rows on, OpenBLAS's sgemm copies the whole
/// weight matrix into its own panels on every call, which is what this saves (LinearGemm.c).
/// Measured on Zen 3, one thread, least CPU time of 7: 8 rows through 9216 -> 4096 (AlexNet's first
/// classifier layer at batch 8) 23-26 ms against sgemm's 39-48; a ViT-B's 197 tokens through its
/// 768 -> 3072 and 3072 -> 768 layers within the machine's noise of sgemm either way.
final class PackedLinear: @unchecked Sendable {
    let inFeatures: Int32, outFeatures: Int32
    let rows: Int32
    let outputShape: [Int]
    let activation: Kernels.Activation?
    private let bias: [Float]?
    private let packed: UnsafeMutablePointer<Float>

    /// Whether a linear layer reading `inputShape` runs packed: when it multiplies more than one row.
    static func worthwhile(inputShape: [Int]) -> Bool {
        inputShape.count >= 2 && inputShape.dropLast().reduce(1, *) > 1
    }

    /// Checks the shapes as `Kernels.linear` does (one set of rules for both paths) and packs `weight`.
    init(weight: Tensor, bias: [Float]?, inputShape: [Int], activation: Kernels.Activation?) throws {
        let op = "linear"
        try Kernels.require(weight, rank: 2, op, "weight", layout: "[out, in]")
        guard let last = inputShape.last, weight.shape[1] == last else {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "weight [out, \(inputShape.last ?? 0)] for input shape \(inputShape)",
                found: "weight shape \(weight.shape)")
        }
        if let bias, bias.count != weight.shape[0] {
            throw RuntimeError.shapeMismatch(
                operation: op, expected: "bias of \(weight.shape[0]) values", found: "\(bias.count) values")
        }
        // The C kernels count in 32-bit ints, as OpenBLAS does.
        guard let inFeatures = Int32(exactly: last), let outFeatures = Int32(exactly: weight.shape[0]),
              let rows = Int32(exactly: inputShape.dropLast().reduce(1, *))
        else {
            throw RuntimeError.invalidArgument(operation: op, reason: "input shape \(inputShape) exceeds the kernels' range")
        }
        (self.inFeatures, self.outFeatures, self.rows) = (inFeatures, outFeatures, rows)
        outputShape = inputShape.dropLast() + [weight.shape[0]]
        self.bias = bias
        self.activation = activation
        let count = pk_linear_packed_weights_count(inFeatures, outFeatures)
        packed = .allocate(capacity: max(count, 1))
        weight.storage.withUnsafeBufferPointer { pk_linear_pack_weights(inFeatures, outFeatures, $0.baseAddress, packed) }
    }

    deinit { packed.deallocate() }

    /// Whether the kernel applies `activation` as it stores the output.
    static func fuses(_ activation: Kernels.Activation) -> Bool {
        Kernels.kernelActivation(activation) != nil
    }

    /// Writes the output for `input` (of the traced shape) into `output`, of `outputShape`'s count.
    func run(_ input: Tensor, into output: inout [Float]) {
        let activation = self.activation.flatMap(Kernels.kernelActivation) ?? PK_ACTIVATION_NONE
        input.storage.withUnsafeBufferPointer { source in
            Kernels.withOptionalPointer(bias) { bias in
                output.withUnsafeMutableBufferPointer { destination in
                    pk_linear_run(
                        rows, inFeatures, outFeatures, source.baseAddress, packed, bias, activation, destination.baseAddress)
                }
            }
        }
    }

    /// `linear in->out`, as plan summaries print it.
    var description: String { "linear \(inFeatures)->\(outFeatures) packed" }
}
