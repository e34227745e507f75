import PthKitRuntime

/// A node of a model, found by the same dotted names PyTorch uses (`layer1.0.conv1.weight`).
///
/// Subclasses register their children, parameters and buffers in the order the PyTorch class assigns
/// them in `__init__`, so `stateDict()` lists exactly the keys, in exactly the order, of the
/// corresponding `nn.Module.state_dict()`.
open class Module: @unchecked Sendable {
    public private(set) var children: [(name: String, module: Module)] = []
    public private(set) var localParameters: [(name: String, parameter: Parameter)] = []
    public private(set) var localBuffers: [(name: String, buffer: Parameter, persistent: Bool)] = []
    /// Plans compiled for this module as the root (`compiled(for:)`).
    let planCache = PlanCache()
    /// The hash check the loaded weights wait on, if any (`WeightsGate`).
    let weightsGate = WeightsGate()

    public init() {}

    /// The class name torch prints in `Error(s) in loading state_dict for <Model>`.
    open var typeName: String { String(describing: type(of: self)) }

    /// `_version` of the PyTorch class, recorded in a state dict's `_metadata` (BatchNorm's is 2).
    open var metadataVersion: Int { 1 }

    open func forward(_ input: Tensor) throws -> Tensor {
        throw RuntimeError.invalidArgument(operation: typeName, reason: "has no forward pass")
    }

    /// The module's output for `input`. Called by a user, it runs the compiled plan for the input's
    /// shape (compiled on first use, recompiled when parameters change: `compiled(for:)`); called
    /// from another module's `forward`, inside `referenceForward` or `trace`, it runs `forward`.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        if let tracer = PlanTracer.current {
            guard tracer.isRecording, let operation = tracedOperation else { return try forward(input) }
            return try tracer.record(operation, [input], source: ObjectIdentifier(self)) { [try tracedOutput($0[0])] }[0]
        }
        guard ReferencePass.isActive || ForwardTrace.current != nil else {
            return try compiled(for: input.shape).run(input)
        }
        if let stop = ReferencePass.stopBefore, stop == ObjectIdentifier(self) {
            throw ReferencePass.Stopped(input: input)
        }
        let output = try forward(input)
        ForwardTrace.current?.record(self, output: output)
        return output
    }

    /// The plain module-by-module forward pass, every layer as its own kernel: the reference the
    /// compiled plan is checked against, and the path to debug a model on.
    public func referenceForward(_ input: Tensor) throws -> Tensor {
        let output = try ReferencePass.$isActive.withValue(true) { try self(input) }
        try weightsGate.pass()
        return output
    }

    // MARK: - Tracing

    /// What the plan compiler sees this module as, when it records the module as one operation
    /// rather than the kernels its `forward` calls: layers whose parameters it folds, fuses or packs.
    var tracedOperation: TracedOperation? { nil }

    /// The output while a plan is traced: `forward` unless the layer can give its shape cheaper.
    func tracedOutput(_ input: Tensor) throws -> Tensor { try forward(input) }

    // MARK: - Registration

    /// Adds `module` under `name`, or replaces the child of that name in place (its position, and so
    /// its keys' position in the state dict, stays the same).
    @discardableResult
    public func registerModule<M: Module>(_ name: String, _ module: M) -> M {
        if let index = children.firstIndex(where: { $0.name == name }) {
            children[index].module = module
        } else {
            children.append((name, module))
        }
        return module
    }

    @discardableResult
    public func registerParameter(_ name: String, _ parameter: Parameter) -> Parameter {
        if let index = localParameters.firstIndex(where: { $0.name == name }) {
            localParameters[index].parameter = parameter
        } else {
            localParameters.append((name, parameter))
        }
        return parameter
    }

    @discardableResult
    public func registerBuffer(_ name: String, _ buffer: Parameter, persistent: Bool = true) -> Parameter {
        if let index = localBuffers.firstIndex(where: { $0.name == name }) {
            localBuffers[index] = (name, buffer, persistent)
        } else {
            localBuffers.append((name, buffer, persistent))
        }
        return buffer
    }

    // MARK: - Names

    /// This module and every descendant, pre-order, with dotted paths (`""` for this one).
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var result: [(name: String, module: Module)] = [(prefix, self)]
        for (name, child) in children {
            result += child.namedModules(prefix: prefix.isEmpty ? name : prefix + "." + name)
        }
        return result
    }

    public func namedParameters() -> [(name: String, parameter: Parameter)] {
        namedModules().flatMap { path, module in
            module.localParameters.map { (Self.join(path, $0.name), $0.parameter) }
        }
    }

    public func namedBuffers() -> [(name: String, buffer: Parameter)] {
        namedModules().flatMap { path, module in
            module.localBuffers.map { (Self.join(path, $0.name), $0.buffer) }
        }
    }

    /// `state_dict()`: per module in pre-order, its parameters then its persistent buffers.
    public func stateDict() -> [(key: String, parameter: Parameter)] {
        namedModules().flatMap { path, module in
            module.localParameters.map { (Self.join(path, $0.name), $0.parameter) }
                + module.localBuffers.filter(\.persistent).map { (Self.join(path, $0.name), $0.buffer) }
        }
    }

    /// `_metadata` as `state_dict()` records it: module path -> the class's version.
    public func stateDictMetadata() -> [String: Int] {
        Dictionary(uniqueKeysWithValues: namedModules().map { ($0.name, $0.module.metadataVersion) })
    }

    /// The descendant at a dotted path (`features.0`), or nil.
    public func module(at path: String) -> Module? {
        guard !path.isEmpty else { return self }
        var current: Module = self
        for component in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current.children.first(where: { $0.name == component })?.module else { return nil }
            current = next
        }
        return current
    }

    /// Total number of parameter values, PyTorch's `sum(p.numel() for p in model.parameters())`.
    public var parameterCount: Int {
        namedParameters().reduce(0) { $0 + $1.parameter.elementCount }
    }

    static func join(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : prefix + "." + name
    }
}
