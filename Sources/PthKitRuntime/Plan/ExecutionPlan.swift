import CKernels
import Foundation
import PthKitSupport

/// A model compiled for one input shape: batch norms folded into convolutions, bias, residual add
/// and activation fused into each convolution's epilogue, weights packed once, and buffers recycled
/// from run to run. Built by `Module.compiled(for:)`; `run` gives the forward pass's output.
///
/// A plan is immutable once built, and every run takes its own buffers, so one plan may run on
/// several threads at once. It holds the weights it was compiled with: loading new parameters into
/// the model makes the model compile a new plan on its next call, never changes this one.
public final class ExecutionPlan: @unchecked Sendable {
    public let inputShape: [Int]
    public let outputShape: [Int]
    let steps: [PlanStep]
    let valueCount: Int
    let inputValue: Int
    let outputValue: Int
    /// When set, the plan runs its batch one image at a time through this plan for one image
    /// (`BatchSplitting`), and `steps` is empty.
    let imagePlan: ExecutionPlan?
    private let lock = NSLock()
    private var idleWorkspaces: [PlanWorkspace] = []
    /// The hash check the model's weights were still waiting on when this plan was compiled
    /// (`WeightsGate`): every output waits for it. Set before the plan is shared, then only read.
    package var weightsCheck: (@Sendable () throws -> Void)?

    init(inputShape: [Int], outputShape: [Int], steps: [PlanStep], valueCount: Int, inputValue: Int, outputValue: Int) {
        self.inputShape = inputShape
        self.outputShape = outputShape
        self.steps = steps
        self.valueCount = valueCount
        self.inputValue = inputValue
        self.outputValue = outputValue
        imagePlan = nil
    }

    /// A plan for a batch of `batch` images that runs `imagePlan`, compiled for one, on each image,
    /// images side by side on the compute threads (`BatchSplitting.run`).
    package init(batch: Int, imagePlan: ExecutionPlan) {
        inputShape = [batch] + imagePlan.inputShape.dropFirst()
        outputShape = [batch] + imagePlan.outputShape.dropFirst()
        steps = []
        valueCount = 0
        inputValue = 0
        outputValue = 0
        self.imagePlan = imagePlan
    }

    /// How many of the steps run a packed convolution (with whatever it absorbed).
    public var convolutionCount: Int {
        if let imagePlan { return imagePlan.convolutionCount }
        return steps.reduce(0) { count, step in
            switch step.operation {
            case .convolution, .convolutionIntoSlice: return count + 1
            default: return count
            }
        }
    }

    /// Buffers kept between runs by the idle workspaces: bounded by what one run asks for.
    var spareBufferCount: Int {
        if let imagePlan { return imagePlan.spareBufferCount }
        return lock.withLock { idleWorkspaces.reduce(0) { $0 + $1.spareBufferCount } }
    }

    /// The steps in order, one line each: what a person debugging a plan wants to read.
    public var summary: [String] {
        guard let imagePlan else { return steps.map(\.description) }
        return ["image by image, \(inputShape[0]) images, each:"] + imagePlan.summary
    }

    public func run(_ input: Tensor) throws -> Tensor {
        try run(input, stepTimed: nil)
    }

    /// Each step's median time over `runs` runs of `input`, in plan order, with the step's summary
    /// line: where a forward pass spends its time. A plan that runs its batch image by image is
    /// timed on its first image through the plan for one.
    public func stepTimes(_ input: Tensor, runs: Int) throws -> [(step: String, milliseconds: Double)] {
        if let imagePlan {
            guard input.shape == inputShape else {
                throw RuntimeError.shapeMismatch(
                    operation: "compiled plan", expected: "input of shape \(inputShape)", found: "shape \(input.shape)")
            }
            let firstImage = input.storage.array.prefix(imagePlan.inputShape.reduce(1, *))
            return try imagePlan.stepTimes(Tensor(shape: imagePlan.inputShape, storage: Array(firstImage)), runs: runs)
        }
        var samples = Array(repeating: [UInt64](), count: steps.count)
        for _ in 0..<max(runs, 1) {
            _ = try run(input) { index, nanoseconds in samples[index].append(nanoseconds) }
        }
        return zip(steps, samples).map { step, times in
            (step.description, Double(times.sorted()[times.count / 2]) / 1e6)
        }
    }

