import PthKit
import Testing

/// The convolution's fast paths (vectorized depthwise rows, an activation applied by the kernel)
/// against plain definitions. The PyTorch oracle fixtures are small images, mostly border; these use
/// rows wide enough for the eight-column steps and their tails.
@Suite("Convolution fast paths")
struct ConvolutionPathTests {
    /// Deterministic values in [-1, 1) without a generator dependency.
    static func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float((($0 &+ seed) &* 7919 &+ seed &* 104_729) % 2003) / 1001.5 - 1 }
    }

    static func tensor(_ shape: [Int], seed: Int) -> Tensor {
        Tensor(shape: shape, storage: values(shape.reduce(1, *), seed: seed))
    }

    /// conv2d by its definition, summed in Double.
    static func reference(
        _ x: Tensor, _ w: Tensor, bias: [Float], stride: Int, padding: Int, dilation: Int, groups: Int
    ) -> [Double] {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oc, icg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let oh = (h + 2 * padding - dilation * (kh - 1) - 1) / stride + 1
        let ow = (wd + 2 * padding - dilation * (kw - 1) - 1) / stride + 1
        var out = [Double](repeating: 0, count: n * oc * oh * ow)
        for b in 0..<n {
            for o in 0..<oc {
                let group = o / (oc / groups)
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum = Double(bias[o])
                        for i in 0..<icg {
                            let ic = group * icg + i
                            for ky in 0..<kh {
                                for kx in 0..<kw {
                                    let iy = oy * stride - padding + ky * dilation
                                    let ix = ox * stride - padding + kx * dilation
                                    guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                    sum += Double(x.storage[((b * c + ic) * h + iy) * wd + ix])
                                        * Double(w.storage[((o * icg + i) * kh + ky) * kw + kx])
                                }
                            }
                        }
                        out[((b * oc + o) * oh + oy) * ow + ox] = sum
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: [
        (3, 1, 1, 1), (3, 2, 1, 1), (5, 1, 2, 1), (5, 2, 2, 1), (3, 1, 2, 2), (3, 2, 0, 1), (7, 1, 3, 1),
    ])
    func depthwiseMatchesTheDefinition(kernel: Int, stride: Int, padding: Int, dilation: Int) throws {
        for width in [8, 9, 17, 30, 57] {
            let x = Self.tensor([2, 3, 11, width], seed: width)
            let w = Self.tensor([3, 1, kernel, kernel], seed: kernel)
            let bias: [Float] = [0.5, -0.25, 0]
            let y = try Kernels.conv2d(
                x, weight: w, bias: bias, stride: (stride, stride), padding: (padding, padding),
                dilation: (dilation, dilation), groups: 3)
            let expected = Self.reference(x, w, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: 3)
            #expect(y.count == expected.count)
            let worst = zip(y.storage, expected).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst < 1e-5, "width \(width): max difference \(worst)")
        }
    }

    /// Applying the activation inside the kernel must round exactly as a separate pass does, on
    /// each path: depthwise, 1x1 sgemm and im2col + sgemm.
    @Test func fusedActivationEqualsASeparatePass() throws {
        let x = Self.tensor([2, 8, 13, 21], seed: 1)
        let layers: [(weight: Tensor, stride: Int, padding: Int, groups: Int)] = [
            (Self.tensor([8, 1, 3, 3], seed: 2), 2, 1, 8),
            (Self.tensor([6, 8, 1, 1], seed: 3), 1, 0, 1),
            (Self.tensor([6, 4, 3, 3], seed: 4), 1, 1, 2),
        ]
        let activations: [Kernels.Activation] = [.relu, .relu6, .hardswish, .hardsigmoid, .silu, .sigmoid, .tanh, .gelu]
        for layer in layers {
            let bias = Self.values(layer.weight.shape[0], seed: 5)
            func conv(_ activation: Kernels.Activation?) throws -> Tensor {
                try Kernels.conv2d(
                    x, weight: layer.weight, bias: bias, stride: (layer.stride, layer.stride),
                    padding: (layer.padding, layer.padding), dilation: (1, 1), groups: layer.groups,
                    activation: activation)
            }
            let plain = try conv(nil)
            for activation in activations {
                var separate = plain
                Kernels.activate(&separate, activation)
                let fused = try conv(activation)
                #expect(fused.storage.map(\.bitPattern) == separate.storage.map(\.bitPattern), "\(activation)")
                #expect(Kernels.activated(plain, activation) == separate, "\(activation) out of place")
            }
        }
    }
}
