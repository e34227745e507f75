/// Writes a `PickleValue` tree as a protocol 2 pickle with the opcodes CPython's pickler uses for the
/// same values, so any unpickler (torch's weights-only one included) reads it as it reads
/// `pickle.dump`'s output. Like the machine it knows nothing about torch: the layer above builds the
/// globals, calls and persistent ids that mean a tensor.
struct PickleWriter {
    private(set) var bytes: [UInt8] = []
    /// Strings and globals already written, by value -> memo index, so repeats become a BINGET as in
    /// CPython, where the same interned string or class object is memoized once.
    private var memo: [MemoKey: UInt32] = [:]

    private enum MemoKey: Hashable {
        case string(String)
        case global(String, String)
        /// A tuple, list, dict or call the value reaches along more than one path.
        case shared(SharedIdentity)
    }
    /// The containers reached along more than one path (see `SharedValues`): written once, then
    /// referred to by BINGET, as CPython's pickler memoizes them, so a value shared 2^k times
    /// costs k steps here and in any reader.
    private var shared: Set<SharedIdentity> = []

    /// CPython's pickler writes SETITEMS and APPENDS in batches of this many items.
    static let batchSize = 1000

    /// PROTO 2, `value`, STOP.
    static func pickle(_ value: PickleValue) -> [UInt8] {
        var writer = PickleWriter()
        writer.shared = SharedValues.count(value)
        writer.bytes = [Opcode.proto.rawValue, 2]
        writer.write(value)
        writer.emit(.stop)
        return writer.bytes
    }

    private mutating func write(_ value: PickleValue) {
        guard let identity = value.sharedIdentity, shared.contains(identity) else { return writeContents(value) }
        if recall(.shared(identity)) { return }
        writeContents(value)
        remember(.shared(identity))
    }

    private mutating func writeContents(_ value: PickleValue) {
        switch value {
        case .none: emit(.none)
        case .bool(let flag): emit(flag ? .newTrue : .newFalse)
        case .int(let number): int(number)
        case .bigInt(let digits): bigInt(digits)
        case .float(let number): float(number)
        case .string(let text): string(text)
        case .bytes(let data):
            // Protocol 2 has no bytes opcode: CPython spells bytes as _codecs.encode(text, "latin1").
            let text = String(String.UnicodeScalarView(data.map { Unicode.Scalar($0) }))
            write(.object(PickleObject(callable: .global(module: "_codecs", name: "encode"), arguments: [.string(text), .string("latin1")])))
        case .tuple(let items): tuple(items)
        case .list(let list):
            emit(.emptyList)
            batches(list.items, single: .append, many: .appends) { $0.write($1) }
        case .dict(let dict):
            emit(.emptyDict)
            setItems(dict.entries)
        case .set(let list):
            // Protocol 2 has no set opcodes: CPython writes set(list).
            write(.object(PickleObject(callable: .global(module: "builtins", name: "set"), arguments: [.list(list)])))
        case let .global(module, name): global(module: module, name: name)
        case .object(let object): call(object)
        case .persistentID(let id):
            write(id)
            emit(.binpersid)
        }
    }

    /// `callable(*arguments)`, then the items and state that make up the rest of its `__reduce__`.
    private mutating func call(_ object: PickleObject) {
        write(object.callable)
        tuple(object.arguments)
        emit(.reduce)
        batches(object.listItems, single: .append, many: .appends) { $0.write($1) }
        setItems(object.dictItems)
        if let state = object.state {
            write(state)
            emit(.build)
        }
    }

    private mutating func tuple(_ items: [PickleValue]) {
        switch items.count {
        case 0:
            emit(.emptyTuple)
        case 1, 2, 3:
            for item in items { write(item) }
            emit(items.count == 1 ? .tuple1 : items.count == 2 ? .tuple2 : .tuple3)
        default:
            emit(.mark)
            for item in items { write(item) }
            emit(.tuple)
        }
    }

    private mutating func setItems(_ entries: [(key: PickleValue, value: PickleValue)]) {
        batches(entries, single: .setitem, many: .setitems) { writer, entry in
            writer.write(entry.key)
            writer.write(entry.value)
        }
    }

    // MARK: - Scalars

    /// The smallest of BININT1, BININT2, BININT and LONG1 that holds `value`, as `save_long` picks.
    private mutating func int(_ value: Int64) {
        if value >= 0 && value <= 0xFF {
            emit(.binint1)
            bytes.append(UInt8(value))
        } else if value >= 0 && value <= 0xFFFF {
            emit(.binint2)
            appendLittleEndian(UInt16(value))
        } else if value >= Int64(Int32.min) && value <= Int64(Int32.max) {
            emit(.binint)
            appendLittleEndian(UInt32(bitPattern: Int32(value)))
        } else {
            bigInt(Self.minimalTwosComplement(value))
        }
    }

