import CKernels

/// Decides which of a plan's activations are held in channel blocks, and where the layout changes.
///
/// A value takes the layout of the step that makes it: a channel-blocked convolution makes blocks;
/// the element-wise steps (activation, add, channel scaling), max pools and shuffled concatenations
/// of whole blocks keep their first input's;
/// the global average pool reads either; a concatenation's buffer takes its first placed part's
/// where it can hold blocks (`blockConcatenations`); every other step reads and makes NCHW. Before a step that reads a value
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

        let blockable = blockConcatenations(steps)
        // The plan compiler lets one buffer's writers share a layout.
        var writers: [Int: ActivationLayout] = [:]
        for step in steps {
            if case .convolutionIntoSlice(let convolution, _, _) = step.operation { writers[step.outputs[0]] = convolution.layout }
        }
        var concatenationLayouts: [Int: ActivationLayout] = [:]
        for step in steps {
            var operation = step.operation
            let inputs: [Int]
            let made: ActivationLayout
            switch step.operation {
            case let .convolution(convolution, residual, residualInPlace, inputScale):
                made = convolution.layout
                inputs = [read(step.inputs[0], in: convolution.inputLayout)] + step.inputs.dropFirst().map { read($0, in: made) }
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
            case .maxPool(let shape, _):
                made = layout(of: step.inputs[0])
                operation = .maxPool(shape, made)
                inputs = step.inputs
            case .place:
                // Convolutions writing into the buffer decide its layout, or else its first part;
                // the other parts are read in it.
                let root = step.outputs[0]
                let first = blockable.contains(root) ? layout(of: step.inputs[0]) : .nchw
                made = concatenationLayouts[root] ?? writers[root] ?? first
                concatenationLayouts[root] = made
                inputs = [read(step.inputs[0], in: made)]
            case .convolutionIntoSlice(let convolution, _, _):
                made = convolution.layout
                concatenationLayouts[step.outputs[0]] = made
                inputs = [read(step.inputs[0], in: convolution.inputLayout)]
            case let .interleaveChannels(partChannels, pieceChannels, pieceShape, _):
                // In blocks when its first part is and every part and piece is whole blocks.
                let block = Int(PK_CHANNEL_BLOCK), part = shapes[step.inputs[0]]
                let wholeBlocks = part[1] % block == 0 && pieceShape[1] % block == 0 && !sameEitherWay(step.inputs[0])
                made = wholeBlocks ? layout(of: step.inputs[0]) : .nchw
                operation = .interleaveChannels(
                    partChannels: partChannels, pieceChannels: pieceChannels, pieceShape: pieceShape, made)
                inputs = step.inputs.map { read($0, in: made) }
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

    /// The concatenation buffers (values) that may be held in channel blocks: built along the channels
    /// of 4-D parts that are each a whole number of blocks (`BlockSlice.isWholeChannelBlocks`), by
    /// `place` steps or channel-blocked convolutions writing into them, and read by no view of a
    /// shorter concatenation (`gather`, `scaleShiftSlice`, which read NCHW). A part is then copied,
    /// or written, as it is.
    static func blockConcatenations(_ steps: [PlanStep]) -> Set<Int> {
        var eligible = Set<Int>(), excluded = Set<Int>()
        for step in steps {
            switch step.operation {
            case let .place(slice, rootShape):
                if slice.isWholeChannelBlocks(of: rootShape) { eligible.insert(step.outputs[0]) } else { excluded.insert(step.outputs[0]) }
            case let .convolutionIntoSlice(convolution, slice, rootShape):
                if convolution.layout == .channelBlocks && slice.isWholeChannelBlocks(of: rootShape) {
                    eligible.insert(step.outputs[0])
                } else {
                    excluded.insert(step.outputs[0])
                }
            case .gather, .scaleShiftSlice:
                excluded.insert(step.inputs[0])
            default:
                break
            }
        }
        return eligible.subtracting(excluded)
    }

    /// Whether a plan should hold activations in channel blocks.
    ///
    /// Yes when the graph has grouped convolutions that can run on them (depthwise ones, and
    /// ResNeXt's and RegNet's groups of 4 to 64 channels): blocks vectorize those across channels.
    /// Otherwise yes when windowed convolutions run on blocks and the activations change layout at
    /// most `mostLayoutChanges` times. ResNets never change: the stem reads the NCHW image and writes
    /// blocks, and the global average pool reads either way; VGG and AlexNet leave once, before the
    /// classifier's adaptive pool; GoogLeNet never: its Inception blocks' concatenations are whole
    /// blocks. On blocks their 3x3s run as Winograd or the dense tile and their 1x1s read the input
    /// in place, each faster than its NCHW kernel. DenseNet's concatenations are read as views
    /// (NCHW), so it would change layout around every layer and keeps NCHW. So do all dense networks
    /// where `pk_conv2d_dense_blocked_preferred` says the NCHW kernels are the faster ones (full-width
    /// AVX-512).
    static func preferred(nodes: [TracedNode], needed: [Int], shapes: [[Int]]) -> Bool {
        var runsBlocked: [Int: (grouped: Bool, windowed: Bool, readsNCHW: Bool)] = [:]
        for index in needed {
            // The reference kernel's geometry, as `PackedConvolution` checks it.
            guard case .convolution(let weights) = nodes[index].operation,
                let geometry = try? ConvolutionShape(
                    inputShape: shapes[nodes[index].inputs[0]], weight: weights.weight, bias: weights.bias,
                    stride: weights.stride, padding: weights.padding, dilation: weights.dilation, groups: weights.groups),
                var kernelShape = try? PackedConvolution.kernelShape(of: geometry),
                pk_conv2d_blocked_supported(&kernelShape) != 0, geometry.inputHeight * geometry.inputWidth > 1
            else { continue }
            let readsNCHW = pk_conv2d_blocked_reads_nchw(&kernelShape) != 0
            runsBlocked[index] = (geometry.groups > 1, geometry.kernelHeight * geometry.kernelWidth > 1 && !readsNCHW, readsNCHW)
        }
        if runsBlocked.values.contains(where: \.grouped) { return true }
        // A stem alone (a ViT's patch projection) is no reason: blocks pay in the layers after it.
        // Stems count as blocked below: they read NCHW and write blocks.
        guard denseNetworksMayUseBlocks, runsBlocked.values.contains(where: \.windowed) else { return false }
        return layoutChanges(
            nodes: nodes, needed: needed, shapes: shapes, runsBlocked: Set(runsBlocked.keys),
            readNCHW: Set(runsBlocked.filter(\.value.readsNCHW).keys)) <= mostLayoutChanges
    }

    /// Whether networks without grouped convolutions may run on blocks on this CPU
    /// (`pk_conv2d_dense_blocked_preferred`).
    static var denseNetworksMayUseBlocks: Bool { pk_conv2d_dense_blocked_preferred() != 0 }

    /// Entering the layout once and leaving it once.
    static let mostLayoutChanges = 2

    /// The values `assign` would copy into the other layout if the convolutions `runsBlocked` ran on
    /// blocks (those in `readNCHW` reading NCHW), counted on the traced graph: batch norms after a
    /// convolution (folded into it), element-wise steps and max pools keep their input's layout,
    /// concatenations of whole blocks their first part's, other steps read NCHW.
    static func layoutChanges(
        nodes: [TracedNode], needed: [Int], shapes: [[Int]], runsBlocked: Set<Int>, readNCHW: Set<Int>
    ) -> Int {
        var producer: [Int: Int] = [:]
        for index in needed { for value in nodes[index].outputs { producer[value] = index } }
        func sameEitherWay(_ value: Int) -> Bool {
            shapes[value].count != 4 || shapes[value][2] * shapes[value][3] == 1
        }
        // As `blockConcatenations` decides on the plan's steps.
        let buffers = ConcatenationBuffers(nodes: nodes, shapes: shapes, needed: needed)
        var blocked = Set<Int>()
        var copied = Set<Int>()
        func read(_ values: [Int], blocks: Bool) {
            for value in values where !sameEitherWay(value) && blocked.contains(value) != blocks { copied.insert(value) }
        }
        for index in needed {
            let node = nodes[index]
            let blocks: Bool
            switch node.operation {
            case .convolution:
                blocks = runsBlocked.contains(index)
                read([node.inputs[0]], blocks: blocks && !readNCHW.contains(index))
            case .batchNorm:
                let afterConvolution = producer[node.inputs[0]].map { index in
                    if case .convolution = nodes[index].operation { return true } else { return false }
                } ?? false
                blocks = afterConvolution && blocked.contains(node.inputs[0])
                read(node.inputs, blocks: blocks)
            case .activation, .multiplyChannels, .maxPool:
                blocks = blocked.contains(node.inputs[0])
                read([node.inputs[0]], blocks: blocks)
            case .add:
                let first = node.inputs[0]
                blocks = blocked.contains(sameEitherWay(first) ? node.inputs[1] : first)
                read(node.inputs, blocks: blocks)
            case .concatenate:
                blocks = buffers.roots.contains(index) && buffers.holdsBlocks(node.outputs[0])
                    && node.inputs.first.map(blocked.contains) == true
                read(node.inputs, blocks: blocks)
            case .globalAveragePool, .input, .constant:
                blocks = false
            default:
                blocks = false
                read(node.inputs, blocks: false)
            }
            if blocks { blocked.formUnion(node.outputs) }
        }
        return copied.count
    }
}