    /// The forward pass; `stepTimed`, when given, hears each step's index and nanoseconds.
    private func run(_ input: Tensor, stepTimed: ((Int, UInt64) -> Void)?) throws -> Tensor {
        guard input.shape == inputShape else {
            throw RuntimeError.shapeMismatch(
                operation: "compiled plan", expected: "input of shape \(inputShape)", found: "shape \(input.shape)")
        }
        try Kernels.requireConsistent(input, "compiled plan")
        if let imagePlan {
            let output = try BatchSplitting.run(input, imageByImage: imagePlan, outputShape: outputShape)
            try weightsCheck?()
            return output
        }
        let workspace = lock.withLock { idleWorkspaces.popLast() } ?? PlanWorkspace(valueCount: valueCount)
        defer {
            workspace.clear()
            lock.withLock { idleWorkspaces.append(workspace) }
        }
        var input = input
        input.tracedValue = -1
        workspace.values[inputValue] = input
        try PlanWorkspace.$running.withValue(workspace) {
            if let stepTimed {
                for (index, step) in steps.enumerated() {
                    let start = DispatchTime.now().uptimeNanoseconds
                    try step.run(in: workspace)
                    stepTimed(index, DispatchTime.now().uptimeNanoseconds - start)
                }
            } else {
                for step in steps { try step.run(in: workspace) }
            }
        }
        guard let output = workspace.values[outputValue] else {
            throw RuntimeError.invalidArgument(operation: "compiled plan", reason: "produced no output")
        }
        workspace.values[outputValue] = nil
        try weightsCheck?()
        return output
    }
}

/// The values of one run, and the buffers of finished values kept for the next ones of the same size.
///
/// Only as many buffers of a size are kept as a run asked for: values made by reference kernels
/// release buffers too, and keeping those beyond what the next run will reuse would grow the
/// workspace run after run.
///
/// Unchecked Sendable: a plan hands each workspace to one run at a time, and within the run only the
/// thread stepping through the plan touches it (`running` is task-local and no kernel starts tasks).
final class PlanWorkspace: @unchecked Sendable {
    /// The workspace of the run on this task, if one is running: kernels take their outputs' buffers
    /// from it (`Kernels.uninitializedBuffer`). Task-local, so only the thread running the plan's
    /// steps uses it; the kernels' worker threads never allocate results.
    @TaskLocal static var running: PlanWorkspace?

    var values: [Tensor?]
    private var spare: [Int: [[Float]]] = [:]
    /// Buffers of each size asked for during the current run.
    private var demand: [Int: Int] = [:]

    init(valueCount: Int) {
        values = Array(repeating: nil, count: valueCount)
    }