    /// An integer given as little-endian two's-complement bytes (any width).
    private mutating func bigInt(_ littleEndian: [UInt8]) {
        if littleEndian.count <= 0xFF {
            emit(.long1)
            bytes.append(UInt8(littleEndian.count))
        } else {
            emit(.long4)
            appendLittleEndian(UInt32(truncatingIfNeeded: littleEndian.count))
        }
        bytes += littleEndian
    }

    /// BINFLOAT stores the double big-endian, unlike every other number in a pickle.
    private mutating func float(_ value: Double) {
        emit(.binfloat)
        let bits = value.bitPattern
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    private mutating func string(_ text: String) {
        if recall(.string(text)) { return }
        let utf8 = Array(text.utf8)
        emit(.binunicode)
        appendLittleEndian(UInt32(truncatingIfNeeded: utf8.count))
        bytes += utf8
        remember(.string(text))
    }

    /// `module.name`, never resolved: the reader's allowlist decides what it may mean.
    private mutating func global(module: String, name: String) {
        if recall(.global(module, name)) { return }
        emit(.global)
        bytes += Array(module.utf8) + [0x0A] + Array(name.utf8) + [0x0A]
        remember(.global(module, name))
    }

    // MARK: - Bytes

    private mutating func batches<Item>(
        _ items: [Item], single: Opcode, many: Opcode, item: (inout PickleWriter, Item) -> Void
    ) {
        var start = 0
        while start < items.count {
            let batch = items[start..<min(start + Self.batchSize, items.count)]
            if batch.count == 1 {
                item(&self, batch[batch.startIndex])
                emit(single)
            } else {
                emit(.mark)
                for element in batch { item(&self, element) }
                emit(many)
            }
            start += batch.count
        }
    }

    private mutating func recall(_ key: MemoKey) -> Bool {
        guard let index = memo[key] else { return false }
        emit(index <= 0xFF ? .binget : .longBinget, memoIndex: index)
        return true
    }

    private mutating func remember(_ key: MemoKey) {
        let index = UInt32(memo.count)
        memo[key] = index
        emit(index <= 0xFF ? .binput : .longBinput, memoIndex: index)
    }

    /// The one-byte forms (BINGET, BINPUT) serve the first 256 memo entries, the four-byte ones the rest.
    private mutating func emit(_ opcode: Opcode, memoIndex index: UInt32) {
        emit(opcode)
        if index <= 0xFF { bytes.append(UInt8(index)) } else { appendLittleEndian(index) }
    }

    private mutating func emit(_ opcode: Opcode) {
        bytes.append(opcode.rawValue)
    }

    private mutating func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    /// `value`'s two's-complement bytes without redundant sign bytes, as CPython's `encode_long`.
    static func minimalTwosComplement(_ value: Int64) -> [UInt8] {
        var result = withUnsafeBytes(of: value.littleEndian) { Array($0) }
        while result.count > 1 {
            let last = result[result.count - 1], previous = result[result.count - 2]
            let redundant = (last == 0 && previous & 0x80 == 0) || (last == 0xFF && previous & 0x80 != 0)
            guard redundant else { break }
            result.removeLast()
        }
        return result
    }
}

/// Finds the containers of a pickle value that are reached along more than one path, walking
/// each once.
enum SharedValues {
    static func count(_ root: PickleValue) -> Set<SharedIdentity> {
        var seen = Set<SharedIdentity>()
        var shared = Set<SharedIdentity>()
        var pending = [root]
        while let value = pending.popLast() {
            if let identity = value.sharedIdentity {
                guard seen.insert(identity).inserted else {
                    shared.insert(identity)
                    continue
                }
            }
            switch value {
            case .tuple(let items): pending += items
            case .list(let list), .set(let list): pending += list.items
            case .dict(let dict): for entry in dict.entries { pending += [entry.key, entry.value] }
            case .object(let object):
                pending += [object.callable] + object.arguments + object.listItems
                for entry in object.dictItems { pending += [entry.key, entry.value] }
                if let state = object.state { pending.append(state) }
            case .persistentID(let id): pending.append(id)
            default: break
            }
        }
        return shared
    }
}

extension PickleValue {
    /// The identity of a container a pickle may share along many paths.
    var sharedIdentity: SharedIdentity? {
        switch self {
        case .tuple(let items): return SharedIdentity(items)
        case .list(let list), .set(let list): return SharedIdentity(list)
        case .dict(let dict): return SharedIdentity(dict)
        case .object(let object): return SharedIdentity(object)
        default: return nil
        }
    }
}
