import PthKitSupport

/// A pickle virtual machine (protocols 0-5) that builds values and never executes anything.
///
/// Every global stays a name and every call (REDUCE, NEWOBJ, INST, OBJ) stays an inert `PickleObject`,
/// so a file that names `os.system` or `builtins.eval` yields data describing that call, not the call.
/// Interpreting allowlisted constructors (torch's tensor rebuilders, OrderedDict, ...) is the job of
/// the layer above.
public struct PickleMachine {
    /// Deeper values are refused: recursive walks over the result (and their deallocation) stay
    /// far from any thread's stack limit, while real checkpoints nest a few dozen levels at most.
    public static let maximumDepth = 500

    /// How many values a walk that treats the result as a tree may visit, for a stream of
    /// `streamBytes` bytes. Memo (PUT/GET) and DUP share a value without copying it, so a few bytes
    /// of `DUP TUPLE2` repeated k times reach one value through 2^k paths; every consumer that walks
    /// the result (the object reader, key flattening, hashing, rewriting) would repeat that work. A
    /// value whose expansion passes this bound is refused, which keeps every such walk linear in the
    /// file. Real checkpoints expand to far fewer values than they have bytes.
    public static func maximumExpansion(streamBytes: Int) -> Int {
        let (scaled, overflow) = streamBytes.multipliedReportingOverflow(by: 16)
        return overflow ? Int.max : (1 << 16) &+ scaled
    }

    static let expansionRule = "at most 65536 plus 16 per byte of the stream"

    /// Runs the pickle that starts at `offset` and returns its value and the offset just past STOP.
    public static func load(
        _ bytes: UnsafeRawBufferPointer, from offset: Int = 0
    ) throws -> (value: PickleValue, end: Int) {
        var machine = PickleMachine(
            reader: PickleReader(bytes: bytes, position: offset),
            expansionLimit: maximumExpansion(streamBytes: max(0, bytes.count - offset)))
        let value = try machine.run()
        return (value, machine.reader.position)
    }

    public static func load(_ bytes: [UInt8]) throws -> PickleValue {
        try bytes.withUnsafeBytes { try load($0).value }
    }

    /// A stack slot: the value and, for immutable values, how deep it nests and how many values it
    /// expands to as a tree (mutable containers keep their own live figures).
    private struct Entry {
        var value: PickleValue
        var depth: Int
        var size = 1
    }

    private var reader: PickleReader
    private var stack: [Entry] = []
    private var marks: [Int] = []
    private var memo: [Int: Entry] = [:]
    private var opcodeOffset = 0
    private let expansionLimit: Int

    private init(reader: PickleReader, expansionLimit: Int) {
        self.reader = reader
        self.expansionLimit = expansionLimit
    }

    // MARK: - The loop

    private mutating func run() throws -> PickleValue {
        while reader.remaining > 0 {
            opcodeOffset = reader.position
            let code = try reader.byte()
            guard let opcode = Opcode(rawValue: code) else {
                throw PickleError(offset: opcodeOffset, problem: .unknownOpcode(code))
            }
            do {
                if opcode == .stop { return try pop(opcode).value }
                try execute(opcode)
            } catch var error as PickleError {
                // Name the opcode in errors raised while reading its arguments.
                if error.opcode == nil { error.opcode = opcode.description }
                throw error
            }
        }
        throw PickleError(offset: reader.position, problem: .noStop)
    }

