import Foundation
import PthKitRuntime

/// Records which modules a forward pass ran and the shapes they produced: what `pthkit summary`
/// prints. Off (nil) except inside `Module.trace(_:)`, and per task, so it never slows a normal run.
public final class ForwardTrace: @unchecked Sendable {
    public struct Step: Sendable {
        public let module: ObjectIdentifier
        public let outputShape: [Int]
    }

    @TaskLocal static var current: ForwardTrace?

    private let lock = NSLock()
    private var recorded: [Step] = []

    public var steps: [Step] { lock.withLock { recorded } }

    func record(_ module: Module, output: Tensor) {
        lock.withLock { recorded.append(Step(module: ObjectIdentifier(module), outputShape: output.shape)) }
    }
}

extension Module {
    /// Runs `input` through the model and returns the output with the modules' steps, in the order
    /// they finished.
    public func trace(_ input: Tensor) throws -> (output: Tensor, trace: ForwardTrace) {
        let trace = ForwardTrace()
        let output = try ForwardTrace.$current.withValue(trace) { try self(input) }
        try weightsGate.pass()
        return (output, trace)
    }
}
