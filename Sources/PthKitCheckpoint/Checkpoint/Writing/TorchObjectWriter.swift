/// Turns an object tree into the pickle objects `torch.save` writes for it, collecting tensor data as
/// storages: the inverse of `TorchObjectReader`, limited to what `torch.load(weights_only=True)` reads.
struct TorchObjectWriter {
    /// The pickle and the storages it refers to, keyed as their `data/<key>` records are named.
    struct Output {
        let pickle: [UInt8]
        let storages: [(key: String, bytes: [UInt8])]
    }

    private var storages: [(key: String, bytes: [UInt8])] = []
    /// Storage keys by the address of the bytes they were written from: a tensor the tree holds in
    /// several places (a tied weight, or a value a hostile file shares along thousands of paths) is
    /// written once and shared, as torch shares it.
    private var keysByBuffer: [BufferIdentity: String] = [:]
    /// Containers already converted, by identity: a value the tree shares along many paths (up to
    /// 2^k from a file's DUP'ed tuples) becomes one shared pickle value, which `PickleWriter` writes
    /// once and refers back to, as torch.save's pickler memoizes it.
    private var converted: [SharedIdentity: PickleValue] = [:]

    private struct BufferIdentity: Hashable {
        let bytes: TensorBytes.Identity
        let dtype: DType
    }
    private let file: String

    private init(file: String) {
        self.file = file
    }

    /// `file` names the destination in errors.
    static func write(_ root: CheckpointValue, file: String) throws -> Output {
        var writer = TorchObjectWriter(file: file)
        let value = try writer.convert(root, path: "")
        return Output(pickle: PickleWriter.pickle(value), storages: writer.storages)
    }

    private mutating func convert(_ value: CheckpointValue, path: String) throws -> PickleValue {
        switch value {
        case .none: return .none
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .int(number)
        case .bigInt(let digits): return .bigInt(digits)
        case .float(let number): return .float(number)
        case .string(let text): return .string(text)
        case .bytes(let data): return .bytes(data)
        case .tensor(let tensor): return try convert(tensor, path: path)
        case .list(let items):
            return try memoized(SharedIdentity(items)) { writer in
                .list(PickleList(try items.enumerated().map { try writer.convert($1, path: Self.join(path, String($0))) }))
            }
        case .tuple(let items):
            return try memoized(SharedIdentity(items)) { writer in
                .tuple(try items.enumerated().map { try writer.convert($1, path: Self.join(path, String($0))) })
            }
        case .dict(let dict): return try memoized(SharedIdentity(dict.entries)) { try $0.convert(dict, path: path) }
        case .module(let typeName, _):
            throw failure(path, .unwritable(
                "it is a pickled module (\(typeName)), which torch.load(weights_only=True) refuses; write its state dict instead"))
        case .opaque(let name, _):
            throw failure(path, .unwritable("it is \(name), which torch.load(weights_only=True) does not allow"))
        }
    }

    private mutating func memoized(
        _ identity: SharedIdentity?, _ make: (inout TorchObjectWriter) throws -> PickleValue
    ) rethrows -> PickleValue {
        if let identity, let done = converted[identity] { return done }
        let value = try make(&self)
        if let identity { converted[identity] = value }
        return value
    }

    /// A dict with `_metadata` is the OrderedDict `state_dict()` returns, `_metadata` its attribute
    /// (restored by BUILD, as pickling an OrderedDict carries its `__dict__`); others are plain dicts.
    private mutating func convert(_ dict: CheckpointDict, path: String) throws -> PickleValue {
        var entries: [(key: PickleValue, value: PickleValue)] = []
        for entry in dict.entries {
            let entryPath = Self.join(path, entry.key.pathComponent)
            switch entry.key {
            case .list, .dict, .tensor, .module, .opaque:
                throw failure(entryPath, .unwritable("a \(entry.key.kindName) cannot be a dict key"))
            default:
                entries.append((try convert(entry.key, path: path), try convert(entry.value, path: entryPath)))
            }
        }
        guard let metadata = dict.metadata else { return .dict(PickleDict(entries)) }
        let orderedDict = Self.orderedDict(entries)
        orderedDict.state = .dict(PickleDict([(.string("_metadata"), Self.metadata(metadata))]))
        return .object(orderedDict)
    }