    private mutating func execute(_ opcode: Opcode) throws {
        switch opcode {
        case .proto:
            let version = try reader.byte()
            guard version <= 5 else { throw bad(opcode, "protocol \(version) is newer than 5") }
        case .frame:
            _ = try reader.length(width: 8)  // Framing only groups bytes; the contents follow inline.
        case .stop:
            break  // Handled by the loop.

        // Stack and memo
        case .mark: marks.append(stack.count)
        case .pop:
            if let mark = marks.last, mark == stack.count {
                marks.removeLast()
            } else {
                _ = try pop(opcode)
            }
        case .popMark: _ = try popToMark(opcode)
        case .dup: push(try top(opcode))
        case .put: memo[try textInteger(opcode)] = try top(opcode)
        case .binput: memo[Int(try reader.byte())] = try top(opcode)
        case .longBinput: memo[Int(try reader.unsigned(width: 4))] = try top(opcode)
        case .memoize: memo[memo.count] = try top(opcode)
        case .get: try pushMemo(try textInteger(opcode))
        case .binget: try pushMemo(Int(try reader.byte()))
        case .longBinget: try pushMemo(Int(try reader.unsigned(width: 4)))

        // Scalars
        case .none: push(.none)
        case .newTrue: push(.bool(true))
        case .newFalse: push(.bool(false))
        case .int: push(try textInt(opcode))
        case .binint: push(.int(Int64(try reader.int32())))
        case .binint1: push(.int(Int64(try reader.byte())))
        case .binint2: push(.int(Int64(try reader.unsigned(width: 2))))
        case .long: push(try textLong(opcode))
        case .long1: push(Self.twosComplement(try reader.take(try reader.length(width: 1))))
        case .long4: push(Self.twosComplement(try reader.take(try reader.length(width: 4))))
        case .float:
            let text = String(decoding: try reader.line(), as: UTF8.self)
            guard let value = Double(text) else { throw bad(opcode, "not a float: \(SafeText.name(text, limit: 40))") }
            push(.float(value))
        case .binfloat: push(.float(try reader.double()))

        // Text and bytes
        case .binunicode: push(.string(try reader.utf8(try reader.length(width: 4), opcode: "\(opcode)")))
        case .shortBinunicode: push(.string(try reader.utf8(try reader.length(width: 1), opcode: "\(opcode)")))
        case .binunicode8: push(.string(try reader.utf8(try reader.length(width: 8), opcode: "\(opcode)")))
        case .unicode: push(.string(PickleText.rawUnicodeEscape(try reader.line())))
        case .string: push(.string(try PickleText.quotedString(try reader.line(), offset: opcodeOffset)))
        case .binstring: push(.string(PickleText.legacyString(try reader.take(try reader.length(width: 4)))))
        case .shortBinstring: push(.string(PickleText.legacyString(try reader.take(try reader.length(width: 1)))))
        case .binbytes: push(.bytes(try reader.take(try reader.length(width: 4))))
        case .shortBinbytes: push(.bytes(try reader.take(try reader.length(width: 1))))
        case .binbytes8, .bytearray8: push(.bytes(try reader.take(try reader.length(width: 8))))
        case .nextBuffer, .readonlyBuffer:
            throw PickleError(offset: opcodeOffset, problem: .unsupported("out-of-band buffers are not supported"))

        // Containers
        case .emptyTuple: push(.tuple([]))
        case .tuple1, .tuple2, .tuple3:
            let count = Int(opcode.rawValue - Opcode.tuple1.rawValue) + 1
            guard stack.count - (marks.last ?? 0) >= count else { throw underflow(opcode) }
            let items = Array(stack.suffix(count))
            stack.removeLast(count)
            try pushTuple(items)
        case .tuple: try pushTuple(try popToMark(opcode))
        case .emptyList: push(.list(PickleList()))
        case .list:
            let list = PickleList()
            try fill(list, with: try popToMark(opcode))
            push(.list(list))
        case .emptyDict: push(.dict(PickleDict()))
        case .dict:
            let dict = PickleDict()
            try fill(dict, with: try popToMark(opcode), opcode: opcode)
            push(.dict(dict))
        case .emptySet: push(.set(PickleList()))
        case .frozenset:
            let set = PickleList()
            try fill(set, with: try popToMark(opcode))
            push(.set(set))
        case .append:
            let item = try pop(opcode)
            try appendItems([item], to: try top(opcode), opcode: opcode)
        case .appends, .additems:
            let items = try popToMark(opcode)
            try appendItems(items, to: try top(opcode), opcode: opcode)
        case .setitem:
            let value = try pop(opcode)
            let key = try pop(opcode)
            try setItems([key, value], on: try top(opcode), opcode: opcode)
        case .setitems:
            let items = try popToMark(opcode)
            try setItems(items, on: try top(opcode), opcode: opcode)

        // Names and calls: recorded, never performed
        case .global:
            let module = String(decoding: try reader.line(), as: UTF8.self)
            let name = String(decoding: try reader.line(), as: UTF8.self)
            push(.global(module: module, name: name))
        case .stackGlobal:
            let name = try pop(opcode).value
            let module = try pop(opcode).value
            guard let moduleName = module.asString, let globalName = name.asString else {
                throw bad(opcode, "expects two strings, got \(module.kindName) and \(name.kindName)")
            }
            push(.global(module: moduleName, name: globalName))
        case .ext1, .ext2, .ext4:
            let width = opcode == .ext1 ? 1 : (opcode == .ext2 ? 2 : 4)
            let code = try reader.unsigned(width: width)
            push(.global(module: "copyreg._extension_registry", name: String(code)))
        case .reduce:
            let arguments = try pop(opcode)
            let callable = try pop(opcode)
            try pushCall(callable, arguments: arguments, opcode: opcode)
        case .newobj:
            let arguments = try pop(opcode)
            let type = try pop(opcode)
            try pushCall(type, arguments: arguments, opcode: opcode)
        case .newobjEx:
            let keywords = try pop(opcode)
            let arguments = try pop(opcode)
            let type = try pop(opcode)
            try pushCall(type, arguments: arguments, opcode: opcode, keywords: keywords)
        case .inst:
            let module = String(decoding: try reader.line(), as: UTF8.self)
            let name = String(decoding: try reader.line(), as: UTF8.self)
            let arguments = try popToMark(opcode)
            try pushCall(Entry(value: .global(module: module, name: name), depth: 1), arguments: arguments, opcode: opcode)
        case .obj:
            var items = try popToMark(opcode)
            guard !items.isEmpty else { throw underflow(opcode) }
            let type = items.removeFirst()
            try pushCall(type, arguments: items, opcode: opcode)
        case .build:
            let state = try pop(opcode)
            let target = try top(opcode)
            guard case .object(let object) = target.value else {
                throw bad(opcode, "cannot set state on \(target.value.kindName)")
            }
            try requireOpen(object.nesting, opcode: opcode)
            let nested = try nest(state)
            object.nesting.depth = max(object.nesting.depth, nested.depth + 1)
            object.nesting.size = try grow(object.nesting.size, by: nested.size)
            object.state = state.value
        case .persid:
            let id = try PickleText.quotedOrPlain(try reader.line())
            push(.persistentID(.string(id)))
        case .binpersid:
            let id = try pop(opcode)
            let nested = try nest(id)
            try checkDepth(nested.depth + 1)
            push(Entry(value: .persistentID(id.value), depth: nested.depth + 1, size: try grow(nested.size, by: 1)))
        }
    }

