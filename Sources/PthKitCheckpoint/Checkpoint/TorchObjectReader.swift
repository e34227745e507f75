import PthKitSupport

/// Turns the pickle machine's inert values into a `CheckpointValue` tree by interpreting the
/// constructors checkpoints need — and only those. Nothing is ever called: an allowlisted name is
/// interpreted by code written here, every other name stays an `.opaque` record.
///
/// The pickle machine keeps memoized values shared, so one object may be reachable through many
/// paths; each object, list and dict is converted once (by identity) and its result shared, which
/// keeps the work linear in the pickle however the file nests its references.
struct TorchObjectReader {
    let storages: StorageSource
    private let converted = ConversionMemo()
    private let limits: CheckpointLimits

    init(storages: StorageSource, limits: CheckpointLimits = .default) {
        self.storages = storages
        self.limits = limits
    }

    func read(_ value: PickleValue) throws -> CheckpointValue {
        try convert(value, depth: 0)
    }

    /// Results by the identity of the pickle value they came from: the object of a list, dict or
    /// call, the element buffer of a tuple (see `SharedIdentity`).
    private final class ConversionMemo {
        var values: [SharedIdentity: CheckpointValue] = [:]
        /// A big-endian file's storages, swapped once each (by key and element size).
        var swapped: [String: TensorBytes] = [:]
        /// Bytes of the keys pickled modules' state dicts have spelled out so far.
        var moduleKeyBytes = 0
    }

    private func memoized(
        _ key: SharedIdentity?, _ make: () throws -> CheckpointValue
    ) rethrows -> CheckpointValue {
        guard let key else { return try make() }
        if let done = converted.values[key] { return done }
        let value = try make()
        converted.values[key] = value
        return value
    }

    private func convert(_ value: PickleValue, depth: Int) throws -> CheckpointValue {
        guard depth <= PickleMachine.maximumDepth else {
            throw TorchObjectError("values nested deeper than \(PickleMachine.maximumDepth) levels")
        }
        let next = depth + 1
        switch value {
        case .none: return .none
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .int(number)
        case .bigInt(let bytes): return .bigInt(bytes)
        case .float(let number): return .float(number)
        case .string(let text): return .string(text)
        case .bytes(let bytes): return .bytes(bytes)
        case .tuple(let items):
            return try memoized(SharedIdentity(items)) { .tuple(try items.map { try convert($0, depth: next) }) }
        case .list(let list), .set(let list):
            return try memoized(SharedIdentity(list)) { .list(try list.items.map { try convert($0, depth: next) }) }
        case .dict(let dict):
            return try memoized(SharedIdentity(dict)) { .dict(CheckpointDict(entries: try convert(dict.entries, depth: next))) }
        case let .global(module, name): return .opaque(name: "\(module).\(name)", arguments: [])
        case .persistentID(let id):
            // A bare storage outside a tensor; recorded, its bytes are not needed.
            return .opaque(name: "storage", arguments: [try convert(id, depth: next)])
        case .object(let object): return try memoized(SharedIdentity(object)) { try convert(object, depth: next) }
        }
    }

    private func convert(
        _ entries: [(key: PickleValue, value: PickleValue)], depth: Int
    ) throws -> [(key: CheckpointValue, value: CheckpointValue)] {
        try entries.map { (key: try convert($0.key, depth: depth), value: try convert($0.value, depth: depth)) }
    }

    // MARK: - The allowlist

