import Dispatch
import Foundation

/// The numeric kernels a forward pass is made of, each mirroring one PyTorch operator on CPU
/// float32 NCHW tensors. One file per family (`Kernels+Convolution.swift`, ...).
///
/// Every kernel validates shapes and arguments before touching memory and throws `RuntimeError`
/// rather than trapping, so its inner loops can run over unchecked pointers. Kernels keep no state
/// between calls: one model may run forward from several threads at once.
public enum Kernels {}

extension Kernels {
    /// The largest spatial size, kernel, stride, padding or dilation accepted. Far above any real
    /// image, and low enough that the size formulas below cannot overflow `Int`.
    static let maxExtent = 1 << 31

    /// Checks that `tensor` has `rank` dimensions and that its shape describes its storage (a
    /// `Tensor` built with `init(shape:storage:)` is only checked in debug builds).
    static func require(
        _ tensor: Tensor, rank: Int, _ operation: String, _ role: String = "input", layout: String? = nil
    ) throws {
        try requireConsistent(tensor, operation, role)
        guard tensor.rank == rank else {
            throw RuntimeError.shapeMismatch(
                operation: operation, expected: "\(role) of rank \(rank)" + (layout.map { " \($0)" } ?? ""),
                found: "shape \(tensor.shape)")
        }
    }

    static func requireConsistent(_ tensor: Tensor, _ operation: String, _ role: String = "input") throws {
        guard Tensor.elementCount(of: tensor.shape) == tensor.storage.count else {
            throw RuntimeError.shapeMismatch(
                operation: operation, expected: "\(role) shape matching its \(tensor.storage.count) values",
                found: "shape \(tensor.shape)")
        }
        for dimension in tensor.shape where dimension > maxExtent {
            throw RuntimeError.invalidArgument(
                operation: operation, reason: "\(role) dimension \(dimension) exceeds \(maxExtent)")
        }
    }

    /// Checks a size-like argument (kernel, stride, dilation, padding) against `range`.
    static func requireArgument(
        _ value: Int, _ name: String, in range: ClosedRange<Int>, _ operation: String
    ) throws {
        guard range.contains(value) else {
            let rule = range.lowerBound == 0 ? "non-negative" : "at least \(range.lowerBound)"
            throw RuntimeError.invalidArgument(
                operation: operation,
                reason: value < range.lowerBound ? "\(name) must be \(rule), got \(value)"
                    : "\(name) \(value) exceeds \(range.upperBound)")
        }
    }

    /// torch's dimension wrapping: `dim` in `-rank..<rank`, negative counting from the end.
    static func resolveDimension(_ dim: Int, rank: Int, _ operation: String) throws -> Int {
        let bound = max(rank, 1)  // torch lets a 0-d tensor be addressed as dim 0 or -1
        guard dim >= -bound && dim < bound else {
            throw RuntimeError.invalidArgument(
                operation: operation,
                reason: "dimension \(dim) out of range for rank \(rank) (expected -\(bound)...\(bound - 1))")
        }
        return dim < 0 ? dim + bound : dim
    }

    /// Shape of a result whose size is computed from arguments: rejects products that overflow.
    package static func resultShape(_ shape: [Int], _ operation: String) throws -> [Int] {
        guard Tensor.elementCount(of: shape) != nil else {
            throw RuntimeError.invalidArgument(operation: operation, reason: "output shape \(shape) is too large")
        }
        return shape
    }

    /// Rounds toward negative infinity, as torch's `div_rtn`; `divisor` is positive.
    static func floorDivide(_ dividend: Int, _ divisor: Int) -> Int {
        let quotient = dividend / divisor
        return (dividend % divisor != 0 && dividend < 0) ? quotient - 1 : quotient
    }

    static func ceilDivide(_ dividend: Int, _ divisor: Int) -> Int {
        -floorDivide(-dividend, divisor)
    }

    /// The outputs `o` in `0..<outputCount` whose tap `o * stride + offset` falls in `0..<inputCount`:
    /// the stretch of a row a kernel tap touches without reading padding.
    static func validOutputRange(offset: Int, stride: Int, inputCount: Int, outputCount: Int) -> Range<Int> {
        let first = min(max(ceilDivide(-offset, stride), 0), outputCount)
        let end = min(max(ceilDivide(inputCount - offset, stride), first), outputCount)
        return first..<end
    }

    /// Runs `body` for every task in `0..<count` on `ComputeThreads.count` threads, each thread
    /// taking the next task when it finishes one, so tasks of uneven size (order them largest
    /// first) still share the work evenly; inline when `work` is too small to pay for the dispatch.
    package static func forEachTask(_ count: Int, work: Int, _ body: @Sendable (Int) -> Void) {
        let threads = min(ComputeThreads.count, count)
        guard work >= 1 << 18, threads > 1 else {
            for task in 0..<count { body(task) }
            return
        }
        // One iteration per thread, each claiming tasks in order: Dispatch alone would run as many
        // at once as there are cores, whatever `--threads` asked for.
        let queue = TaskQueue(count: count)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            while let task = queue.next() { body(task) }
        }
    }

    /// Runs `body` over `0..<count`, split into a few chunks on `ComputeThreads.count` threads when
    /// `work` (inner-loop iterations) is big enough to pay for the dispatch, otherwise inline.
    static func forEachChunk(of count: Int, work: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let threads = ComputeThreads.count
        guard work >= 1 << 18, count > 1, threads > 1 else {
            body(0..<count)
            return
        }
        let chunks = min(count, threads * 4)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            body((chunk * count / chunks)..<((chunk + 1) * count / chunks))
        }
    }
}

/// Hands out 0..<count in order, each number once, to whichever thread asks next.
final class TaskQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var claimed = 0

    init(count: Int) { self.count = count }

    func next() -> Int? {
        lock.withLock {
            guard claimed < count else { return nil }
            defer { claimed += 1 }
            return claimed
        }
    }
}
