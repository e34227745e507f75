/// The object tree of a checkpoint after torch's allowlisted constructors have been interpreted:
/// tensors are real tensors, OrderedDicts are dictionaries, pickled modules are their state dicts,
/// and anything else is an inert record of what the file asked for.
public indirect enum CheckpointValue: Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tensor(TensorData)
    case list([CheckpointValue])
    case tuple([CheckpointValue])
    case dict(CheckpointDict)
    /// A pickled `nn.Module` (from `torch.save(model)`): its class and the state dict `state_dict()`
    /// would return, found from `_parameters`, `_buffers` and `_modules` without running its code.
    case module(typeName: String, stateDict: CheckpointDict)
    /// A global or call outside the allowlist, recorded and never performed.
    case opaque(name: String, arguments: [CheckpointValue])
}

/// An insertion-ordered dictionary, with the `_metadata` torch attaches to state dicts.
public struct CheckpointDict: Sendable {
    public var entries: [(key: CheckpointValue, value: CheckpointValue)]
    /// `_metadata` of a state dict: module prefix -> its `version` (nil where the entry has none).
    /// nil when the dict carries no `_metadata` at all, as in old checkpoints.
    public var metadata: [String: Int?]?

    public init(entries: [(key: CheckpointValue, value: CheckpointValue)] = [], metadata: [String: Int?]? = nil) {
        self.entries = entries
        self.metadata = metadata
    }

    /// The value under a string key (the last one wins, as in Python).
    public subscript(key: String) -> CheckpointValue? {
        for entry in entries.reversed() where entry.key.pathComponent == key { return entry.value }
        return nil
    }
}

extension CheckpointValue {
    /// How a dictionary key or list index appears in a dotted path (`optimizer.state.0`).
    public var pathComponent: String {
        switch self {
        case .string(let text): return text
        case .int(let value): return String(value)
        case .bool(let value): return value ? "True" : "False"
        case .float(let value): return String(value)
        case .none: return "None"
        case .tuple(let items): return "(" + items.map(\.pathComponent).joined(separator: ", ") + ")"
        default: return "<\(kindName)>"
        }
    }

    public var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tensor: return "tensor"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .module(let typeName, _): return "module \(SafeText.name(typeName))"
        case .opaque(let name, _): return SafeText.name(name)
        }
    }

    /// Every tensor under this value with its dotted path, in the order the pickle holds them.
    public func flattenedTensors(prefix: String = "") -> [(key: String, tensor: TensorData)] {
        var result: [(key: String, tensor: TensorData)] = []
        collectTensors(prefix: prefix, into: &result)
        return result
    }

    /// Bytes the dotted paths of `flattenedTensors` would take, or nil once past `limit`. Paths
    /// repeat their prefixes, so a deep chain of long keys above many tensors would make memory
    /// quadratic in the file; the reader measures this (in linear time) before anything flattens.
    func tensorPathBytes(limit: Int) -> Int? {
        var total = 0
        return addTensorPathBytes(prefixLength: 0, to: &total, limit: limit) ? total : nil
    }

    private func addTensorPathBytes(prefixLength: Int, to total: inout Int, limit: Int) -> Bool {
        func joined(_ component: String) -> Int {
            prefixLength == 0 ? component.utf8.count : prefixLength + 1 + component.utf8.count
        }
        switch self {
        case .tensor:
            total += prefixLength
            return total <= limit
        case .list(let items), .tuple(let items):
            for (index, item) in items.enumerated()
            where !item.addTensorPathBytes(prefixLength: joined(String(index)), to: &total, limit: limit) {
                return false
            }
            return true
        case .dict(let dict), .module(_, let dict):
            for entry in dict.entries
            where !entry.value.addTensorPathBytes(prefixLength: joined(entry.key.pathComponent), to: &total, limit: limit) {
                return false
            }
            return true
        default:
            return true
        }
    }

    private func collectTensors(prefix: String, into result: inout [(key: String, tensor: TensorData)]) {
        func join(_ component: String) -> String { prefix.isEmpty ? component : prefix + "." + component }
        switch self {
        case .tensor(let tensor):
            result.append((prefix, tensor))
        case .list(let items), .tuple(let items):
            for (index, item) in items.enumerated() { item.collectTensors(prefix: join(String(index)), into: &result) }
        case .dict(let dict), .module(_, let dict):
            for entry in dict.entries { entry.value.collectTensors(prefix: join(entry.key.pathComponent), into: &result) }
        default:
            break
        }
    }
}