    /// `_metadata`: module path -> `{"version": n}` (an empty dict where the version is unknown),
    /// sorted so that the same state dict always gives the same bytes.
    private static func metadata(_ metadata: [String: Int?]) -> PickleValue {
        .object(orderedDict(metadata.sorted { $0.key < $1.key }.map { path, version in
            let fields: [(key: PickleValue, value: PickleValue)] = version.map { [(.string("version"), .int(Int64($0)))] } ?? []
            return (.string(path), .dict(PickleDict(fields)))
        }))
    }

    /// `OrderedDict()` followed by SETITEMS, as pickle writes an OrderedDict.
    private static func orderedDict(_ entries: [(key: PickleValue, value: PickleValue)]) -> PickleObject {
        let object = PickleObject(callable: .global(module: "collections", name: "OrderedDict"), arguments: [])
        object.dictItems = entries
        return object
    }

    /// `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())` with the storage as the
    /// persistent id `("storage", torch.<X>Storage, key, "cpu", numel)` torch.save's `persistent_id`
    /// gives. A dense tensor is its own storage; a view is written as torch writes it, its whole
    /// storage (once, however many views share it) with the view's offset and strides.
    private mutating func convert(_ tensor: TensorData, path: String) throws -> PickleValue {
        let size = tensor.dtype.byteSize
        let storageElements: Int, offset: Int, strides: [Int]
        if let layout = tensor.layout {
            (storageElements, offset, strides) = (tensor.storage.count / size, layout.offset, layout.strides)
        } else {
            guard let count = Self.elementCount(tensor.shape), count * size == tensor.byteCount else {
                throw failure(path, .malformedTensor(
                    "\(tensor.byteCount) bytes do not hold a \(tensor.dtype.rawValue) tensor of shape \(tensor.shape)"))
            }
            (storageElements, offset, strides) = (count, 0, Self.contiguousStrides(tensor.shape))
        }
        let key = storageKey(for: tensor.storage, dtype: tensor.dtype)
        let storage = PickleValue.persistentID(.tuple([
            .string("storage"), .global(module: "torch", name: tensor.dtype.storageClassName), .string(key),
            .string("cpu"), .int(Int64(storageElements)),
        ]))
        let arguments: [PickleValue] = [
            storage, .int(Int64(offset)), .tuple(tensor.shape.map { .int(Int64($0)) }),
            .tuple(strides.map { .int(Int64($0)) }), .bool(false),
            // Backward hooks: always empty in a saved tensor.
            .object(Self.orderedDict([])),
        ]
        return .object(PickleObject(callable: .global(module: "torch._utils", name: "_rebuild_tensor_v2"), arguments: arguments))
    }

    /// The key of the storage holding `bytes`: the existing one when the same bytes were already
    /// written (the tree being written keeps them alive, so their address cannot be reused meanwhile).
    private mutating func storageKey(for bytes: TensorBytes, dtype: DType) -> String {
        let identity = bytes.identity.map { BufferIdentity(bytes: $0, dtype: dtype) }
        if let identity, let key = keysByBuffer[identity] { return key }
        let key = String(storages.count)
        storages.append((key, bytes.array))
        if let identity { keysByBuffer[identity] = key }
        return key
    }

    /// Row-major strides as torch computes them for a contiguous tensor: a zero-sized dimension
    /// counts as one, so `torch.empty(0, 3)` has strides (3, 1).
    static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for index in shape.indices.reversed() {
            strides[index] = step
            step = step &* max(shape[index], 1)
        }
        return strides
    }

    private static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for size in shape {
            guard size >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            if overflow { return nil }
            count = product
        }
        return count
    }

    private static func join(_ prefix: String, _ component: String) -> String {
        prefix.isEmpty ? component : prefix + "." + component
    }

    private func failure(_ path: String, _ problem: CheckpointWriteError.Problem) -> CheckpointWriteError {
        CheckpointWriteError(file: file, path: path, problem: problem)
    }
}
