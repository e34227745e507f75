import CKernels

/// A linear layer over several rows, its weights packed once for the C kernels' GEMM
/// (`pk_linear_run`), with the activation that follows it applied in the same pass.
///
/// One row stays with OpenBLAS's sgemv (the plan's `.linear` step): a matrix-vector product reads
/// each weight once whatever the layout, so packing gains nothing there, while the register tile
/// would spend 16 multiplies on every weight. From two rows on, OpenBLAS's sgemm copies the whole
/// weight matrix into its own panels on every call, which is what this saves (LinearGemm.c).
/// Measured with `Scripts/bench_kernels.sh linear` on Zen 3, one thread: 8 rows through 9216 -> 4096
/// (AlexNet's first classifier layer at batch 8) at 31-34 GFLOP/s against sgemm's 19-23; a ViT-B's
/// 197 tokens through 768 -> 3072 and back level with sgemm (81-87 against 78-82).
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
        let geometry = try Kernels.linearGeometry(inputShape: inputShape, weight: weight, biasCount: bias?.count)
        // Within Int32 by `linearGeometry`'s BLAS range check; the C kernels count in 32-bit ints too.
        (inFeatures, outFeatures, rows) = (Int32(geometry.inFeatures), Int32(geometry.outFeatures), Int32(geometry.rows))
        outputShape = geometry.outputShape
        self.bias = bias
        self.activation = activation
        let count = pk_linear_packed_weights_count(inFeatures, outFeatures)
        packed = .allocate(capacity: max(count, 1))
        weight.storage.withUnsafeBufferPointer { pk_linear_pack_weights(inFeatures, outFeatures, $0.baseAddress, packed) }
    }

    deinit { packed.deallocate() }

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
