import Foundation
import PthKitSupport

/// Writes safetensors files as `safetensors.torch.save_file` does: `{"format": "pt"}` metadata,
/// tensors ordered by element size (largest first) then name so every tensor's data is aligned to
/// its element size, the header padded with spaces to a multiple of 8. Each key gets its own bytes:
/// tied weights are written twice, which is what `save_file` requires of tensors sharing memory.
public enum SafetensorsWriter {
    /// Writes every tensor under `value` (a dictionary of tensors, nested dictionaries becoming
    /// dotted keys). Anything that is not a tensor is an error naming its key: safetensors holds
    /// only tensors, so a training checkpoint needs its state dict chosen first.
    /// Views (a transpose, an expanded stride-0 view) are written dense, as safetensors has no
    /// strides: `limits.viewCopyAllowance` bounds what they may add beyond their storages' bytes.
    public static func write(
        _ value: CheckpointValue, to url: URL, metadata: [String: String] = ["format": "pt"],
        limits: CheckpointLimits = .default
    ) throws {
        try write(tensors(in: value, file: url.path), to: url, metadata: metadata, limits: limits)
    }

    public static func write(
        _ tensors: [(key: String, tensor: TensorData)], to url: URL, metadata: [String: String] = ["format": "pt"],
        limits: CheckpointLimits = .default
    ) throws {
        func failure(_ path: String, _ problem: CheckpointWriteError.Problem) -> CheckpointWriteError {
            CheckpointWriteError(file: url.path, path: path, problem: problem)
        }
        var seen = Set<String>()
        for (key, tensor) in tensors {
            guard seen.insert(key).inserted else { throw failure(key, .unwritable("the key appears twice")) }
            guard let count = TensorShape.elementCount(of: tensor.shape), count * tensor.dtype.byteSize == tensor.byteCount else {
                throw failure(key, .malformedTensor("\(tensor.byteCount) bytes for shape \(tensor.shape) of \(tensor.dtype.rawValue)"))
            }
        }
        try checkViewCopies(tensors, limits: limits, file: url.path)
        let ordered = tensors.sorted {
            $0.tensor.dtype.byteSize != $1.tensor.dtype.byteSize
                ? $0.tensor.dtype.byteSize > $1.tensor.dtype.byteSize
                : $0.key.utf8.lexicographicallyPrecedes($1.key.utf8)
        }
        var header = "{\"__metadata__\":{"
            + metadata.sorted { $0.key < $1.key }.map { "\(json($0.key)):\(json($0.value))" }.joined(separator: ",") + "}"
        var offset = 0
        for (key, tensor) in ordered {
            let name = SafetensorsFile.dtypeNames[tensor.dtype] ?? "?"
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            header += ",\(json(key)):{\"dtype\":\"\(name)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.byteCount)]}"
            offset += tensor.byteCount
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        headerBytes += [UInt8](repeating: UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8)
        let length = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) }

        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial")
        defer { try? FileManager.default.removeItem(at: temporary) }
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary.path)
        else { throw failure("", .archive("cannot create \(temporary.path)")) }
        do {
            defer { try? handle.close() }
            try handle.write(contentsOf: length + headerBytes)
            for (_, tensor) in ordered where tensor.byteCount > 0 {
                if let dense = tensor.denseStorage {
                    try dense.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
                } else {
                    // Gathered chunk by chunk: written in full, never held in full.
                    var failure: Error?
                    tensor.forEachDenseChunk { _, chunk in
                        guard failure == nil else { return }
                        do { try handle.write(contentsOf: Data(chunk)) } catch { failure = error }
                    }
                    if let failure { throw failure }
                }
            }
        } catch {
            throw failure("", .archive("cannot write: \(error)"))
        }
        guard rename(temporary.path, url.path) == 0 else {
            throw failure("", .archive("cannot move the written file into place: \(String(cString: strerror(errno)))"))
        }
    }

    /// A view's dense bytes come from the file's word: bounded by `limits` (see `checkDenseViews`).
    private static func checkViewCopies(
        _ tensors: [(key: String, tensor: TensorData)], limits: CheckpointLimits, file: String
    ) throws {
        do {
            try limits.checkDenseViews(tensors.map(\.tensor))
        } catch let error as ViewCopyLimitError {
            throw CheckpointWriteError(file: file, path: "", problem: .unwritable(
                "safetensors has no strides: \(error); or write a .pth, which keeps views"))
        }
    }

    /// The tensors of a tree of dictionaries, with dotted keys; an error for any other leaf.
    static func tensors(in value: CheckpointValue, file: String) throws -> [(key: String, tensor: TensorData)] {
        var result: [(key: String, tensor: TensorData)] = []
        func visit(_ value: CheckpointValue, _ path: String) throws {
            switch value {
            case .tensor(let tensor): result.append((path, tensor))
            case .dict(let dict), .module(_, let dict):
                for entry in dict.entries {
                    try visit(entry.value, path.isEmpty ? entry.key.pathComponent : path + "." + entry.key.pathComponent)
                }
            default:
                throw CheckpointWriteError(
                    file: file, path: path,
                    problem: .unwritable("is a \(value.kindName); safetensors holds only tensors (choose the state dict with --key)"))
            }
        }
        try visit(value, "")
        return result
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    private static func json(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