    private func convert(_ object: PickleObject, depth: Int) throws -> CheckpointValue {
        let arguments = object.arguments
        let name = Self.callableName(object.callable)
        switch name {
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            return .tensor(try rebuildTensor(arguments))
        case "torch._utils._rebuild_tensor_v3":
            // Newer dtypes: (untyped storage, offset, size, stride, requires_grad, hooks, dtype, ...).
            guard arguments.count >= 7, case let .global(module, dtypeName) = arguments[6], module == "torch" else {
                throw TorchObjectError("_rebuild_tensor_v3 without a dtype")
            }
            guard let dtype = DType(torchName: dtypeName) else {
                throw TorchObjectError("tensor dtype torch.\(SafeText.name(dtypeName)) is not supported")
            }
            return .tensor(try rebuildTensor(arguments, dtype: dtype))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            // (data, requires_grad, backward_hooks[, state]): a Parameter is its data here.
            guard let data = arguments.first else { throw TorchObjectError("_rebuild_parameter without data") }
            return try convert(data, depth: depth)
        case "torch._tensor._rebuild_from_type_v2", "torch._utils._rebuild_from_type_v2":
            // (func, type, args, state): a tensor subclass rebuilt by `func(*args)`.
            guard arguments.count >= 3, let innerArguments = arguments[2].asSequence else {
                throw TorchObjectError("_rebuild_from_type_v2 with malformed arguments")
            }
            return try convert(PickleObject(callable: arguments[0], arguments: innerArguments), depth: depth)
        case "collections.OrderedDict":
            return .dict(try orderedDict(object, depth: depth))
        case "torch.Size", "builtins.tuple", "__builtin__.tuple":
            return .tuple(try (arguments.first?.asSequence ?? []).map { try convert($0, depth: depth) })
        case "builtins.set", "__builtin__.set", "builtins.frozenset", "__builtin__.frozenset", "builtins.list",
             "__builtin__.list":
            return .list(try (arguments.first?.asSequence ?? []).map { try convert($0, depth: depth) })
        case "torch.device":
            return .string(arguments.compactMap(\.asString).joined(separator: ":"))
        case "_codecs.encode":
            // Protocol 2 spells Python 3 bytes as _codecs.encode(text, "latin1").
            guard let text = arguments.first?.asString else { break }
            return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        case "copyreg._reconstructor", "copy_reg._reconstructor":
            // Protocol 0/1 objects: (cls, base, state); the BUILD state decides what they are.
            guard let type = arguments.first else { break }
            let rebuilt = PickleObject(callable: type, arguments: [])
            rebuilt.state = object.state
            return try convert(rebuilt, depth: depth)
        default:
            break
        }
        if let module = try pickledModule(object, typeName: name ?? "?", depth: depth) { return module }
        return .opaque(
            name: name ?? object.callable.kindName,
            arguments: try arguments.map { try convert($0, depth: depth) })
    }

    /// `dtype` overrides the storage's own (an untyped byte storage viewed as `dtype`).
    private func rebuildTensor(_ arguments: [PickleValue], dtype: DType? = nil) throws -> TensorData {
        // (storage, storage_offset, size, stride, ...)
        guard arguments.count >= 4, case .persistentID(let id) = arguments[0] else {
            throw TorchObjectError("tensor without a storage")
        }
        let reference = try StorageReference(persistentID: id)
        guard let offset = arguments[1].asInt, let sizes = integers(arguments[2]), let strides = integers(arguments[3])
        else { throw TorchObjectError("tensor of storage \(SafeText.quoted(reference.key)) has malformed size or stride") }
        guard offset >= Int64(Int.min / 2), offset <= Int64(Int.max / 2) else {
            throw TorchObjectError("tensor of storage \(SafeText.quoted(reference.key)) has offset \(offset)")
        }
        let view = TensorView(dtype: dtype ?? reference.dtype, offset: Int(offset), shape: sizes, strides: strides)
        let storage = try littleEndianStorage(reference, elementSize: view.dtype.byteSize)
        do {
            return try view.tensor(over: storage)
        } catch let error as TensorViewError {
            throw TorchObjectError("tensor of storage \(SafeText.quoted(reference.key)): \(error.reason)")
        }
    }

    /// The storage's bytes in little-endian order: a big-endian file's storage is swapped once, into
    /// a copy as large as the storage (never as large as a view of it claims).
    private func littleEndianStorage(_ reference: StorageReference, elementSize: Int) throws -> TensorBytes {
        let storage = try storages.bytes(for: reference)
        guard storages.bigEndian, elementSize > 1 else { return storage }
        let key = "\(elementSize):\(reference.key)"
        if let done = converted.swapped[key] { return done }
        var bytes = storage.array
        TensorView.swapBytes(&bytes, elementSize: elementSize)
        converted.swapped[key] = .owned(bytes)
        return .owned(bytes)
    }

    /// Sizes and strides: a tuple of ints (or `torch.Size`), each within a sane range.
    private func integers(_ value: PickleValue) -> [Int]? {
        var items = value.asSequence
        if case .object(let object) = value, object.qualifiedName == "torch.Size" {
            items = object.arguments.first?.asSequence
        }
        guard let items else { return nil }
        var result: [Int] = []
        for item in items {
            guard let number = item.asInt, number >= Int64(Int.min / 2), number <= Int64(Int.max / 2) else { return nil }
            result.append(Int(number))
        }
        return result
    }

    /// `OrderedDict(items)` plus SETITEMS, and the `_metadata` attribute set by BUILD.
    private func orderedDict(_ object: PickleObject, depth: Int) throws -> CheckpointDict {
        var entries: [(key: CheckpointValue, value: CheckpointValue)] = []
        if let initial = object.arguments.first?.asSequence {
            for pair in initial {
                guard let parts = pair.asSequence, parts.count == 2 else { continue }
                entries.append((try convert(parts[0], depth: depth), try convert(parts[1], depth: depth)))
            }
        }
        entries += try convert(object.dictItems, depth: depth)
        return CheckpointDict(entries: entries, metadata: try metadata(in: object.state, depth: depth))
    }

