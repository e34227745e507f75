import COpenBLAS
import Dispatch

extension Kernels {
    /// C[m, n] = op(A) * op(B) (+ C when `accumulate`), row-major with leading dimensions lda, ldb
    /// and ldc, where op transposes when asked; then `activation`, if given, on the result.
    ///
    /// OpenBLAS runs single-threaded (`ComputeThreads.blas`): the product is cut into blocks of
    /// columns of C (or of rows, when C is taller than wide), one sgemm per block on the compute
    /// threads, each block activated while it is in cache. OpenBLAS's own pool would spin between
    /// calls, and on a machine busy with other work those spinning threads starve the ones doing
    /// the work. Blocks divide the rows or columns of C, never the sum over k.
    package static func multiply(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
        accumulate: Bool, _ c: UnsafeMutablePointer<Float>, ldc: Int, activation: Activation? = nil
    ) {
        _ = ComputeThreads.blas
        let threads = ComputeThreads.count
        let byColumns = n >= m
        let extent = byColumns ? n : m
        // One block per thread, at least 16 wide (a multiple of every sgemm micro-tile here): each
        // block packs its own copy of the other operand, so more blocks cost more. Below about 4M
        // multiply-adds (a fraction of a millisecond) waking a thread costs more than it saves.
        let blocks = threads > 1 && m * n * k >= 1 << 22 ? max(1, min(threads, extent / 16)) : 1
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        let run = { @Sendable (block: Int) in
            let start = block * extent / blocks / 16 * 16
            let end = block + 1 == blocks ? extent : (block + 1) * extent / blocks / 16 * 16
            guard end > start else { return }
            let (rows, columns) = byColumns ? (m, end - start) : (end - start, n)
            let blockA = byColumns ? a : a + (transposeA ? start : start * lda)
            let blockB = byColumns ? b + (transposeB ? start * ldb : start) : b
            let blockC = c + (byColumns ? start : start * ldc)
            cblas_sgemm(
                CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(rows), Int32(columns), Int32(k), 1, blockA, Int32(lda), blockB, Int32(ldb),
                accumulate ? 1 : 0, blockC, Int32(ldc))
            if let activation {
                for row in 0..<rows { apply(activation, blockC + row * ldc, blockC + row * ldc, count: columns) }
            }
        }
        guard blocks > 1 else { return run(0) }
        DispatchQueue.concurrentPerform(iterations: blocks, execute: run)
    }

    /// y[m] = A[m, n] * x (+ y when `accumulate`), A row-major with leading dimension n, its rows
    /// split across the compute threads as `multiply` splits a product.
    static func multiply(
        m: Int, n: Int, _ a: UnsafePointer<Float>, vector x: UnsafePointer<Float>, accumulate: Bool,
        _ y: UnsafeMutablePointer<Float>
    ) {
        _ = ComputeThreads.blas
        let threads = ComputeThreads.count
        let blocks = threads > 1 && m * n >= 1 << 18 ? max(1, min(threads, m / 16)) : 1
        nonisolated(unsafe) let (a, x, y) = (a, x, y)
        let run = { @Sendable (block: Int) in
            let start = block * m / blocks / 16 * 16
            let end = block + 1 == blocks ? m : (block + 1) * m / blocks / 16 * 16
            guard end > start else { return }
            cblas_sgemv(
                CblasRowMajor, CblasNoTrans, Int32(end - start), Int32(n), 1, a + start * n, Int32(n), x, 1,
                accumulate ? 1 : 0, y + start, 1)
        }
        guard blocks > 1 else { return run(0) }
        DispatchQueue.concurrentPerform(iterations: blocks, execute: run)
    }
}
