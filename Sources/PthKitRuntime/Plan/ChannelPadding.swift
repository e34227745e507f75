import CKernels

/// Activations whose channel count is not a whole number of channel blocks, widened with zero
/// channels to the next whole block, so the blocked kernels take them.
///
/// ShuffleNet v2 x1.0 splits 116 and 232 channels into halves of 58 and 116: as they were, those
/// branches ran on NCHW, their 1x1 convolutions half as fast as on blocks (116 -> 116 at 14x14:
/// 89 us against 41 us for the same work on 232 channels at 7x7). ONNX Runtime pads them the same way.
///
/// A padded value holds its channels first and zeros after them. That stays true, and the zeros
/// are never read as data, because a value is padded only when every step that makes it writes
/// zeros there and every step that reads it ignores them:
/// - a convolution makes it with zero weights and bias for the extra output channels, under an
///   activation that keeps zero at zero (no residual);
/// - a convolution reads it with zero weights for the extra input channels; a depthwise one
///   carries the padding through (its input and output are padded together);
/// - a shuffled concatenation (`ShuffledConcatenations`) reads only its parts' channels and writes
///   zeros into its pieces' extra channels.
/// Layout changes copy the zeros along. Every other step reads values as they are, so a value any
/// of them reads, or the plan's output, is never padded.
struct ChannelPadding {
    /// Value -> its channel count once padded.
    private(set) var channels: [Int: Int] = [:]

    /// A fused convolution of the plan: what it reads, makes and applies.
    struct Convolution {
        let node: Int
        let weights: ConvolutionWeights
        let input: Int
        let output: Int
        let activation: Kernels.Activation?
        let hasResidual: Bool
    }

    init(
        convolutions: [Convolution], shuffles: ShuffledConcatenations, shapes: [[Int]], readers: [Int: [Int]],
        outputValue: Int
    ) {
        let block = Int(PK_CHANNEL_BLOCK)
        func wanted(_ value: Int) -> Bool {
            let shape = shapes[value]
            return shape.count == 4 && shape[1] % block != 0 && shape[2] * shape[3] > 1 && value != outputValue
        }
        // Who may read and make a padded value.
        var readsPadding = Set<Int>()  // node indices
        var makes: [Int: Bool] = [:]   // value -> whether its maker writes zeros into padding
        var depthwisePairs: [(Int, Int)] = []
        for convolution in convolutions {
            let weights = convolution.weights
            let inputChannels = shapes[convolution.input][1]
            let depthwise = weights.groups > 1 && weights.groups == inputChannels
                && weights.weight.shape[0] == inputChannels
            guard weights.groups == 1 || depthwise else { continue }
            readsPadding.insert(convolution.node)
            makes[convolution.output] = !convolution.hasResidual && Self.keepsZero(convolution.activation)
            if depthwise { depthwisePairs.append((convolution.input, convolution.output)) }
        }
        for fusion in shuffles.fusions {
            readsPadding.insert(fusion.replaced[0])  // the concatenation reads the parts
            for piece in fusion.pieces { makes[piece] = true }
        }
        var padded = Set(makes.filter { $0.value && wanted($0.key) }.keys)
        // Drop values read by anything else, then values whose depthwise partner was dropped, until
        // nothing changes.
        var changed = true
        while changed {
            changed = false
            for value in padded where !(readers[value] ?? []).allSatisfy(readsPadding.contains) {
                padded.remove(value)
                changed = true
            }
            for (input, output) in depthwisePairs where padded.contains(input) != padded.contains(output) {
                padded.remove(input)
                padded.remove(output)
                changed = true
            }
            // One shuffle copy holds all its parts alike, and all its pieces.
            for fusion in shuffles.fusions {
                for values in [fusion.parts, fusion.pieces] where values.contains(where: padded.contains) {
                    if !values.allSatisfy(padded.contains) {
                        padded.subtract(values)
                        changed = true
                    }
                }
            }
        }
        for value in padded { channels[value] = (shapes[value][1] + block - 1) / block * block }
    }

    /// `shapes` with every padded value's channel count widened.
    func widened(_ shapes: [[Int]]) -> [[Int]] {
        var shapes = shapes
        for (value, count) in channels { shapes[value][1] = count }
        return shapes
    }

    /// Whether `activation(0) == 0`, so zero padding stays zero through it.
    static func keepsZero(_ activation: Kernels.Activation?) -> Bool {
        switch activation {
        case nil, .relu, .relu6, .hardswish, .silu, .tanh, .gelu: return true
        case .sigmoid, .hardsigmoid: return false
        }
    }
}

extension ConvolutionWeights {
    /// These weights for an input of `inputChannels` and an output of `outputChannels`, at least as
    /// many as now: zero weights (and bias, where there is one) for every added channel. A depthwise
    /// convolution (groups == channels) grows its groups with its channels.
    func padded(inputChannels: Int, outputChannels: Int) throws -> ConvolutionWeights {
        let (outputs, perGroup) = (weight.shape[0], weight.shape[1])
        let taps = weight.shape[2] * weight.shape[3]
        let depthwise = groups > 1 && groups == outputs && perGroup == 1
        guard groups == 1 || depthwise, outputChannels >= outputs, inputChannels >= perGroup * groups,
            bias.map({ $0.count == outputs }) ?? true
        else {
            throw RuntimeError.shapeMismatch(
                operation: "conv2d", expected: "\(outputs) channels, padded to \(outputChannels)",
                found: "weight \(weight.shape), groups \(groups)")
        }
        let newPerGroup = depthwise ? 1 : inputChannels
        var values = [Float](repeating: 0, count: outputChannels * newPerGroup * taps)
        weight.storage.withUnsafeBufferPointer { source in
            for output in 0..<outputs {
                for input in 0..<perGroup {
                    for tap in 0..<taps {
                        values[(output * newPerGroup + input) * taps + tap] = source[(output * perGroup + input) * taps + tap]
                    }
                }
            }
        }
        return ConvolutionWeights(
            weight: Tensor(shape: [outputChannels, newPerGroup, weight.shape[2], weight.shape[3]], storage: values),
            bias: bias.map { $0.zeroPadded(to: outputChannels) }, stride: stride, padding: padding,
            dilation: dilation, groups: depthwise ? outputChannels : 1)
    }
}

extension Array where Element == Float {
    /// The values, then zeros up to `count`.
    func zeroPadded(to count: Int) -> [Float] { self + [Float](repeating: 0, count: Swift.max(count - self.count, 0)) }
}
