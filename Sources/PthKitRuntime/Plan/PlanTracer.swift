import CKernels
import Foundation

/// One operation of a traced forward pass, as the plan compiler sees it. The operations the compiler
/// rewrites (folds, fuses, packs) are spelled out with the values they need; everything else is a
/// `reference` operation that replays the kernel the model called, with its arguments captured.
package enum TracedOperation {
    /// The model's input.
    case input
    /// A tensor the forward pass used without computing it from the input (a captured constant).
    case constant(Tensor)
    case convolution(ConvolutionWeights)
    /// Eval-mode batch norm as y = x * scale + shift per channel (dimension 1).
    case batchNorm(scale: [Float], shift: [Float])
    case linear(weight: Tensor, bias: [Float]?)
    case activation(Kernels.Activation)
    /// a + b, tensors of one shape (a residual connection).
    case add
    /// `torch.cat(inputs, dim)`.
    case concatenate(dim: Int)
    /// `adaptive_avg_pool2d(x, 1)` of [N, C, H, W]: each plane's mean, as [N, C, 1, 1].
    case globalAveragePool
    /// `max_pool2d` of [N, C, H, W], with its geometry.
    case maxPool(pk_pool2d_shape)
    /// x [N, C, H, W] times s [N, C, 1, 1], channel by channel (squeeze-and-excitation's scaling).
    case multiplyChannels
    /// `channel_shuffle(x, groups)` of [N, C, ...].
    case channelShuffle(groups: Int)
    /// `x.chunk(chunks, dim)`: one output per piece.
    case chunk(chunks: Int, dim: Int)
    case reference(name: String, run: @Sendable ([Tensor]) throws -> [Tensor])
}

/// A convolution's parameters as traced: the weights as the module held them then.
package struct ConvolutionWeights {
    let weight: Tensor
    let bias: [Float]?
    let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
    let groups: Int

    /// Spelled out because a memberwise initializer is never visible outside its module (the layers
    /// that record themselves are in PthKitModels).
    package init(
        weight: Tensor, bias: [Float]?, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
    ) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }
}

/// An operation with the values it reads and writes, numbered in the order the trace made them.
package struct TracedNode {
    let operation: TracedOperation
    package let inputs: [Int]
    let outputs: [Int]
    /// The module that recorded itself as this node, if one did.
    package var source: ObjectIdentifier?
}

/// Records the operations of one forward pass, so that a plan can be compiled from them.
///
/// Active per task (`current`) while `Module.trace(planFor:)` runs a forward pass. Modules that the
/// compiler understands record themselves as one node (`Module.tracedOperation`); every public
/// kernel records itself otherwise. Work done inside a recorded node records nothing more.
/// Convolutions and linear layers are not computed while tracing (their outputs are zeros of the
/// right shape): a plan depends on shapes, never on values, and this keeps compiling cheap.
/// Unchecked: a tracer is only touched by the task that compiles, through `current`; kernels' worker
/// threads do not inherit task-locals, so they never see it.
package final class PlanTracer: @unchecked Sendable {
    @TaskLocal package static var current: PlanTracer?

    package private(set) var nodes: [TracedNode] = []
    package private(set) var shapes: [[Int]] = []
    /// Tags carry this trace's number in their high bits, so a tensor kept from an earlier trace is
    /// never mistaken for a value of this one.
    private let tagBase = PlanTracer.nextTagBase()
    /// Above zero while a recorded node computes its output.
    private var depth = 0

    package init() {}

    /// The tracer to record into, or nil when there is none or a node is already being recorded.
    static var recording: PlanTracer? {
        guard let tracer = current, tracer.isRecording else { return nil }
        return tracer
    }

    /// False while a recorded node computes its output.
    package var isRecording: Bool { depth == 0 }

    /// Marks `tensor` as the graph's input.
    package func input(_ tensor: Tensor) -> Tensor {
        var input = tensor
        let value = newValue(shape: tensor.shape)
        input.tracedValue = tagBase + value
        nodes.append(TracedNode(operation: .input, inputs: [], outputs: [value]))
        return input
    }

    /// Records `operation` over `inputs`; `compute` produces its outputs without recording anything.
    package func record(
        _ operation: TracedOperation, _ inputs: [Tensor], source: ObjectIdentifier? = nil,
        compute: ([Tensor]) throws -> [Tensor]
    ) rethrows -> [Tensor] {
        let inputValues = inputs.map(value(of:))
        depth += 1
        defer { depth -= 1 }
        var outputs = try compute(inputs)
        var outputValues: [Int] = []
        for index in outputs.indices {
            outputValues.append(newValue(shape: outputs[index].shape))
            outputs[index].tracedValue = tagBase + outputValues[index]
        }
        nodes.append(TracedNode(operation: operation, inputs: inputValues, outputs: outputValues, source: source))
        return outputs
    }

    /// The value a result of this trace stands for, or nil for a tensor the trace did not compute.
    package func value(ofOutput tensor: Tensor) -> Int? {
        let value = tensor.tracedValue - tagBase
        guard value >= 0 && value < shapes.count && shapes[value] == tensor.shape else { return nil }
        return value
    }

    /// The value a tensor stands for; a tensor the trace has not seen becomes a constant.
    private func value(of tensor: Tensor) -> Int {
        if let value = value(ofOutput: tensor) { return value }
        let constant = newValue(shape: tensor.shape)
        var stored = tensor
        stored.tracedValue = -1
        nodes.append(TracedNode(operation: .constant(stored), inputs: [], outputs: [constant]))
        return constant
    }

    private func newValue(shape: [Int]) -> Int {
        shapes.append(shape)
        return shapes.count - 1
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var traces = 0

    private static func nextTagBase() -> Int {
        lock.withLock {
            traces += 1
            return traces << 32
        }
    }
}

extension Kernels {
    /// Runs a kernel, recording it as a `reference` node when a trace is active: `compute` is then
    /// both what runs now and what the plan replays, so it must capture every argument but the tensors.
    static func traced(
        _ name: String, _ inputs: [Tensor], _ compute: @escaping @Sendable ([Tensor]) throws -> [Tensor]
    ) throws -> [Tensor] {
        guard let tracer = PlanTracer.recording else { return try compute(inputs) }
        return try tracer.record(.reference(name: name, run: compute), inputs, compute: compute)
    }

    /// `traced` for the common one-input, one-output kernel.
    static func traced(
        _ name: String, _ input: Tensor, _ compute: @escaping @Sendable (Tensor) throws -> Tensor
    ) throws -> Tensor {
        guard PlanTracer.recording != nil else { return try compute(input) }
        return try traced(name, [input]) { [try compute($0[0])] }[0]
    }
}