    /// A buffer of `count` values whose contents the caller overwrites entirely.
    func buffer(count: Int) -> [Float] {
        demand[count, default: 0] += 1
        if let reused = spare[count]?.popLast() { return reused }
        return [Float](emptySafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Ends `value`'s life, keeping its storage for a later value of the same size.
    func release(_ value: Int) {
        guard let tensor = values[value] else { return }
        values[value] = nil
        // A borrowed storage (a weight read in place from its file) is not a buffer to reuse.
        if let buffer = tensor.storage.ownedArray { spare[tensor.count, default: []].append(buffer) }
    }

    /// Takes `value`'s storage over for an in-place result (it is its last use).
    func take(_ value: Int) -> [Float]? {
        defer { values[value] = nil }
        return values[value]?.storage.array
    }

    var spareBufferCount: Int { spare.values.reduce(0) { $0 + $1.count } }

    /// Ends a run: drops its values, and every spare buffer beyond the run's demand for its size.
    func clear() {
        for index in values.indices { values[index] = nil }
        spare = spare.compactMapValues { buffers in
            guard let wanted = demand[buffers.first?.count ?? -1], wanted > 0 else { return nil }
            return Array(buffers.prefix(wanted))
        }
        demand.removeAll(keepingCapacity: true)
    }
}

/// One step of a plan: an operation, the values it reads and writes, and the values whose last use
/// it is.
struct PlanStep: CustomStringConvertible {
    enum Operation {
        case constant(Tensor)
        /// A packed convolution; `residual` is added before the activation. With `residualInPlace`
        /// the residual ends here and its storage becomes the output's. With `inputScale` (a
        /// [N, C, 1, 1] value), the input is taken as multiplied by it per channel (`ChannelScaleFusion`).
        case convolution(PackedConvolution, residual: Int?, residualInPlace: Bool, inputScale: Int? = nil)
        case activation(Kernels.Activation, inPlace: Bool)
        case add(inPlace: Bool)
        /// A linear layer on packed weights, its activation applied as it stores.
        case packedLinear(PackedLinear)
        case reference(name: String, run: @Sendable ([Tensor]) throws -> [Tensor])
        /// Copies the input into `slice` of the output, a concatenation's buffer of `rootShape`,
        /// allocating the buffer when this is the first of its inputs to arrive.
        case place(BlockSlice, rootShape: [Int])
        /// A packed convolution (no residual) writing straight into `slice` of the output, a
        /// concatenation's buffer of `rootShape`: `place` without the copy.
        case convolutionIntoSlice(PackedConvolution, BlockSlice, rootShape: [Int])
        /// The leading `slice` of the input buffer as a tensor of `shape` (a shorter concatenation).
        case gather(BlockSlice, shape: [Int])
        /// Batch norm and activation of the leading `slice` of the input buffer, read in place.
        case scaleShiftSlice(BlockSlice, shape: [Int], scale: [Float], shift: [Float], activation: Kernels.Activation?)
        /// Each plane's mean, [N, C, 1, 1], of an input held in `layout`.
        case globalAveragePool(ActivationLayout)
        /// Max pooling of an input held in `layout`, into the same layout.
        case maxPool(pk_pool2d_shape, ActivationLayout)
        /// The first input times the second ([N, C, 1, 1]) per channel, both held in `layout`; with
        /// `inPlace` the first ends here and its storage becomes the output's.
        case multiplyChannels(ActivationLayout, inPlace: Bool)
        /// The input, held in `from`, rewritten into the other layout.
        case changeLayout(from: ActivationLayout)
        /// `channel_shuffle(cat(inputs, 1), inputs.count)` of inputs with `partChannels` channels,
        /// chunked into the outputs of `pieceChannels` each, held in `pieceShape` (more channels where
        /// `ChannelPadding` widened them, zeros there), all in `layout` (`ShuffledConcatenations`).
        case interleaveChannels(partChannels: Int, pieceChannels: Int, pieceShape: [Int], ActivationLayout)
    }

    let operation: Operation
    let inputs: [Int]
    let outputs: [Int]
    let releases: [Int]

    func run(in workspace: PlanWorkspace) throws {
        switch operation {
        case .constant(let tensor):
            workspace.values[outputs[0]] = tensor
        case let .convolution(convolution, residual, residualInPlace, inputScale):
            let input = try value(inputs[0], workspace)
            let scale = try inputScale.map { try value($0, workspace) }
            var output: [Float]
            let source: PackedConvolution.Residual
            if let residual, residualInPlace, let storage = workspace.take(residual) {
                (output, source) = (storage, .inOutput)
            } else {
                output = workspace.buffer(count: convolution.outputShape.reduce(1, *))
                source = try residual.map { .separate(try value($0, workspace)) } ?? .none
            }
            convolution.run(input, residual: source, inputScale: scale, into: &output)
            workspace.values[outputs[0]] = Tensor(shape: convolution.outputShape, storage: output)
        case let .activation(activation, inPlace):
            if inPlace, var tensor = workspace.values[inputs[0]] {
                workspace.values[inputs[0]] = nil
                Kernels.activate(&tensor, activation)
                workspace.values[outputs[0]] = tensor
            } else {
                workspace.values[outputs[0]] = Kernels.activated(try value(inputs[0], workspace), activation)
            }
        case .add(let inPlace):
            let other = try value(inputs[1], workspace)
            if inPlace, var sum = workspace.values[inputs[0]] {
                workspace.values[inputs[0]] = nil
                try Kernels.addInPlace(&sum, other)
                workspace.values[outputs[0]] = sum
            } else {
                workspace.values[outputs[0]] = try Kernels.add(value(inputs[0], workspace), other)
            }
        case .packedLinear(let linear):
            let input = try value(inputs[0], workspace)
            var output = workspace.buffer(count: linear.outputShape.reduce(1, *))
            linear.run(input, into: &output)
            workspace.values[outputs[0]] = Tensor(shape: linear.outputShape, storage: output)
        case .reference(_, let run):
            let results = try run(inputs.map { try value($0, workspace) })
            for (value, result) in zip(outputs, results) { workspace.values[value] = result }
        case let .place(slice, rootShape):
            let part = try value(inputs[0], workspace)
            // Taken out of the workspace while written, so the buffer has one owner and is not copied.
            var buffer = workspace.take(outputs[0]) ?? workspace.buffer(count: slice.bufferCount)
            Kernels.place(part.storage.array, into: &buffer, at: slice)
            workspace.values[outputs[0]] = Tensor(shape: rootShape, storage: buffer)
        case let .convolutionIntoSlice(convolution, slice, rootShape):
            let input = try value(inputs[0], workspace)
            var buffer = workspace.take(outputs[0]) ?? workspace.buffer(count: slice.bufferCount)
            convolution.run(input, into: &buffer, at: slice)
            workspace.values[outputs[0]] = Tensor(shape: rootShape, storage: buffer)
        case let .gather(slice, shape):
            workspace.values[outputs[0]] = Tensor(shape: shape, storage: Kernels.gather(slice, of: try value(inputs[0], workspace).storage.array))
        case let .scaleShiftSlice(slice, shape, scale, shift, activation):
            let storage = Kernels.scaleShift(
                slice, of: try value(inputs[0], workspace).storage.array, scale: scale, shift: shift, activation: activation)
            workspace.values[outputs[0]] = Tensor(shape: shape, storage: storage)
        case .globalAveragePool(let layout):
            let input = try value(inputs[0], workspace)
            workspace.values[outputs[0]] = layout == .nchw
                ? try Kernels.adaptiveAvgPool2d(input, outputSize: (1, 1)) : ChannelBlockKernels.channelMeans(input)
        case let .maxPool(shape, layout):
            let input = try value(inputs[0], workspace)
            var output = workspace.buffer(count: Int(shape.planes) * Int(shape.out_height) * Int(shape.out_width))
            ChannelBlockKernels.maxPool(input, shape: shape, layout: layout, into: &output)
            workspace.values[outputs[0]] = Tensor(
                shape: Array(input.shape.prefix(2)) + [Int(shape.out_height), Int(shape.out_width)], storage: output)
        case let .multiplyChannels(layout, inPlace):
            let scale = try value(inputs[1], workspace)
            if layout == .nchw {
                workspace.values[outputs[0]] = try Kernels.multiplyChannels(value(inputs[0], workspace), by: scale)
            } else if inPlace, var x = workspace.values[inputs[0]] {
                workspace.values[inputs[0]] = nil
                ChannelBlockKernels.scaleChannels(&x, by: scale)
                workspace.values[outputs[0]] = x
            } else {
                workspace.values[outputs[0]] = ChannelBlockKernels.multiplyChannels(try value(inputs[0], workspace), by: scale)
            }
        case .changeLayout(let layout):
            workspace.values[outputs[0]] = ChannelBlockKernels.changeLayout(try value(inputs[0], workspace), from: layout)
        case let .interleaveChannels(partChannels, pieceChannels, pieceShape, layout):
            let parts = try inputs.map { try value($0, workspace) }
            for (piece, output) in outputs.enumerated() {
                var buffer = workspace.buffer(count: pieceShape.reduce(1, *))
                ChannelBlockKernels.interleaveChannels(
                    parts, channels: partChannels, piece: piece, of: outputs.count, channels: pieceChannels,
                    shape: pieceShape, layout: layout, into: &buffer)
                workspace.values[output] = Tensor(shape: pieceShape, storage: buffer)
            }
        }
        for value in releases { workspace.release(value) }
    }

    private func value(_ index: Int, _ workspace: PlanWorkspace) throws -> Tensor {
        guard let tensor = workspace.values[index] else {
            throw RuntimeError.invalidArgument(operation: "compiled plan", reason: "value \(index) read before it was computed")
        }
        return tensor
    }

    var description: String {
        let name: String
        switch operation {
        case .constant: name = "constant"
        case let .convolution(convolution, residual, _, inputScale):
            name = convolution.description + (inputScale == nil ? "" : " of scaled input") + (residual == nil ? "" : " +residual")
                + (convolution.activation.map { " +\($0)" } ?? "")
        case let .convolutionIntoSlice(convolution, slice, _):
            name = convolution.description + (convolution.activation.map { " +\($0)" } ?? "")
                + " into \(slice.offset)/\(slice.stride)"
        case .activation(let activation, _): name = "\(activation)"
        case .add: name = "add"
        case .packedLinear(let linear): name = linear.description + (linear.activation.map { " +\($0)" } ?? "")
        case .reference(let reference, _): name = reference
        case .place(let slice, _): name = "place at \(slice.offset)/\(slice.stride)"
        case .gather(let slice, _): name = "slice \(slice.length)/\(slice.stride)"
        case let .scaleShiftSlice(slice, _, _, _, activation):
            name = "batch_norm of slice \(slice.length)/\(slice.stride)" + (activation.map { " +\($0)" } ?? "")
        case .globalAveragePool(let layout): name = "global average pool of \(layout)"
        case .maxPool(_, let layout): name = layout == .nchw ? "max_pool2d" : "max_pool2d of \(layout)"
        case .multiplyChannels(let layout, _): name = "multiply channels of \(layout)"
        case .changeLayout(let layout): name = layout == .nchw ? "NCHW to channel blocks" : "channel blocks to NCHW"
        case .interleaveChannels(_, _, _, let layout):
            name = "shuffle \(inputs.count) parts into \(outputs.count) chunk\(outputs.count == 1 ? "" : "s")"
                + (layout == .channelBlocks ? " of blocks" : "")
        }
        return "\(name) \(inputs) -> \(outputs)"
    }
}
