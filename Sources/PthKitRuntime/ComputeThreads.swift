import CKernels
import COpenBLAS
import Foundation

/// How many threads the runtime's heavy work may use: the chunked loops of the kernels, GEMMs
/// included. Defaults to every core, as PyTorch's intra-op pool does.
public enum ComputeThreads {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var configured = ProcessInfo.processInfo.activeProcessorCount

    public static var count: Int { lock.withLock { configured } }

    public static func set(_ threads: Int) {
        let clamped = max(1, threads)
        lock.withLock { configured = clamped }
        pk_set_thread_count(Int32(min(clamped, 64)))
    }

    /// Keeps OpenBLAS to the calling thread; `Kernels.multiply` splits products across our threads
    /// instead, and touches this first. OpenBLAS's pool busy-waits between calls, and when other
    /// processes keep the cores busy its waiting threads starve the working ones: beside two
    /// busy loops resnet18 took about 1 s a pass with the pool, under 0.2 s without.
    static let blas: Void = openblas_set_num_threads(1)
}

/// Which of the C kernels' implementations this process runs: "avx512" (AVX-512 tiles where they
/// exist, AVX2 + FMA elsewhere), "avx2-fma" or "portable", chosen once from the CPU.
public enum KernelInstructionSet {
    public static var current: String { String(cString: pk_kernels_isa()) }

    /// Makes every later kernel call and compiled plan use `name` instead ("portable", or
    /// "avx2-fma" or "avx512" where the CPU has them): to compare them on one machine. Call it before
    /// compiling anything, since plans pick their kernels and layouts when compiled. False, changing
    /// nothing, when `name` is unknown or this CPU lacks it.
    public static func select(_ name: String) -> Bool { pk_kernels_select_isa(name) != 0 }
}
