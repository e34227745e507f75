import CKernels

/// Decides which of a plan's activations are held in channel blocks, and where the layout changes.
///
/// A value takes the layout of the step that makes it: a channel-blocked convolution makes blocks;
/// the element-wise steps (activation, add, channel scaling) keep their first input's; the global
/// average pool reads either; every other step reads and makes NCHW. Before a step that reads a value
/// held the other way, one `changeLayout` step makes a copy, which every later such reader shares.
/// [N, C, 1, 1] values (and those not 4-D) are laid out the same either way and never change. The
/// plan's input and output are NCHW.
enum ChannelBlockLayout {
    /// `steps` with layouts assigned and layout changes inserted. New values get the next numbers:
    /// their shapes are appended to `shapes`; `outputValue` moves to an NCHW copy if it was blocked.
    static func assign(_ steps: [PlanStep], shapes: inout [[Int]], outputValue: inout Int) -> [PlanStep] {
        var blocked = Set<Int>()
        var copies: [Int: Int] = [:]
        var result: [PlanStep] = []
        result.reserveCapacity(steps.count)

        func sameEitherWay(_ value: Int) -> Bool {
            shapes[value].count != 4 || shapes[value][2] * shapes[value][3] == 1
        }
        func layout(of value: Int) -> ActivationLayout {
            blocked.contains(value) ? .channelBlocks : .nchw
        }
        // The value to read for `value` in `wanted`: itself, or its copy in that layout.
        func read(_ value: Int, in wanted: ActivationLayout) -> Int {
            guard !sameEitherWay(value), layout(of: value) != wanted else { return value }
            if let copy = copies[value] { return copy }
            let copy = shapes.count
            shapes.append(shapes[value])
            result.append(PlanStep(operation: .changeLayout(from: layout(of: value)), inputs: [value], outputs: [copy], releases: []))
            if wanted == .channelBlocks { blocked.insert(copy) }
            copies[value] = copy
            return copy
        }

        for step in steps {
            var operation = step.operation
            let inputs: [Int]
            let made: ActivationLayout
            switch step.operation {
            case let .convolution(convolution, residual, residualInPlace, inputScale):
                made = convolution.layout
                inputs = step.inputs.map { read($0, in: made) }
                // The step reads its residual by value number: the copy's, where there is one.
                operation = .convolution(
                    convolution, residual: residual.map { read($0, in: made) }, residualInPlace: residualInPlace,
                    inputScale: inputScale.map { read($0, in: made) })
            case .activation:
                made = layout(of: step.inputs[0])
                inputs = step.inputs
            case .add:
                let first = step.inputs[0]
                made = sameEitherWay(first) ? layout(of: step.inputs[1]) : layout(of: first)
                inputs = step.inputs.map { read($0, in: made) }
            case .multiplyChannels(_, let inPlace):
                made = layout(of: step.inputs[0])
                operation = .multiplyChannels(made, inPlace: inPlace)
                inputs = step.inputs.map { read($0, in: made) }
            case .globalAveragePool:
                operation = .globalAveragePool(layout(of: step.inputs[0]))
                made = .nchw
                inputs = step.inputs
            default:
                made = .nchw
                inputs = step.inputs.map { read($0, in: .nchw) }
            }
            result.append(PlanStep(operation: operation, inputs: inputs, outputs: step.outputs, releases: step.releases))
            if made == .channelBlocks {
                for value in step.outputs where !sameEitherWay(value) { blocked.insert(value) }
            }
        }
        outputValue = read(outputValue, in: .nchw)
        return result
    }

    /// Whether a plan should hold activations in channel blocks: when the graph has grouped
    /// convolutions that can run on them (depthwise ones, and ResNeXt's and RegNet's groups of 4 to
    /// 64 channels), the layout that vectorizes those across channels. Other networks (ResNets, VGG,
    /// GoogLeNet) keep NCHW, where their 3x3 convolutions run as Winograd or implicit GEMM, and blocks
    /// would only add layout changes around them.
    static func preferred(nodes: [TracedNode], needed: [Int], shapes: [[Int]]) -> Bool {
        needed.contains { index in
            // The reference kernel's geometry, as `PackedConvolution` checks it.
            guard case .convolution(let weights) = nodes[index].operation,
                let geometry = try? ConvolutionShape(
                    inputShape: shapes[nodes[index].inputs[0]], weight: weights.weight, bias: weights.bias,
                    stride: weights.stride, padding: weights.padding, dilation: weights.dilation, groups: weights.groups),
                var kernelShape = try? PackedConvolution.kernelShape(of: geometry)
            else { return false }
            return geometry.groups > 1 && pk_conv2d_blocked_supported(&kernelShape) != 0
                && geometry.inputHeight * geometry.inputWidth > 1
        }
    }
}
