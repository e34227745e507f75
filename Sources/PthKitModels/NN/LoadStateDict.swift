import PthKitCheckpoint
import PthKitRuntime
import PthKitSupport

/// What `loadStateDict` did, in the terms of `load_state_dict`'s return value and a bit more.
public struct LoadReport: Sendable {
    public var loaded: [String] = []
    public var missingKeys: [String] = []
    public var unexpectedKeys: [String] = []
    /// `num_batches_tracked` keys absent from an old (version < 2 or no `_metadata`) checkpoint,
    /// which PyTorch fills silently.
    public var filledKeys: [String] = []
    /// Keys whose dtype was converted to the model's float32 (float16, bfloat16, float64, ...).
    public var converted: [(key: String, from: DType)] = []
    /// Keys removed before loading because their shape did not fit (`droppingMismatched`).
    public var dropped: [ShapeMismatch] = []

    public init() {}
}

public struct ShapeMismatch: Sendable, Equatable {
    public let key: String
    public let checkpointShape: [Int]
    public let modelShape: [Int]

    /// torch's sentence for it.
    public var torchMessage: String {
        "size mismatch for \(key): copying a param with shape \(TorchFormat.size(checkpointShape)) from checkpoint, "
            + "the shape in current model is \(TorchFormat.size(modelShape))."
    }
}

/// `load_state_dict` failed; `description` is torch's RuntimeError text, word for word.
public struct LoadStateDictError: Error, CustomStringConvertible {
    public let modelName: String
    public let missingKeys: [String]
    public let unexpectedKeys: [String]
    public let sizeMismatches: [ShapeMismatch]

    public var description: String {
        var messages = sizeMismatches.map(\.torchMessage)
        func quoted(_ keys: [String]) -> String { keys.map { "\"\($0)\"" }.joined(separator: ", ") }
        if !unexpectedKeys.isEmpty { messages.insert("Unexpected key(s) in state_dict: \(quoted(unexpectedKeys)). ", at: 0) }
        if !missingKeys.isEmpty { messages.insert("Missing key(s) in state_dict: \(quoted(missingKeys)). ", at: 0) }
        return "Error(s) in loading state_dict for \(modelName):\n\t" + messages.joined(separator: "\n\t")
    }
}

enum TorchFormat {
    static func size(_ shape: [Int]) -> String {
        "torch.Size([" + shape.map(String.init).joined(separator: ", ") + "])"
    }
}

