import COpenBLAS
import Foundation

/// How many threads the runtime's heavy work may use: OpenBLAS's pool for GEMMs and the chunked
/// loops of the other kernels. Defaults to every core, as PyTorch's intra-op pool does.
public enum ComputeThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var configured = ProcessInfo.processInfo.activeProcessorCount

    public static var count: Int { lock.withLock { configured } }

    public static func set(_ threads: Int) {
        let clamped = max(1, threads)
        lock.withLock { configured = clamped }
        openblas_set_num_threads(Int32(clamped))
    }
}