    // MARK: - Stack helpers

    private mutating func push(_ value: PickleValue) {
        stack.append(Entry(value: value, depth: 1))
    }

    private mutating func push(_ entry: Entry) {
        stack.append(entry)
    }

    private mutating func pop(_ opcode: Opcode) throws -> Entry {
        guard stack.count > (marks.last ?? 0) else { throw underflow(opcode) }
        return stack.removeLast()
    }

    private func top(_ opcode: Opcode) throws -> Entry {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else { throw underflow(opcode) }
        return last
    }

    private mutating func popToMark(_ opcode: Opcode) throws -> [Entry] {
        guard let mark = marks.popLast() else {
            throw PickleError(offset: opcodeOffset, problem: .noMark(opcode: "\(opcode)"))
        }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func pushMemo(_ index: Int) throws {
        guard let entry = memo[index] else {
            throw PickleError(offset: opcodeOffset, problem: .memoMiss(index: index))
        }
        stack.append(entry)
    }

    // MARK: - Nesting bookkeeping

    /// Seals a value that is being placed inside another and returns its depth and expanded size. A
    /// mutable container that is sealed can no longer change, which keeps recorded figures true and
    /// rules out cycles.
    private func nest(_ entry: Entry) throws -> (depth: Int, size: Int) {
        switch entry.value {
        case .list(let list), .set(let list):
            list.nesting.sealed = true
            return (list.nesting.depth, list.nesting.size)
        case .dict(let dict):
            dict.nesting.sealed = true
            return (dict.nesting.depth, dict.nesting.size)
        case .object(let object):
            object.nesting.sealed = true
            return (object.nesting.depth, object.nesting.size)
        default:
            return (entry.depth, entry.size)
        }
    }

    /// `size + added`, refused past the expansion limit (see `maximumExpansion`).
    private func grow(_ size: Int, by added: Int) throws -> Int {
        let (total, overflow) = size.addingReportingOverflow(added)
        guard !overflow, total <= expansionLimit else {
            throw PickleError(offset: opcodeOffset, problem: .tooLarge(limit: expansionLimit))
        }
        return total
    }

    private func checkDepth(_ depth: Int) throws {
        guard depth <= Self.maximumDepth else {
            throw PickleError(offset: opcodeOffset, problem: .tooDeep(limit: Self.maximumDepth))
        }
    }

    private func requireOpen(_ nesting: Nesting, opcode: Opcode) throws {
        guard !nesting.sealed else {
            throw bad(opcode, "modifies a value that is already nested in another (recursive structure)")
        }
    }

    /// Depth and expanded size of a new container holding `items`, checked against the limits.
    private func depthOfContainer(holding items: [Entry]) throws -> (depth: Int, size: Int) {
        var deepest = 0
        var size = 1
        for item in items {
            let nested = try nest(item)
            deepest = max(deepest, nested.depth)
            size = try grow(size, by: nested.size)
        }
        try checkDepth(deepest + 1)
        return (deepest + 1, size)
    }

    private mutating func pushTuple(_ items: [Entry]) throws {
        let container = try depthOfContainer(holding: items)
        push(Entry(value: .tuple(items.map(\.value)), depth: container.depth, size: container.size))
    }

    private func fill(_ list: PickleList, with items: [Entry]) throws {
        let container = try depthOfContainer(holding: items)
        list.nesting.depth = container.depth
        list.nesting.size = container.size
        list.items = items.map(\.value)
    }

    private func fill(_ dict: PickleDict, with items: [Entry], opcode: Opcode) throws {
        let container = try depthOfContainer(holding: items)
        dict.nesting.depth = container.depth
        dict.nesting.size = container.size
        dict.entries = try Self.pairs(items, opcode: opcode, offset: opcodeOffset)
    }

    /// The live figures of a mutable container after `items` are added to it.
    private func grown(_ nesting: Nesting, adding items: (depth: Int, size: Int)) throws -> Nesting {
        var result = nesting
        result.depth = max(nesting.depth, items.depth)
        result.size = try grow(nesting.size, by: items.size - 1)
        return result
    }

    private func appendItems(_ items: [Entry], to target: Entry, opcode: Opcode) throws {
        let added = try depthOfContainer(holding: items)
        switch target.value {
        case .list(let list), .set(let list):
            try requireOpen(list.nesting, opcode: opcode)
            list.nesting = try grown(list.nesting, adding: added)
            list.items.append(contentsOf: items.map(\.value))
        case .object(let object):
            // A list subclass rebuilt by REDUCE receives its items this way.
            try requireOpen(object.nesting, opcode: opcode)
            object.nesting = try grown(object.nesting, adding: added)
            object.listItems.append(contentsOf: items.map(\.value))
        default:
            throw bad(opcode, "cannot append to \(target.value.kindName)")
        }
    }

    private func setItems(_ items: [Entry], on target: Entry, opcode: Opcode) throws {
        let added = try depthOfContainer(holding: items)
        let pairs = try Self.pairs(items, opcode: opcode, offset: opcodeOffset)
        switch target.value {
        case .dict(let dict):
            try requireOpen(dict.nesting, opcode: opcode)
            dict.nesting = try grown(dict.nesting, adding: added)
            dict.entries.append(contentsOf: pairs)
        case .object(let object):
            // OrderedDict and other dict subclasses rebuilt by REDUCE receive their items this way.
            try requireOpen(object.nesting, opcode: opcode)
            object.nesting = try grown(object.nesting, adding: added)
            object.dictItems.append(contentsOf: pairs)
        default:
            throw bad(opcode, "cannot set items on \(target.value.kindName)")
        }
    }

    private mutating func pushCall(
        _ callable: Entry, arguments: Entry, opcode: Opcode, keywords: Entry? = nil
    ) throws {
        guard let positional = arguments.value.asSequence else {
            throw bad(opcode, "arguments must be a tuple, got \(arguments.value.kindName)")
        }
        var parts = [callable, arguments]
        if let keywords { parts.append(keywords) }
        let object = PickleObject(callable: callable.value, arguments: positional)
        let container = try depthOfContainer(holding: parts)
        object.nesting.depth = container.depth
        object.nesting.size = container.size
        if let keywords { object.dictItems = [(key: .string("**kwargs"), value: keywords.value)] }
        push(.object(object))
    }

    private mutating func pushCall(_ callable: Entry, arguments: [Entry], opcode: Opcode) throws {
        let container = try depthOfContainer(holding: arguments)
        try pushCall(
            callable, arguments: Entry(value: .tuple(arguments.map(\.value)), depth: container.depth, size: container.size),
            opcode: opcode)
    }

    private static func pairs(
        _ items: [Entry], opcode: Opcode, offset: Int
    ) throws -> [(key: PickleValue, value: PickleValue)] {
        guard items.count % 2 == 0 else {
            throw PickleError(offset: offset, problem: .badArgument(opcode: "\(opcode)", reason: "odd number of items"))
        }
        return stride(from: 0, to: items.count, by: 2).map { (key: items[$0].value, value: items[$0 + 1].value) }
    }

    // MARK: - Number parsing

    private mutating func textInteger(_ opcode: Opcode) throws -> Int {
        let text = String(decoding: try reader.line(), as: UTF8.self)
        guard let value = Int(text), value >= 0 else { throw bad(opcode, "not an index: \(SafeText.name(text, limit: 40))") }
        return value
    }

    private mutating func textInt(_ opcode: Opcode) throws -> PickleValue {
        let text = String(decoding: try reader.line(), as: UTF8.self)
        // Protocol 0 spells booleans as INT 01/00.
        if text == "01" { return .bool(true) }
        if text == "00" { return .bool(false) }
        guard let value = Int64(text) else { throw bad(opcode, "not an integer: \(SafeText.name(text, limit: 40))") }
        return .int(value)
    }

    private mutating func textLong(_ opcode: Opcode) throws -> PickleValue {
        var text = String(decoding: try reader.line(), as: UTF8.self)
        if text.hasSuffix("L") { text.removeLast() }
        guard let value = Int64(text) else {
            throw PickleError(offset: opcodeOffset, problem: .unsupported("LONG beyond 64 bits in text form"))
        }
        return .int(value)
    }

    /// LONG1/LONG4 payload: little-endian two's complement of any width.
    static func twosComplement(_ bytes: [UInt8]) -> PickleValue {
        guard !bytes.isEmpty else { return .int(0) }
        guard bytes.count <= 8 else { return .bigInt(bytes) }
        var value: UInt64 = 0
        for (index, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        let unusedBits = UInt64(64 - 8 * bytes.count)
        // Shift the sign bit to the top and back to sign-extend.
        return .int(Int64(bitPattern: value << unusedBits) >> Int64(unusedBits))
    }

    private func bad(_ opcode: Opcode, _ reason: String) -> PickleError {
        PickleError(offset: opcodeOffset, problem: .badArgument(opcode: "\(opcode)", reason: reason))
    }

    private func underflow(_ opcode: Opcode) -> PickleError {
        PickleError(offset: opcodeOffset, problem: .stackUnderflow(opcode: "\(opcode)"))
    }
}
