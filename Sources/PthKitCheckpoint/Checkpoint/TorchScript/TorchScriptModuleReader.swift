/// The state dict of a TorchScript archive (`torch.jit.save`), as `torch.jit.load(f).state_dict()`
/// returns it, read from the archive alone. `data.pkl` pickles the module tree as objects of
/// `__torch__.…` classes whose BUILD state is their attribute dictionary; which attributes are
/// parameters and buffers is declared in `code/` (`TorchScriptClasses`). Nothing is executed.
struct TorchScriptModuleReader {
    /// More entries than this means a hostile graph of shared modules, not a model.
    static let maximumEntries = 1 << 20

    let classes: TorchScriptClasses
    let tensors: TorchObjectReader

    func stateDict(of root: PickleValue) throws -> CheckpointValue {
        guard case .object(let object) = root, let type = object.qualifiedName else {
            throw TorchScriptError("data.pkl holds a \(root.kindName), not a scripted module")
        }
        var walk = Walk()
        let entries = try moduleEntries(object, depth: 0, walk: &walk)
        return .module(
            typeName: Self.plainName(type),
            stateDict: CheckpointDict(entries: entries.map { (.string($0.key), $0.value) }))
    }

    /// Modules already read, so a module shared by two parents is walked once (torch lists its
    /// tensors under both names), and the running count of entries produced.
    private struct Walk {
        var done: [ObjectIdentifier: [(key: String, value: CheckpointValue)]] = [:]
        var produced = 0

        mutating func count(_ added: Int) throws {
            produced += added
            guard produced <= TorchScriptModuleReader.maximumEntries else {
                throw TorchScriptError("the module tree expands to more than \(TorchScriptModuleReader.maximumEntries) entries")
            }
        }
    }

    /// Own parameters, then own buffers (each in attribute order, None skipped), then each child
    /// module's entries under its attribute name: the order of `nn.Module.state_dict`.
    private func moduleEntries(
        _ object: PickleObject, depth: Int, walk: inout Walk
    ) throws -> [(key: String, value: CheckpointValue)] {
        if let known = walk.done[ObjectIdentifier(object)] { return known }
        guard depth <= PickleMachine.maximumDepth else {
            throw TorchScriptError("modules nested deeper than \(PickleMachine.maximumDepth) levels")
        }
        let type = object.qualifiedName ?? object.callable.kindName
        guard let declaration = classes.declarations[type] else {
            throw TorchScriptError("class \(type) of data.pkl is declared nowhere in code/")
        }
        guard declaration.isModule else { throw TorchScriptError("class \(type) is not a Module") }
        guard case .dict(let attributes)? = object.state else {
            throw TorchScriptError("module \(type) has no attribute dictionary (custom __getstate__ is not supported)")
        }
        var entries: [(key: String, value: CheckpointValue)] = []
        for (kind, names) in [("parameter", declaration.parameters), ("buffer", declaration.buffers)] {
            for name in names where attributes[name] == nil {
                throw TorchScriptError("module \(type) declares \(kind) \(name), which data.pkl does not hold")
            }
            let wanted = Set(names)
            for entry in attributes.entries {
                guard let name = entry.key.asString, wanted.contains(name) else { continue }
                if case .none = entry.value { continue }
                let value = try tensors.read(entry.value)
                guard case .tensor = value else {
                    throw TorchScriptError("\(kind) \(name) of \(type) is a \(value.kindName), not a tensor")
                }
                entries.append((name, value))
            }
        }
        // Children: attributes holding objects of scripted classes that are modules (other scripted
        // classes hold no state_dict entries). An undeclared class means `code/` is incomplete.
        for entry in attributes.entries {
            guard let name = entry.key.asString, case .object(let child) = entry.value,
                  let childType = child.qualifiedName, childType.hasPrefix("__torch__.")
            else { continue }
            guard let childDeclaration = classes.declarations[childType] else {
                throw TorchScriptError("class \(childType) of data.pkl is declared nowhere in code/")
            }
            guard childDeclaration.isModule else { continue }
            let childEntries = try moduleEntries(child, depth: depth + 1, walk: &walk)
            try walk.count(childEntries.count)
            entries += childEntries.map { (name + "." + $0.key, $0.value) }
        }
        try walk.count(entries.count)
        walk.done[ObjectIdentifier(object)] = entries
        return entries
    }

    /// `__torch__.torchvision.models.resnet.___torch_mangle_7.ResNet` -> `torchvision.models.resnet.ResNet`.
    static func plainName(_ type: String) -> String {
        type.split(separator: ".")
            .filter { $0 != "__torch__" && !$0.hasPrefix("___torch_mangle_") }
            .joined(separator: ".")
    }
}
