/// Turns a traced forward pass into an `ExecutionPlan`.
///
/// Passes, in order:
/// 1. keep only the nodes the output needs (a truncated graph for `headInput`, unused branches);
/// 2. absorb into each convolution the chain its output alone feeds: batch norm (folded into the
///    weights), then a residual add, then an activation the kernels apply (`PackedConvolution`).
///    The fused step runs where the chain's last node ran, so a residual computed after the
///    convolution (torchvision's `downsample`) is ready;
/// 3. copy ShuffleNet's concatenation, channel shuffle and chunk as one (`ShuffledConcatenations`);
///    keep other concatenations in one buffer (`ConcatenationBuffers`): inputs placed into their slices as
///    they are computed, shorter concatenations read out of the longer one's buffer, by the batch norm
///    (and activation) that reads them where there is one;
/// 4. pack every convolution's weights once, and those of linear layers over several rows (with the
///    activation after them);
/// 5. in networks with depthwise convolutions, hold activations in channel blocks where the kernels
///    take them (`ChannelBlockLayout`);
/// 6. fold squeeze-and-excitation's channel scaling into the pointwise convolution that alone reads
///    its result (`ChannelScaleFusion`);
/// 7. mark each value's last use, so its buffer is recycled, or taken over by an in-place step.
package enum PlanCompiler {
    package static func compile(
        nodes: [TracedNode], shapes: [[Int]], inputValue: Int, outputValue: Int
    ) throws -> ExecutionPlan {
        let needed = neededNodes(nodes, outputValue: outputValue)
        var consumers = [Int](repeating: 0, count: shapes.count)
        var consumerNode = [Int](repeating: -1, count: shapes.count)
        var readers: [Int: [Int]] = [:]
        for index in needed {
            for value in nodes[index].inputs {
                consumers[value] += 1
                consumerNode[value] = index
                readers[value, default: []].append(index)
            }
        }
        var absorbed = Set<Int>()
        // The single node reading `value`, when exactly one does, the value is not the output, and
        // no other convolution took that node in already (both branches of a residual add).
        func soleConsumer(_ value: Int) -> Int? {
            guard consumers[value] == 1, value != outputValue, !absorbed.contains(consumerNode[value]) else { return nil }
            return consumerNode[value]
        }
        // Takes in the activation that alone reads `value` when the C kernels' epilogue applies it:
        // moves `value` and `last` past it and returns its kind.
        func absorbFusableActivation(after value: inout Int, last: inout Int) -> Kernels.Activation? {
            guard let next = soleConsumer(value), case .activation(let kind) = nodes[next].operation,
                Kernels.kernelActivation(kind) != nil
            else { return nil }
            (value, last) = (nodes[next].outputs[0], next)
            absorbed.insert(next)
            return kind
        }

        let preferChannelBlocks = ChannelBlockLayout.preferred(nodes: nodes, needed: needed, shapes: shapes)
        // Each convolution with the batch norm, residual add and activation after it that it absorbs.
        struct Chain {
            let index: Int, last: Int, input: Int, value: Int
            let weights: ConvolutionWeights
            let batchNorm: (scale: [Float], shift: [Float])?
            let residual: Int?
            let activation: Kernels.Activation?
        }
        var chains: [Chain] = []
        for index in needed where !absorbed.contains(index) {
            guard case .convolution(let weights) = nodes[index].operation else { continue }
            var value = nodes[index].outputs[0]
            var last = index
            var batchNorm: (scale: [Float], shift: [Float])?
            var residual: Int?
            if let next = soleConsumer(value), case let .batchNorm(scale, shift) = nodes[next].operation {
                batchNorm = (scale, shift)
                (value, last) = (nodes[next].outputs[0], next)
                absorbed.insert(next)
            }
            if let next = soleConsumer(value), case .add = nodes[next].operation {
                let other = nodes[next].inputs[0] == value ? nodes[next].inputs[1] : nodes[next].inputs[0]
                // x + x cannot be fused: the convolution's output is not there to add until written.
                if other != value {
                    residual = other
                    (value, last) = (nodes[next].outputs[0], next)
                    absorbed.insert(next)
                }
            }
            let activation = absorbFusableActivation(after: &value, last: &last)
            absorbed.insert(index)
            chains.append(Chain(
                index: index, last: last, input: nodes[index].inputs[0], value: value, weights: weights,
                batchNorm: batchNorm, residual: residual, activation: activation))
        }

        // Shuffled concatenations are built by one copy of their own, never in a concatenation buffer.
        let shuffles = ShuffledConcatenations(nodes: nodes, shapes: shapes, needed: needed, readers: readers, outputValue: outputValue)
        let shuffledAt = Dictionary(uniqueKeysWithValues: shuffles.fusions.map { ($0.runsAt, $0) })
        absorbed.formUnion(shuffles.replacedNodes)
        // Channel counts off the block width, widened where only convolutions and shuffles touch them.
        let padding = preferChannelBlocks
            ? ChannelPadding(
                convolutions: chains.map { chain in
                    ChannelPadding.Convolution(
                        node: chain.index, weights: chain.weights, input: chain.input, output: chain.value,
                        activation: chain.activation, hasResidual: chain.residual != nil)
                },
                shuffles: shuffles, shapes: shapes, readers: readers, outputValue: outputValue)
            : nil
        let logicalShapes = shapes
        var shapes = padding?.widened(shapes) ?? shapes

        var fusedAt: [Int: PlanStep.Operation] = [:]  // node index where a fused convolution runs
        var fusedInputs: [Int: (inputs: [Int], output: Int)] = [:]
        for chain in chains {
            var (weights, batchNorm) = (chain.weights, chain.batchNorm)
            if padding?.channels[chain.input] != nil || padding?.channels[chain.value] != nil {
                let (inputs, outputs) = (shapes[chain.input][1], shapes[chain.value][1])
                // The batch norm must fit the weights as traced before it is widened with them;
                // `PackedConvolution` then folds it as for any convolution (zero shift for added channels).
                if let (scale, shift) = batchNorm {
                    guard scale.count == weights.weight.shape[0], shift.count == scale.count else {
                        throw RuntimeError.shapeMismatch(
                            operation: "conv2d + batch_norm", expected: "\(weights.weight.shape[0]) channels",
                            found: "\(scale.count) batch norm channels")
                    }
                    batchNorm = (scale.zeroPadded(to: outputs), shift.zeroPadded(to: outputs))
                }
                weights = try weights.padded(inputChannels: inputs, outputChannels: outputs)
            }
            let packed = try PackedConvolution(
                weights, inputShape: shapes[chain.input], batchNorm: batchNorm, activation: chain.activation,
                preferChannelBlocks: preferChannelBlocks)
            // The compiled forward pass reads only the packed copy from now on.
            chain.weights.weight.storage.releaseBorrowedPagesAfterCopy()
            guard packed.outputShape == shapes[chain.value] else {
                throw RuntimeError.shapeMismatch(
                    operation: "compiled plan", expected: "convolution output \(shapes[chain.value])",
                    found: "\(packed.outputShape)")
            }
            fusedAt[chain.last] = .convolution(packed, residual: chain.residual, residualInPlace: false)
            fusedInputs[chain.last] = (chain.residual.map { [chain.input, $0] } ?? [chain.input], chain.value)
        }

        // Linear layers: weights packed once, the activation after them absorbed.
        for index in needed where !absorbed.contains(index) {
            guard case let .linear(weight, bias) = nodes[index].operation, let input = nodes[index].inputs.first else { continue }
            var (value, last) = (nodes[index].outputs[0], index)
            let activation = absorbFusableActivation(after: &value, last: &last)
            // Packing lets the weight's file pages go run by run, as it goes.
            let packed = try PackedLinear(weight: weight, bias: bias, inputShape: shapes[input], activation: activation)
            guard packed.outputShape == shapes[value] else {
                throw RuntimeError.shapeMismatch(
                    operation: "compiled plan", expected: "linear output \(shapes[value])", found: "\(packed.outputShape)")
            }
            absorbed.insert(index)
            fusedAt[last] = .packedLinear(packed)
            fusedInputs[last] = ([input], value)
        }

        let concatenations = ConcatenationBuffers(
            nodes: nodes, shapes: shapes, needed: needed.filter { !shuffles.replacedNodes.contains($0) })
        for (index, view) in concatenations.views {
            let viewValue = nodes[index].outputs[0]
            guard view.axis == 1, let next = soleConsumer(viewValue), case let .batchNorm(scale, shift) = nodes[next].operation,
                scale.count == view.shape[1]
            else { continue }
            var (value, last) = (nodes[next].outputs[0], next)
            var activation: Kernels.Activation?
            if let after = soleConsumer(value), case .activation(let kind) = nodes[after].operation {
                activation = kind
                (value, last) = (nodes[after].outputs[0], after)
                absorbed.insert(after)
            }
            absorbed.formUnion([index, next])
            fusedAt[last] = .scaleShiftSlice(view.slice, shape: view.shape, scale: scale, shift: shift, activation: activation)
            fusedInputs[last] = ([view.root], value)
        }
        // A convolution whose output is read only as part of one concatenation writes it there itself:
        // an NCHW one into any buffer, a channel-blocked one into a buffer that can hold blocks. One
        // buffer's writers share a layout: where both would, the blocked ones write (the plan prefers
        // blocks) and the NCHW ones' outputs are placed.
        var candidates: [(value: Int, placement: ConcatenationBuffers.Placement, layout: ActivationLayout)] = []
        for (last, (_, value)) in fusedInputs {
            guard case .convolution(let convolution, nil, _, nil) = fusedAt[last], value != outputValue,
                let placements = concatenations.placements[value], placements.count == 1, let placement = placements.first,
                convolution.layout == .nchw || concatenations.holdsBlocks(placement.root),
                placement.slice.blocks == convolution.outputShape[0],
                placement.slice.length * placement.slice.blocks == convolution.outputShape.reduce(1, *),
                needed.allSatisfy({ index in
                    !nodes[index].inputs.contains(value) || concatenations.views[index]?.root == placement.root
                        || (concatenations.roots.contains(index) && nodes[index].outputs[0] == placement.root)
                })
            else { continue }
            candidates.append((value, placement, convolution.layout))
        }
        let blockedBuffers = Set(candidates.filter { $0.layout == .channelBlocks }.map(\.placement.root))
        var writtenInPlace: [Int: ConcatenationBuffers.Placement] = [:]
        for candidate in candidates where candidate.layout == .channelBlocks || !blockedBuffers.contains(candidate.placement.root) {
            writtenInPlace[candidate.value] = candidate.placement
        }
        // Copies of each value into the concatenation buffers it is part of, once it is computed.
        func placements(of values: [Int]) -> [PlanStep] {
            values.filter { writtenInPlace[$0] == nil }.flatMap { value in
                (concatenations.placements[value] ?? []).map { placement in
                    PlanStep(
                        operation: .place(placement.slice, rootShape: placement.rootShape), inputs: [value],
                        outputs: [placement.root], releases: [])
                }
            }
        }

        var steps: [PlanStep] = []
        for index in needed {
            if let fusion = shuffledAt[index] {
                let channels = (part: logicalShapes[fusion.parts[0]][1], piece: logicalShapes[fusion.pieces[0]][1])
                steps.append(PlanStep(
                    operation: .interleaveChannels(
                        partChannels: channels.part, pieceChannels: channels.piece, pieceShape: shapes[fusion.pieces[0]], .nchw),
                    inputs: fusion.parts, outputs: fusion.pieces, releases: []))
                steps += placements(of: fusion.pieces)
                continue
            }
            if let operation = fusedAt[index], let (inputs, output) = fusedInputs[index] {
                if case .convolution(let convolution, _, _, _) = operation, let placement = writtenInPlace[output] {
                    steps.append(PlanStep(
                        operation: .convolutionIntoSlice(convolution, placement.slice, rootShape: placement.rootShape),
                        inputs: inputs, outputs: [placement.root], releases: []))
                    continue
                }
                steps.append(PlanStep(operation: operation, inputs: inputs, outputs: [output], releases: []))
                steps += placements(of: [output])
                continue
            }
            guard !absorbed.contains(index) else { continue }
            let node = nodes[index]
            let operation: PlanStep.Operation
            switch node.operation {
            case .input:
                steps += placements(of: node.outputs)
                continue
            case .concatenate where concatenations.roots.contains(index):
                // Its buffer was filled by the placements of its inputs.
                steps += placements(of: node.outputs)
                continue
            case .concatenate(let dim):
                if let view = concatenations.views[index] {
                    operation = .gather(view.slice, shape: view.shape)
                    steps.append(PlanStep(operation: operation, inputs: [view.root], outputs: node.outputs, releases: []))
                    steps += placements(of: node.outputs)
                    continue
                }
                operation = .reference(name: "cat") { [try Kernels.concatenate($0, dim: dim)] }
            case .constant(let tensor): operation = .constant(tensor)
            case .convolution: continue  // every needed convolution was fused above
            case let .batchNorm(scale, shift):
                operation = .reference(name: "batch_norm") { inputs in
                    var output = inputs[0]
                    try Kernels.scaleShiftChannels(&output, scale: scale, shift: shift)
                    return [output]
                }
            case .linear: continue  // every needed linear layer was packed above
            case .activation(let kind): operation = .activation(kind, inPlace: false)
            case .globalAveragePool: operation = .globalAveragePool(.nchw)
            case .maxPool(let shape): operation = .maxPool(shape, .nchw)
            case .multiplyChannels: operation = .multiplyChannels(.nchw, inPlace: false)
            case .add: operation = .add(inPlace: false)
            case .channelShuffle(let groups):
                operation = .reference(name: "channel_shuffle") { [try Kernels.channelShuffle($0[0], groups: groups)] }
            case let .chunk(chunks, dim):
                operation = .reference(name: "chunk") { try Kernels.chunk($0[0], chunks: chunks, dim: dim) }
            case let .reference(name, run): operation = .reference(name: name, run: run)
            }
            steps.append(PlanStep(operation: operation, inputs: node.inputs, outputs: node.outputs, releases: []))
            steps += placements(of: node.outputs)
        }
        var planOutput = outputValue
        let laidOut = ChannelBlockLayout.assign(steps, shapes: &shapes, outputValue: &planOutput)
        let fused = ChannelScaleFusion.fuse(laidOut, outputValue: planOutput)
        return ExecutionPlan(
            inputShape: shapes[inputValue], outputShape: shapes[planOutput],
            steps: scheduleReleases(fused, inputValue: inputValue, outputValue: planOutput),
            valueCount: shapes.count, inputValue: inputValue, outputValue: planOutput)
    }

    /// Indices of the nodes the output depends on, in trace order.
    private static func neededNodes(_ nodes: [TracedNode], outputValue: Int) -> [Int] {
        var wanted = Set([outputValue])
        var kept: [Int] = []
        for index in nodes.indices.reversed() where nodes[index].outputs.contains(where: wanted.contains) {
            kept.append(index)
            wanted.formUnion(nodes[index].inputs)
        }
        return kept.reversed()
    }

    /// Adds to each step the values it reads for the last time, and lets a step that can write over
    /// such an input (an activation, an add, a convolution's residual) do so. The plan's input and
    /// output are never released: the caller owns them.
    private static func scheduleReleases(_ steps: [PlanStep], inputValue: Int, outputValue: Int) -> [PlanStep] {
        var lastUse: [Int: Int] = [:]
        for (index, step) in steps.enumerated() {
            for value in step.inputs { lastUse[value] = index }
        }
        return steps.enumerated().map { index, step in
            let ending = Array(Set(step.inputs.filter { lastUse[$0] == index && $0 != inputValue && $0 != outputValue }))
            let endsHere = { (value: Int) in ending.contains(value) }
            var operation = step.operation
            switch step.operation {
            case let .convolution(convolution, residual?, _, inputScale)
            where endsHere(residual) && residual != step.inputs[0] && residual != inputScale:
                operation = .convolution(convolution, residual: residual, residualInPlace: true, inputScale: inputScale)
            case .activation(let kind, _) where endsHere(step.inputs[0]):
                operation = .activation(kind, inPlace: true)
            case .add where endsHere(step.inputs[0]) && step.inputs[0] != step.inputs[1]:
                operation = .add(inPlace: true)
            case .multiplyChannels(let layout, _) where endsHere(step.inputs[0]) && step.inputs[0] != step.inputs[1]:
                operation = .multiplyChannels(layout, inPlace: true)
            default: break
            }
            return PlanStep(operation: operation, inputs: step.inputs, outputs: step.outputs, releases: ending)
        }
    }
}
