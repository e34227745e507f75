import PthKitSupport

/// The values a pickle stream can build. The machine knows nothing about torch: a call to any global
/// is recorded as an inert `PickleObject`, and the layer above decides what, if anything, it means.
public indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer too large for 64 bits, kept as its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case set(PickleList)
    /// A `module.name` reference from GLOBAL or STACK_GLOBAL; never resolved to code.
    case global(module: String, name: String)
    /// The result of REDUCE/NEWOBJ/INST/OBJ on a global, with any BUILD state.
    case object(PickleObject)
    /// BINPERSID/PERSID: the container format says what the id refers to.
    case persistentID(PickleValue)
}

/// Lists are reference types because pickle memoizes them before filling them (APPENDS after PUT).
public final class PickleList: @unchecked Sendable {
    public internal(set) var items: [PickleValue]
    /// Bookkeeping of the machine that built it; see `PickleMachine.nest`.
    var nesting = Nesting()
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// An insertion-ordered dictionary, as Python's dict and OrderedDict are.
public final class PickleDict: @unchecked Sendable {
    public internal(set) var entries: [(key: PickleValue, value: PickleValue)]
    var nesting = Nesting()
    init(_ entries: [(key: PickleValue, value: PickleValue)] = []) { self.entries = entries }

    /// The value under a string key, the way checkpoints are usually indexed.
    public subscript(key: String) -> PickleValue? {
        for entry in entries.reversed() {
            if case .string(let name) = entry.key, name == key { return entry.value }
        }
        return nil
    }
}

/// A call the machine refused to make: what would have been called, with what, and the state BUILD
/// would have set. `listItems`/`dictItems` hold APPENDS/SETITEMS applied to the object itself
/// (as an OrderedDict subclass receives its items).
public final class PickleObject: @unchecked Sendable {
    public let callable: PickleValue
    public let arguments: [PickleValue]
    public internal(set) var state: PickleValue?
    public internal(set) var listItems: [PickleValue] = []
    public internal(set) var dictItems: [(key: PickleValue, value: PickleValue)] = []
    var nesting = Nesting()

    init(callable: PickleValue, arguments: [PickleValue]) {
        self.callable = callable
        self.arguments = arguments
    }

    /// `module.name` of the callable when it is a plain global.
    public var qualifiedName: String? {
        if case let .global(module, name) = callable { return "\(module).\(name)" }
        return nil
    }
}

extension PickleValue {
    public var asString: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var asInt: Int64? {
        switch self {
        case .int(let value): return value
        case .bool(let value): return value ? 1 : 0
        default: return nil
        }
    }

    /// Elements of a tuple or list.
    public var asSequence: [PickleValue]? {
        switch self {
        case .tuple(let items): return items
        case .list(let list): return list.items
        default: return nil
        }
    }

    /// A short description for error messages; never the whole value.
    public var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .set: return "set"
        case let .global(module, name): return "global \(SafeText.name("\(module).\(name)"))"
        case .object(let object): return "object \(SafeText.name(object.qualifiedName ?? "?"))"
        case .persistentID: return "persistent id"
        }
    }
}

/// How deep a mutable container's contents go, how many values it expands to as a tree, and whether
/// it has been placed inside another value. Once placed ("sealed") it may not change, so a parent's
/// figures stay true and no cycle can form.
struct Nesting {
    var depth = 1
    var size = 1
    var sealed = false
}