    /// `_metadata`: prefix -> {"version": n}, as `nn.Module.state_dict` records it.
    private func metadata(in state: PickleValue?, depth: Int) throws -> [String: Int?]? {
        guard let attributes = Self.attributes(state), let raw = attributes["_metadata"] else { return nil }
        guard case .dict(let table) = try convert(raw, depth: depth) else { return nil }
        var result: [String: Int?] = [:]
        for entry in table.entries {
            var version: Int?
            if case .dict(let fields) = entry.value, case .int(let number)? = fields["version"] {
                version = Int(truncatingIfNeeded: number)
            }
            result[entry.key.pathComponent] = version
        }
        return result
    }

    /// BUILD state as an attribute dictionary: a dict, or the first half of `(dict, slots)`.
    private static func attributes(_ state: PickleValue?) -> PickleDict? {
        switch state {
        case .dict(let dict)?: return dict
        case .tuple(let parts)? where parts.count == 2:
            if case .dict(let dict) = parts[0] { return dict }
            return nil
        default: return nil
        }
    }

    /// `module.name` of a call's target: a global, or in legacy files a module class that the pickler
    /// replaced by the persistent id `('module', cls, source_file, source)`.
    private static func callableName(_ callable: PickleValue) -> String? {
        switch callable {
        case let .global(module, name): return "\(module).\(name)"
        case .persistentID(let id):
            guard let fields = id.asSequence, fields.count >= 2, fields[0].asString == "module" else { return nil }
            return callableName(fields[1])
        default: return nil
        }
    }

    // MARK: - Whole pickled modules

    /// An object whose state has `_parameters`, `_buffers` and `_modules` is an `nn.Module`; its tensors
    /// come out under the keys `state_dict()` gives: own parameters, persistent buffers, then children.
    private func pickledModule(_ object: PickleObject, typeName: String, depth: Int) throws -> CheckpointValue? {
        guard let attributes = Self.attributes(object.state),
              attributes["_parameters"] != nil, attributes["_modules"] != nil else { return nil }
        var entries: [(key: CheckpointValue, value: CheckpointValue)] = []
        try collectModuleState(attributes, prefix: "", into: &entries, depth: depth)
        return .module(typeName: typeName, stateDict: CheckpointDict(entries: entries))
    }

    private func collectModuleState(
        _ attributes: PickleDict, prefix: String,
        into entries: inout [(key: CheckpointValue, value: CheckpointValue)], depth: Int
    ) throws {
        guard depth <= PickleMachine.maximumDepth else {
            throw TorchObjectError("modules nested deeper than \(PickleMachine.maximumDepth) levels")
        }
        let skipped = Set(Self.names(in: attributes["_non_persistent_buffers_set"]))
        for (table, isBuffer) in [("_parameters", false), ("_buffers", true)] {
            for (name, value) in Self.namedEntries(attributes[table]) {
                if isBuffer && skipped.contains(name) { continue }
                if case .none = value { continue }
                let tensor = try convert(value, depth: depth + 1)
                guard case .tensor = tensor else { continue }
                // Keys repeat their module's prefix: bounded like `Checkpoint.tensors`' paths.
                converted.moduleKeyBytes += prefix.utf8.count + name.utf8.count
                guard converted.moduleKeyBytes <= limits.tensorPathBytes else {
                    throw TorchObjectError("pickled modules' keys would take more than \(limits.tensorPathBytes) bytes")
                }
                entries.append((.string(prefix + name), tensor))
            }
        }
        for (name, child) in Self.namedEntries(attributes["_modules"]) {
            guard case .object(let childObject) = child, let childAttributes = Self.attributes(childObject.state)
            else { continue }
            try collectModuleState(childAttributes, prefix: prefix + name + ".", into: &entries, depth: depth + 1)
        }
    }

    /// Entries of a dict or OrderedDict with string keys, in order.
    private static func namedEntries(_ value: PickleValue?) -> [(String, PickleValue)] {
        let pairs: [(key: PickleValue, value: PickleValue)]
        switch value {
        case .dict(let dict)?: pairs = dict.entries
        case .object(let object)?:
            let initial = (object.arguments.first?.asSequence ?? []).compactMap { pair -> (key: PickleValue, value: PickleValue)? in
                guard let parts = pair.asSequence, parts.count == 2 else { return nil }
                return (parts[0], parts[1])
            }
            pairs = initial + object.dictItems
        default: pairs = []
        }
        return pairs.compactMap { entry in entry.key.asString.map { ($0, entry.value) } }
    }

    /// Strings of a set (EMPTY_SET + ADDITEMS, or `builtins.set([...])` in protocol 2).
    private static func names(in value: PickleValue?) -> [String] {
        switch value {
        case .set(let list)?, .list(let list)?: return list.items.compactMap(\.asString)
        case .object(let object)?: return (object.arguments.first?.asSequence ?? []).compactMap(\.asString)
        default: return []
        }
    }
}

struct TorchObjectError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
