import PthKitSupport

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
        case .tuple(let items):
            // A tuple key may nest shared tuples (2^k leaves from k DUPs): spelled out to a bound.
            var text = "("
            for (index, item) in items.enumerated() {
                if index > 0 { text += ", " }
                text += item.pathComponent
                if text.utf8.count > Self.pathComponentLimit { return String(text.prefix(Self.pathComponentLimit)) + "…" }
            }
            return text + ")"
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

    /// Characters of a tuple key spelled out in a path before it is cut with an ellipsis.
    static let pathComponentLimit = 256

    /// Every tensor under this value with its dotted path, in the order the pickle holds them.
    /// A value shared along many paths (tied weights, a file's DUP'ed tuples) is listed under each,
    /// but a shared part holding no tensor is walked once.
    public func flattenedTensors(prefix: String = "") -> [(key: String, tensor: TensorData)] {
        var result: [(key: String, tensor: TensorData)] = []
        collectTensors(prefix: prefix, into: &result, paths: TensorPathCounter())
        return result
    }

    /// Bytes the dotted paths of `flattenedTensors` would take, or nil past `limit`. Paths repeat
    /// their prefixes, so a deep chain of long keys above many tensors, or tuples shared 2^k times,
    /// would make memory explode; this counts them in time linear in the distinct values.
    func tensorPathBytes(limit: Int) -> Int? {
        let total = TensorPathCounter().totalBytes(self)
        return total <= limit ? total : nil
    }

    /// Whether any tensor lies under this value, each shared part looked at once.
    var containsTensors: Bool { TensorPathCounter().summary(self).count > 0 }

    /// The children of a container with the path component each adds.
    fileprivate func forEachChild(_ body: (String, CheckpointValue) -> Void) {
        switch self {
        case .list(let items), .tuple(let items):
            for (index, item) in items.enumerated() { body(String(index), item) }
        case .dict(let dict), .module(_, let dict):
            for entry in dict.entries { body(entry.key.pathComponent, entry.value) }
        default:
            break
        }
    }

    /// The identity of a container whose contents a file may share along many paths.
    fileprivate var sharedIdentity: SharedIdentity? {
        switch self {
        case .list(let items), .tuple(let items): return SharedIdentity(items)
        case .dict(let dict), .module(_, let dict): return SharedIdentity(dict.entries)
        default: return nil
        }
    }

    private func collectTensors(
        prefix: String, into result: inout [(key: String, tensor: TensorData)], paths: TensorPathCounter
    ) {
        if case .tensor(let tensor) = self {
            result.append((prefix, tensor))
            return
        }
        guard paths.summary(self).count > 0 else { return }
        forEachChild { component, child in
            child.collectTensors(prefix: prefix.isEmpty ? component : prefix + "." + component, into: &result, paths: paths)
        }
    }
}

/// Counts the tensor paths under each value once, by identity: how many there are and the bytes
/// each adds below the value (a dot and its relative path), saturating instead of overflowing.
final class TensorPathCounter {
    struct Summary {
        var count = 0
        var bytes = 0
    }
    private var known: [SharedIdentity: Summary] = [:]

    func summary(_ value: CheckpointValue) -> Summary {
        if case .tensor = value { return Summary(count: 1, bytes: 0) }
        let identity = value.sharedIdentity
        if let identity, let done = known[identity] { return done }
        var result = Summary()
        value.forEachChild { component, child in
            let below = summary(child)
            result.count = Self.sum(result.count, below.count)
            result.bytes = Self.sum(result.bytes, Self.sum(below.bytes, Self.product(below.count, 1 + component.utf8.count)))
        }
        if let identity { known[identity] = result }
        return result
    }

    /// Bytes of every dotted path from `root`, whose own children's paths start without a dot.
    func totalBytes(_ root: CheckpointValue) -> Int {
        if case .tensor = root { return 0 }
        let whole = summary(root)
        return whole.bytes - whole.count
    }

    private static func sum(_ a: Int, _ b: Int) -> Int {
        let (total, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : total
    }

    private static func product(_ a: Int, _ b: Int) -> Int {
        let (total, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? Int.max : total
    }
}
