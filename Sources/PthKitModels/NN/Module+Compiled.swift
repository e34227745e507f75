import Foundation
import PthKitRuntime

extension Module {
    /// The plan for inputs of `inputShape`, compiled on first use and kept while the model's
    /// parameters stay as they were; a parameter set since (a state dict loaded, a head replaced or
    /// trained) makes this call compile afresh. Compiling traces one forward pass without computing
    /// its convolutions, then folds, fuses and packs (`PlanCompiler`).
    public func compiled(for inputShape: [Int]) throws -> ExecutionPlan {
        try compiledPlan(for: inputShape, output: .output)
    }

    /// The input of the classifier head for `input`: the features a new head is trained on. Runs a
    /// plan cut at the head, so nothing after it is computed.
    public func headInput(_ input: Tensor) throws -> Tensor {
        guard let head = classifierHead else {
            throw RuntimeError.invalidArgument(operation: "headInput", reason: "\(typeName) has no Linear layer")
        }
        let plan = try compiledPlan(for: input.shape, output: .inputOf(ObjectIdentifier(head.layer), head.path))
        return try plan.run(input)
    }

    /// `headInput` on the reference path: the plain forward pass, stopped where the head is called.
    public func referenceHeadInput(_ input: Tensor) throws -> Tensor {
        guard let head = classifierHead else {
            throw RuntimeError.invalidArgument(operation: "headInput", reason: "\(typeName) has no Linear layer")
        }
        do {
            _ = try ReferencePass.$stopBefore.withValue(ObjectIdentifier(head.layer)) { try referenceForward(input) }
        } catch let stopped as ReferencePass.Stopped {
            try weightsGate.pass()
            return stopped.input
        }
        throw RuntimeError.invalidArgument(
            operation: "headInput", reason: "the forward pass of \(typeName) never reached \(head.path)")
    }

    func compiledPlan(for inputShape: [Int], output: PlanOutput) throws -> ExecutionPlan {
        let stamp = parameterStamp()
        let key = PlanCache.Key(inputShape: inputShape, output: output.key)
        if let plan = planCache.plan(for: key, stamp: stamp) { return plan }
        let plan = try tracePlan(inputShape: inputShape, output: output)
        plan.weightsCheck = weightsGate.pending
        planCache.store(plan, for: key, stamp: stamp)
        return plan
    }

    private func tracePlan(inputShape: [Int], output: PlanOutput) throws -> ExecutionPlan {
        let (tracer, outputValue) = try trace(inputShape: inputShape, output: output)
        // Networks whose activations outweigh their weights run a batch image by image.
        if let batch = inputShape.first, batch > 1 {
            let (single, singleOutput) = try trace(inputShape: [1] + inputShape.dropFirst(), output: output)
            if BatchSplitting.worthwhile(batched: tracer, single: single, batch: batch) {
                let imagePlan = try PlanCompiler.compile(
                    nodes: single.nodes, shapes: single.shapes, inputValue: 0, outputValue: singleOutput)
                return ExecutionPlan(batch: batch, imagePlan: imagePlan)
            }
        }
        return try PlanCompiler.compile(
            nodes: tracer.nodes, shapes: tracer.shapes, inputValue: 0, outputValue: outputValue)
    }

    /// One forward pass recorded for `inputShape`, and the value the plan returns.
    private func trace(inputShape: [Int], output: PlanOutput) throws -> (PlanTracer, Int) {
        guard let count = Tensor.elementCount(of: inputShape) else {
            throw RuntimeError.invalidArgument(operation: "compile", reason: "input shape \(inputShape) is too large")
        }
        let tracer = PlanTracer()
        let input = tracer.input(Tensor(shape: inputShape, storage: [Float](repeating: 0, count: count)))
        let result = try PlanTracer.$current.withValue(tracer) { try self(input) }
        switch output {
        case .output:
            guard let value = tracer.value(ofOutput: result) else {
                throw RuntimeError.invalidArgument(
                    operation: "compile", reason: "the output of \(typeName) does not depend on its input")
            }
            return (tracer, value)
        case let .inputOf(module, path):
            guard let value = tracer.nodes.first(where: { $0.source == module })?.inputs.first else {
                throw RuntimeError.invalidArgument(
                    operation: "headInput", reason: "the forward pass of \(typeName) never reached \(path)")
            }
            return (tracer, value)
        }
    }

    /// Every parameter and buffer with the version it has now: a plan compiled under another stamp
    /// holds stale weights.
    private func parameterStamp() -> [ParameterStamp] {
        var stamp: [ParameterStamp] = []
        func visit(_ module: Module) {
            for (_, parameter) in module.localParameters { stamp.append(ParameterStamp(parameter)) }
            for (_, buffer, _) in module.localBuffers { stamp.append(ParameterStamp(buffer)) }
            for (_, child) in module.children { visit(child) }
        }
        visit(self)
        return stamp
    }
}

/// Where a plan's output is taken from.
enum PlanOutput {
    case output
    /// The input of a module (the classifier head), at `path`.
    case inputOf(ObjectIdentifier, String)

    var key: String {
        switch self {
        case .output: return ""
        case .inputOf(_, let path): return "input of " + path
        }
    }
}

struct ParameterStamp: Equatable {
    let parameter: ObjectIdentifier
    let version: UInt64

    init(_ parameter: Parameter) {
        self.parameter = ObjectIdentifier(parameter)
        version = parameter.version
    }
}

/// A module's compiled plans by input shape, each with the parameter stamp it was compiled under.
final class PlanCache: @unchecked Sendable {
    struct Key: Hashable {
        let inputShape: [Int]
        let output: String
    }

    private let lock = NSLock()
    private var plans: [Key: (plan: ExecutionPlan, stamp: [ParameterStamp])] = [:]

    func plan(for key: Key, stamp: [ParameterStamp]) -> ExecutionPlan? {
        lock.withLock {
            guard let entry = plans[key], entry.stamp == stamp else { return nil }
            return entry.plan
        }
    }

    func store(_ plan: ExecutionPlan, for key: Key, stamp: [ParameterStamp]) {
        lock.withLock {
            // Plans for other shapes compiled under an older stamp are stale: drop them with it.
            plans = plans.filter { $0.value.stamp == stamp }
            plans[key] = (plan, stamp)
        }
    }
}
