import CKernels
import PthKitSupport

/// A linear layer whose weight is a parameter, its weights packed once for the C kernels
/// (`pk_linear_run`), with the activation that follows it applied in the same pass.
///
/// OpenBLAS's sgemm copies the whole weight matrix into its own panels on every call, which is what
/// packing once saves for several rows (LinearGemm.c). One row (a batch-1 classifier) runs as a
/// matrix-vector product over the same packed strips, each weight read once; measured with
/// `Scripts/bench_kernels.sh linear` on one thread of an AVX-512 Xeon, 1280 -> 1000 and 2048 -> 1000
/// took 0.19-0.42 and 0.59-0.68 ms against OpenBLAS sgemv's 0.32-0.99 and 1.02-1.58 (Debian's
/// OpenBLAS 0.3.21 takes that CPU for a Prescott and runs SSE3 kernels). Several rows, on Zen 3:
/// 8 rows through 9216 -> 4096 (AlexNet's first classifier layer at batch 8) at 31-34 GFLOP/s
/// against sgemm's 19-23; a ViT-B's 197 tokens through 768 -> 3072 and back level with sgemm.
final class PackedLinear: @unchecked Sendable {
    let inFeatures: Int32, outFeatures: Int32
    let rows: Int32
    let outputShape: [Int]
    let activation: Kernels.Activation?
    private let bias: [Float]?
    private let packed: UnsafeMutablePointer<Float>

    /// Checks the shapes as `Kernels.linear` does (one set of rules for both paths) and packs `weight`;
    /// a weight borrowed from a mapped file has its pages let go as they are packed (the plan reads
    /// only the packed copy; the values stay readable from the file).
    /// `releaseBytes`: about how many bytes of weights are packed between two releases.
    init(
        weight: Tensor, bias: [Float]?, inputShape: [Int], activation: Kernels.Activation?,
        releaseBytes: Int = PackedLinear.releaseBytes
    ) throws {
        let geometry = try Kernels.linearGeometry(inputShape: inputShape, weight: weight, biasCount: bias?.count)
        // Within Int32 by `linearGeometry`'s BLAS range check; the C kernels count in 32-bit ints too.
        (inFeatures, outFeatures, rows) = (Int32(geometry.inFeatures), Int32(geometry.outFeatures), Int32(geometry.rows))
        outputShape = geometry.outputShape
        self.bias = bias
        self.activation = activation
        let count = pk_linear_packed_weights_count(inFeatures, outFeatures)
        packed = .allocate(capacity: max(count, 1))
        // 2 MB pages: a batch-1 pass streams the whole matrix once (AlexNet's and VGG's first
        // classifier layers, 151 and 411 MB), and on 4 KB pages every page of it costs a TLB miss.
        HugePages.advise(UnsafeMutableRawBufferPointer(start: packed, count: max(count, 1) * MemoryLayout<Float>.stride))
        Self.pack(
            weight.storage, inFeatures: Int(inFeatures), outFeatures: Int(outFeatures), releaseBytes: releaseBytes,
            into: packed)
    }

    /// Weights packed between two releases of their file pages: 32 MB, a few runs for the large layers.
    static let releaseBytes = 32 << 20

    /// Packs the weight in runs of whole 16-feature strips (a strip's packed floats start where its
    /// rows do), letting each run's file pages go once it is packed. Packed whole, VGG's 411 MB first
    /// classifier layer was resident twice at once, file and packed copy: vgg16's batch-1 run peaked
    /// at 1016 MB above startup, above ONNX Runtime's 1003.
    private static func pack(
        _ storage: TensorStorage, inFeatures: Int, outFeatures: Int, releaseBytes: Int,
        into packed: UnsafeMutablePointer<Float>
    ) {
        let strip = Int(PK_LINEAR_STRIP_FEATURES)
        let rowsPerRun = max(strip, releaseBytes / max(inFeatures * MemoryLayout<Float>.stride, 1) / strip * strip)
        storage.withUnsafeBufferPointer { weight in
            guard let base = weight.baseAddress else { return }
            for first in stride(from: 0, to: outFeatures, by: rowsPerRun) {
                let rows = min(rowsPerRun, outFeatures - first)
                pk_linear_pack_weights(Int32(inFeatures), Int32(rows), base + first * inFeatures, packed + first * inFeatures)
                storage.releaseBorrowedPagesAfterCopy(elements: (first * inFeatures)..<((first + rows) * inFeatures))
            }
        }
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
