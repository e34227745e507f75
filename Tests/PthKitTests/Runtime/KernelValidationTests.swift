import Foundation
import PthKit
import Testing

/// Bad shapes and arguments are reported as `RuntimeError`, never a trap.
@Suite("Kernels reject bad input")
struct KernelValidationTests {
    static func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { Float($0 % 7) - 3 })
    }

    /// A tensor whose shape does not describe its storage (storage is public and can be edited).
    static var inconsistent: Tensor {
        var t = tensor([1, 2, 3, 3])
        t.storage.removeLast()
        return t
    }

    @Test func conv2dRejectsBadShapes() {
        let x = Self.tensor([1, 4, 5, 5]), w = Self.tensor([6, 4, 3, 3])
        func conv(
            _ x: Tensor, _ w: Tensor, bias: [Float]? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (1, 1),
            dilation: (Int, Int) = (1, 1), groups: Int = 1
        ) throws {
            _ = try Kernels.conv2d(x, weight: w, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
        #expect(throws: RuntimeError.self) { try conv(Self.tensor([4, 5, 5]), w) }
        #expect(throws: RuntimeError.self) { try conv(x, Self.tensor([6, 3, 3, 3])) }
        #expect(throws: RuntimeError.self) { try conv(x, Self.tensor([6, 4, 3])) }
        #expect(throws: RuntimeError.self) { try conv(x, w, bias: [1, 2]) }
        #expect(throws: RuntimeError.self) { try conv(x, Self.tensor([6, 2, 3, 3]), groups: 3) }
        #expect(throws: RuntimeError.self) { try conv(x, Self.tensor([5, 2, 3, 3]), groups: 2) }
        #expect(throws: RuntimeError.self) { try conv(x, w, groups: 0) }
        #expect(throws: RuntimeError.self) { try conv(x, w, stride: (0, 1)) }
        #expect(throws: RuntimeError.self) { try conv(x, w, padding: (-1, 0)) }
        #expect(throws: RuntimeError.self) { try conv(x, w, dilation: (1, 0)) }
        #expect(throws: RuntimeError.self) { try conv(x, Self.tensor([6, 4, 8, 8])) }  // kernel larger than padded input
        #expect(throws: RuntimeError.self) { try conv(x, w, padding: (Int.max, 0)) }
        #expect(throws: RuntimeError.self) { try conv(Self.inconsistent, Self.tensor([1, 2, 1, 1])) }
        #expect(throws: RuntimeError.self) { try conv(Self.tensor([1, 0, 5, 5]), Self.tensor([1, 0, 1, 1])) }
    }

    @Test func conv2dAcceptsEmptyBatch() throws {
        let y = try Kernels.conv2d(
            Self.tensor([0, 4, 5, 5]), weight: Self.tensor([6, 4, 3, 3]), bias: nil,
            stride: (2, 2), padding: (1, 1), dilation: (1, 1), groups: 1)
        #expect(y.shape == [0, 6, 3, 3])
    }

    @Test func linearAndMatmulRejectBadShapes() {
        #expect(throws: RuntimeError.self) { try Kernels.linear(Self.tensor([2, 5]), weight: Self.tensor([3, 4]), bias: nil) }
        #expect(throws: RuntimeError.self) { try Kernels.linear(Self.tensor([2, 4]), weight: Self.tensor([3, 4]), bias: [1]) }
        #expect(throws: RuntimeError.self) { try Kernels.linear(Tensor(shape: [], storage: [1]), weight: Self.tensor([3, 1]), bias: nil) }
        #expect(throws: RuntimeError.self) { try Kernels.linear(Self.tensor([2, 4]), weight: Self.tensor([3, 4, 1]), bias: nil) }
        #expect(throws: RuntimeError.self) {
            try Kernels.matmul(Self.tensor([2, 3]), Self.tensor([4, 5]), transposeA: false, transposeB: false)
        }
        #expect(throws: RuntimeError.self) {
            try Kernels.matmul(Self.tensor([2, 3]), Self.tensor([3, 5]), transposeA: true, transposeB: false)
        }
        #expect(throws: RuntimeError.self) {
            try Kernels.matmul(Self.tensor([2, 3, 1]), Self.tensor([3, 5]), transposeA: false, transposeB: false)
        }
    }

    @Test func linearWithoutInputFeaturesGivesTheBias() throws {
        let y = try Kernels.linear(Self.tensor([2, 0]), weight: Self.tensor([3, 0]), bias: [1, 2, 3])
        #expect(y.shape == [2, 3])
        #expect(y.storage == [1, 2, 3, 1, 2, 3])
    }

    @Test func normalizationRejectsMismatchedCounts() {
        var x = Self.tensor([1, 3, 2, 2])
        let (scale, shift) = Kernels.batchNormScaleShift(
            mean: [0, 0, 0], variance: [1, 1], weight: nil, bias: nil, eps: 1e-5)
        #expect(scale.count == 2)
        #expect(throws: RuntimeError.self) { try Kernels.scaleShiftChannels(&x, scale: scale, shift: shift) }
        var vector = Self.tensor([3])
        #expect(throws: RuntimeError.self) { try Kernels.scaleShiftChannels(&vector, scale: [1], shift: [0]) }
    }

    @Test func poolingRejectsBadArguments() {
        let x = Self.tensor([1, 2, 5, 5])
        func maxPool(_ x: Tensor, kernel: (Int, Int) = (3, 3), stride: (Int, Int) = (2, 2), padding: (Int, Int) = (1, 1),
                     dilation: (Int, Int) = (1, 1)) throws {
            _ = try Kernels.maxPool2d(x, kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: false)
        }
        #expect(throws: RuntimeError.self) { try maxPool(x, padding: (2, 1)) }  // more than half the kernel
        #expect(throws: RuntimeError.self) { try maxPool(x, kernel: (0, 3)) }
        #expect(throws: RuntimeError.self) { try maxPool(x, stride: (1, 0)) }
        #expect(throws: RuntimeError.self) { try maxPool(x, dilation: (0, 1)) }
        #expect(throws: RuntimeError.self) { try maxPool(Self.tensor([1, 1, 2, 2]), kernel: (3, 3), padding: (0, 0)) }
        #expect(throws: RuntimeError.self) { try maxPool(Self.tensor([5, 5])) }
        #expect(throws: RuntimeError.self) { try maxPool(Self.tensor([1, 2, 0, 5])) }
        #expect(throws: RuntimeError.self) {
            try Kernels.avgPool2d(x, kernel: (2, 2), stride: (2, 2), padding: (0, 0), ceilMode: false,
                                  countIncludePad: true, divisorOverride: 0)
        }
        #expect(throws: RuntimeError.self) { try Kernels.adaptiveAvgPool2d(x, outputSize: (-1, 2)) }
        #expect(throws: RuntimeError.self) { try Kernels.adaptiveMaxPool2d(Self.tensor([2, 5]), outputSize: (1, 1)) }
    }

    @Test func poolingAcceptsUnbatchedInput() throws {
        let y = try Kernels.maxPool2d(
            Self.tensor([2, 5, 5]), kernel: (2, 2), stride: (2, 2), padding: (0, 0), dilation: (1, 1), ceilMode: true)
        #expect(y.shape == [2, 3, 3])
    }

    @Test func elementwiseAndShapeKernelsRejectBadShapes() {
        let x = Self.tensor([2, 3, 4, 4])
        #expect(throws: RuntimeError.self) { try Kernels.softmax(x, dim: 4) }
        #expect(throws: RuntimeError.self) { try Kernels.softmax(x, dim: -5) }
        #expect(throws: RuntimeError.self) { try Kernels.add(x, Self.tensor([2, 3, 4, 5])) }
        #expect(throws: RuntimeError.self) { try Kernels.add(x, Self.inconsistent) }
        #expect(throws: RuntimeError.self) { try Kernels.multiplyChannels(x, by: Self.tensor([2, 3])) }
        #expect(throws: RuntimeError.self) { try Kernels.multiplyChannels(x, by: Self.tensor([1, 3, 1, 1])) }
        #expect(throws: RuntimeError.self) { try Kernels.concatenate([], dim: 0) }
        #expect(throws: RuntimeError.self) { try Kernels.concatenate([x, Self.tensor([2, 3, 4, 5])], dim: 1) }
        #expect(throws: RuntimeError.self) { try Kernels.concatenate([x, Self.tensor([2, 3, 4])], dim: 1) }
        #expect(throws: RuntimeError.self) { try Kernels.concatenate([x, x], dim: 4) }
        #expect(throws: RuntimeError.self) { try Kernels.chunk(x, chunks: 0, dim: 1) }
        #expect(throws: RuntimeError.self) { try Kernels.chunk(x, chunks: 2, dim: 7) }
        #expect(throws: RuntimeError.self) { try Kernels.channelShuffle(x, groups: 2) }
        #expect(throws: RuntimeError.self) { try Kernels.channelShuffle(Self.tensor([2, 6]), groups: 2) }
        #expect(throws: RuntimeError.self) { try Kernels.zeroPad2d(x, left: -3, right: -2, top: 0, bottom: 0) }
        #expect(throws: RuntimeError.self) { try Kernels.zeroPad2d(Self.tensor([4]), left: 1, right: 1, top: 1, bottom: 1) }
        #expect(throws: RuntimeError.self) { try Kernels.flatten(x, startDim: 4) }
    }

    @Test func chunkOfAnEmptyDimensionKeepsTheCount() throws {
        let pieces = try Kernels.chunk(Self.tensor([2, 0, 3]), chunks: 3, dim: 1)
        #expect(pieces.map(\.shape) == [[2, 0, 3], [2, 0, 3], [2, 0, 3]])
    }

    @Test func activationsPassNaNThroughAndSaturate() {
        for activation in [Kernels.Activation.relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .tanh, .gelu] {
            var x = Tensor(shape: [1], storage: [.nan])
            Kernels.activate(&x, activation)
            #expect(x.storage[0].isNaN, "\(activation) of NaN")
        }
        let limits: [(Kernels.Activation, [Float])] = [
            (.sigmoid, [1, 0, 0.5]), (.tanh, [1, -1, 0]), (.relu6, [6, 0, 0]), (.hardsigmoid, [1, 0, 0.5]),
        ]
        for (activation, expected) in limits {
            var x = Tensor(shape: [3], storage: [.infinity, -.infinity, 0])
            Kernels.activate(&x, activation)
            #expect(x.storage.array == expected, "\(activation)")
        }
    }

    /// The same model may run from several threads at once: the kernels share no scratch.
    @Test func convolutionIsThreadSafe() async throws {
        let x = Self.tensor([2, 16, 20, 20]), w = Self.tensor([16, 16, 3, 3]), dw = Self.tensor([16, 1, 3, 3])
        let reference = try Kernels.conv2d(x, weight: w, bias: nil, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1)
        let depthwise = try Kernels.conv2d(x, weight: dw, bias: nil, stride: (2, 2), padding: (1, 1), dilation: (1, 1), groups: 16)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let y = try Kernels.conv2d(x, weight: w, bias: nil, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1)
                    let z = try Kernels.conv2d(x, weight: dw, bias: nil, stride: (2, 2), padding: (1, 1), dilation: (1, 1), groups: 16)
                    return y == reference && z == depthwise
                }
            }
            for try await same in group { #expect(same) }
        }
    }
}