extension Module {
    /// `load_state_dict(state_dict, strict)` with PyTorch's rules: strict requires every key and no
    /// extra one; shape mismatches fail in both modes; a batch norm from a checkpoint whose
    /// `_metadata` version is below 2 (or absent) keeps its `num_batches_tracked` when the key is
    /// missing. Unlike torch, nothing is changed when loading fails.
    ///
    /// float32 tensors that are aligned regions of a mapped file are not copied: the parameters
    /// borrow the file's bytes (as `torch.load(mmap=True)` + `load_state_dict(assign=True)` would),
    /// and keep the mapping alive. The file must then stay as it is while the model lives: a file
    /// that shrinks under the mapping makes the next read of a lost page a SIGBUS, as in torch.
    /// `copyWeights` converts every tensor into arrays of the model's own instead, so the file may
    /// change or go once this returns.
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true, copyWeights: Bool = false) throws -> LoadReport {
        var report = LoadReport()
        var mismatches: [ShapeMismatch] = []
        var assignments: [(parameter: Parameter, tensor: TensorData, shape: [Int])] = []
        var byKey: [String: TensorData] = [:]
        for entry in stateDict.entries { byKey[entry.key] = entry.tensor }
        let keys = Self.uniqueKeysInOrder(stateDict.entries.map(\.key))

        for (path, module) in namedModules() {
            let prefix = path.isEmpty ? "" : path + "."
            let local = module.localParameters.map { ($0.name, $0.parameter) }
                + module.localBuffers.filter(\.persistent).map { ($0.name, $0.buffer) }
            var filled: Set<String> = []
            if module is BatchNorm2d, byKey[prefix + "num_batches_tracked"] == nil {
                let version = stateDict.metadata?[path] ?? nil
                if version == nil || version! < 2 { filled.insert("num_batches_tracked") }
            }
            for (name, parameter) in local {
                let key = prefix + name
                guard let tensor = byKey[key] else {
                    if filled.contains(name) { report.filledKeys.append(key) } else { report.missingKeys.append(key) }
                    continue
                }
                let modelShape = parameter.shape
                var shape = tensor.shape
                // torch's backward compatibility: a 1-d checkpoint value loads into a 0-d parameter
                // (its first element; the conversion below writes only as many values as fit).
                if modelShape.isEmpty, shape.count == 1, tensor.elementCount > 0 { shape = [] }
                guard shape == modelShape else {
                    mismatches.append(ShapeMismatch(key: key, checkpointShape: tensor.shape, modelShape: modelShape))
                    continue
                }
                if tensor.dtype != parameter.dtype, tensor.dtype.isFloatingPoint { report.converted.append((key, tensor.dtype)) }
                assignments.append((parameter, tensor, shape))
                report.loaded.append(key)
            }
            let localNames = Set(local.map(\.0))
            let childNames = Set(module.children.map(\.name))
            for key in keys where key.hasPrefix(prefix) {
                let rest = key.dropFirst(prefix.count)
                if let dot = rest.firstIndex(of: ".") {
                    if !childNames.contains(String(rest[..<dot])) { report.unexpectedKeys.append(key) }
                } else if !localNames.contains(String(rest)) {
                    report.unexpectedKeys.append(key)
                }
            }
        }

        let failed = !mismatches.isEmpty || (strict && (!report.missingKeys.isEmpty || !report.unexpectedKeys.isEmpty))
        if failed {
            throw LoadStateDictError(
                modelName: typeName, missingKeys: strict ? report.missingKeys : [],
                unexpectedKeys: strict ? report.unexpectedKeys : [], sizeMismatches: mismatches)
        }
        // A float32 tensor that is a region of the mapped file becomes its parameter's values as it
        // is: nothing is copied and no page is touched until something reads it (the plan's weight
        // packing reads the file's pages directly). Writing to such a parameter copies it first.
        var converting: [(parameter: Parameter, tensor: TensorData, shape: [Int])] = []
        for assignment in assignments {
            let count = assignment.shape.reduce(1, *)
            if !copyWeights, assignment.parameter.dtype == .float32, let borrowed = assignment.tensor.borrowedFloat32Storage(count: count) {
                assignment.parameter.value = Tensor(shape: assignment.shape, storage: borrowed)
            } else {
                converting.append(assignment)
            }
        }
        // Every other tensor is converted once, straight into its parameter's storage. The tensors
        // are handed out one at a time, largest first, to the compute threads: a legacy file's
        // misaligned storages (resnet50's 102 MB) are all copied here, and most of that time is the
        // first touch of the parameters' pages, which each core does for the tensors it takes.
        // int64 buffers also keep their exact values for saveStateDict.
        let work = converting.sorted { $0.tensor.elementCount > $1.tensor.elementCount }
        Kernels.forEachTask(work.count, work: work.reduce(0) { $0 + $1.tensor.elementCount }) { index in
            let (parameter, tensor, shape) = work[index]
            let count = shape.reduce(1, *)
            let integers = parameter.dtype == .int64 ? tensor.integerValues(limit: count) : nil
            parameter.overwrite(shape: shape, integers: integers) { buffer in
                HugePages.populate(UnsafeMutableRawBufferPointer(buffer))
                tensor.writeFloatValues(into: buffer)
                // Only a malformed TensorData (fewer bytes than its shape) leaves a tail unwritten.
                if tensor.elementCount < buffer.count {
                    buffer.baseAddress.map { ($0 + tensor.elementCount).update(repeating: 0, count: buffer.count - tensor.elementCount) }
                }
            }
        }
        return report
    }

    /// Removes the keys whose shapes differ from this model's (a 1000-class head loaded into a
    /// 5-class model, a 3-channel stem into a 1-channel one), for transfer learning.
    public func droppingMismatched(_ stateDict: StateDict) -> (stateDict: StateDict, dropped: [ShapeMismatch]) {
        let shapes = Dictionary(self.stateDict().map { ($0.key, $0.parameter.shape) }, uniquingKeysWith: { first, _ in first })
        var kept = stateDict
        var dropped: [ShapeMismatch] = []
        kept.entries = stateDict.entries.filter { (entry: (key: String, tensor: TensorData)) -> Bool in
            guard let modelShape = shapes[entry.key], modelShape != entry.tensor.shape,
                  !(modelShape.isEmpty && entry.tensor.shape == [1]) else { return true }
            dropped.append(ShapeMismatch(key: entry.key, checkpointShape: entry.tensor.shape, modelShape: modelShape))
            return false
        }
        return (kept, dropped)
    }

    /// Drops mismatched keys, then loads non-strictly: what transfer learning does by hand in PyTorch.
    /// The report's `missingKeys` are the parameters that keep their fresh initialization.
    @discardableResult
    public func loadStateDictDroppingMismatched(_ stateDict: StateDict, copyWeights: Bool = false) throws -> LoadReport {
        let (kept, dropped) = droppingMismatched(stateDict)
        var report = try loadStateDict(kept, strict: false, copyWeights: copyWeights)
        report.dropped = dropped
        return report
    }

    private static func uniqueKeysInOrder(_ keys: [String]) -> [String] {
        var seen: Set<String> = []
        return keys.filter { seen.insert($0).inserted }
    }
}
