import Foundation
import PthKitSupport

/// A file written by `torch.save`, read without executing anything from it.
///
/// Both container formats share one path: the container gives the main pickle and a source of
/// storages, the pickle machine builds inert values, and `TorchObjectReader` interprets the
/// allowlisted constructors into tensors and dictionaries.
public struct Checkpoint: Sendable {
    public enum Format: String, Sendable, Codable {
        /// torch >= 1.6: a zip archive of `data.pkl` and one record per storage.
        case zip
        /// torch < 1.6 and `_use_new_zipfile_serialization=False`: pickles followed by raw storages.
        case legacy
        /// `torch.jit.save`: the zip format plus `code/` and `constants.pkl`; read as the module's state dict.
        case torchScript = "torchscript"
        /// Hugging Face's safetensors: a JSON header, then the tensors' raw little-endian bytes.
        case safetensors
    }

    public enum ByteOrder: String, Sendable, Codable {
        case little, big
    }

    /// The file name used in error messages.
    public let file: String
    public let format: Format
    public let byteOrder: ByteOrder
    /// Everything `torch.load` would return, tensors and views as torch keeps them. A TorchScript archive is the
    /// `.module` whose state dict `torch.jit.load(f).state_dict()` returns; a safetensors file the
    /// dictionary `safetensors.torch.load_file` returns (keys in the order of their data).
    public let root: CheckpointValue
    /// A safetensors file's `__metadata__` (`{"format": "pt"}`); nil for the other formats.
    public let safetensorsMetadata: [String: String]?

    /// Every tensor with its dotted path (`state_dict.layer1.0.conv1.weight`, `""` for a bare tensor).
    public var tensors: [(key: String, tensor: TensorData)] { root.flattenedTensors() }

    public static func load(
        contentsOf url: URL, limits: CheckpointLimits = .default, verifyChecksums: Bool = false
    ) throws -> Checkpoint {
        try Checkpoint(contents: fileContents(url), file: url.path, limits: limits, verifyChecksums: verifyChecksums)
    }

    /// The whole file (mapped), or an error naming it: shared with loaders that look at the bytes first.
    package static func fileContents(_ url: URL) throws -> FileContents {
        do {
            return try FileContents.read(url)
        } catch {
            throw CheckpointError(file: url.path, part: "", problem: .container("cannot read the file: \(error)"))
        }
    }

    public init(bytes: [UInt8], file: String, limits: CheckpointLimits = .default) throws {
        try self.init(contents: FileContents(copying: bytes), file: file, limits: limits)
    }

    /// Reads a checkpoint from `contents`; its tensors may stay regions of them (`TensorBytes`).
    ///
    /// `verifyChecksums` checks the CRC-32 of every zip record read in place before its tensor is
    /// used. It is off by default because `torch.load` never checks one (PyTorch builds miniz with
    /// MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS, and `torch.load(mmap=True)` does not even read the
    /// data; `torch.save` may write no CRC at all, `compute_crc32=False`), and because checking
    /// means reading every byte of the file at load time, which borrowing parameters otherwise
    /// never do: even folded with PCLMULQDQ over both cores it costs more than the rest of the load
    /// (README, "Checkpoint load time"). Records that are extracted (deflated, pickles) are always
    /// checked by libzip, and official weight files are checked by their SHA-256.
    public init(
        contents: FileContents, file: String, limits: CheckpointLimits = .default, verifyChecksums: Bool = false
    ) throws {
        self.file = file
        let bytes = contents.bytes
        if SafetensorsFile.looksLikeSafetensors(bytes), !Self.isZip(bytes) {
            let read = try SafetensorsFile.read(contents, file: file)
            (format, byteOrder, root, safetensorsMetadata) = (.safetensors, .little, read.root, read.metadata)
            return
        }
        safetensorsMetadata = nil
        if Self.isZip(bytes) {
            (format, byteOrder, root) = try Self.readZip(contents, file: file, limits: limits, verifyChecksums: verifyChecksums)
        } else if Self.isTar(bytes) {
            throw CheckpointError(
                file: file, part: "", problem: .unsupported("tar-format checkpoint (torch < 0.4); resave it with a newer torch"))
        } else if bytes.first == 0x80 || bytes.first == 0x28 {
            (format, byteOrder, root) = try Self.readLegacy(contents, file: file, limits: limits)
        } else {
            let reason = bytes.isEmpty ? "the file is empty" : "it starts with neither a zip header nor a pickle"
            throw CheckpointError(file: file, part: "", problem: .unrecognizedFormat(reason))
        }
    }

    /// Refuses a tree whose dotted tensor paths would outgrow `limits.tensorPathBytes`, before
    /// anything (here or in a caller) flattens it.
    private static func checkTensorPaths(_ root: CheckpointValue, limits: CheckpointLimits, file: String) throws {
        guard root.tensorPathBytes(limit: limits.tensorPathBytes) != nil else {
            throw CheckpointError(
                file: file, part: "",
                problem: .tensor("the tensors' dotted key paths would take more than \(limits.tensorPathBytes) bytes"))
        }
    }

    // MARK: - Formats

    private static func isZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x50 && bytes[1] == 0x4B && (bytes[2] == 3 || bytes[2] == 5)
    }

    private static func isTar(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 262 && bytes[257..<262].elementsEqual("ustar".utf8)
    }

    private static func readZip(
        _ contents: FileContents, file: String, limits: CheckpointLimits, verifyChecksums: Bool
    ) throws -> (Format, ByteOrder, CheckpointValue) {
        let container = try ZipContainer(contents: contents, file: file, verifyChecksums: verifyChecksums)
        var byteOrder = ByteOrder.little
        if let record = try container.record("byteorder") {
            let text = String(decoding: record, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let order = ByteOrder(rawValue: text) else {
                throw CheckpointError(
                    file: file, part: "record \(SafeText.name(container.prefix))byteorder",
                    problem: .container("unknown byte order \(SafeText.quoted(text, limit: 20))"))
            }
            byteOrder = order
        }
        let part = "\(SafeText.name(container.prefix))data.pkl"
        guard let pickle = try container.record("data.pkl") else {
            throw CheckpointError(file: file, part: part, problem: .container("missing"))
        }
        let value = try pickle.withUnsafeBytes { try runPickle($0, from: 0, file: file, part: part) }.value
        let source = ZipStorageSource(container: container, bigEndian: byteOrder == .big)
        let isTorchScript = container.hasRecord("constants.pkl") || !container.recordNames(under: "code/").isEmpty
        let root = isTorchScript
            ? try readTorchScript(value, container: container, storages: source, file: file)
            : try interpret(value, storages: source, limits: limits, file: file, part: part)
        try checkTensorPaths(root, limits: limits, file: file)
        let storageCount = container.recordNames(under: "data/").count
        if storageCount > 0, !root.containsTensors {
            throw CheckpointError(
                file: file, part: part,
                problem: .container("the archive holds \(storageCount) storages but no tensor could be read from data.pkl"))
        }
        return (isTorchScript ? .torchScript : .zip, byteOrder, root)
    }

    /// A TorchScript archive's module tree, named by the class declarations in its `code/` records.
    private static func readTorchScript(
        _ value: PickleValue, container: ZipContainer, storages: StorageSource, file: String
    ) throws -> CheckpointValue {
        var sources: [(path: String, text: String)] = []
        for name in container.recordNames(under: "code/") where name.hasSuffix(".py") {
            // Generated source is kilobytes per class; a larger record is not code torch wrote.
            guard let record = try container.record(name, maximumSize: 64 << 20) else { continue }
            sources.append((String(name.dropFirst("code/".count)), String(decoding: record, as: UTF8.self)))
        }
        do {
            let classes = try TorchScriptClasses(sources: sources)
            return try TorchScriptModuleReader(classes: classes, tensors: TorchObjectReader(storages: storages))
                .stateDict(of: value)
        } catch let error as TorchScriptError {
            throw CheckpointError(file: file, part: "TorchScript archive \(container.prefix)", problem: .container(error.reason))
        } catch let error as TorchObjectError {
            throw CheckpointError(file: file, part: "\(container.prefix)data.pkl", problem: .tensor(error.reason))
        }
    }

    /// Legacy layout: magic number, protocol version, sys info, main object, storage keys, storages.
    private static func readLegacy(
        _ contents: FileContents, file: String, limits: CheckpointLimits
    ) throws -> (Format, ByteOrder, CheckpointValue) {
        let bytes = contents.bytes
        let magic = try runPickle(bytes, from: 0, file: file, part: "magic number")
        guard case .bigInt(let digits) = magic.value, digits == legacyMagicNumber else {
            throw CheckpointError(
                file: file, part: "magic number",
                problem: .unrecognizedFormat("a pickle, but not one torch.save wrote (magic number is \(magic.value.kindName))"))
        }
        let version = try runPickle(bytes, from: magic.end, file: file, part: "protocol version")
        guard version.value.asInt == 1001 else {
            throw CheckpointError(file: file, part: "protocol version", problem: .unsupported("legacy protocol \(version.value.kindName)"))
        }
        // sys_info records the writer's byte order, but torch's storage writer always wrote little-endian
        // counts and data, and torch.load ignores the flag; so does this reader.
        let sysInfo = try runPickle(bytes, from: version.end, file: file, part: "sys info")
        let main = try runPickle(bytes, from: sysInfo.end, file: file, part: "main pickle")
        let keyList = try runPickle(bytes, from: main.end, file: file, part: "storage key list")
        guard let keyValues = keyList.value.asSequence else {
            throw CheckpointError(file: file, part: "storage key list", problem: .container("is a \(keyList.value.kindName), not a list"))
        }
        let keys = keyValues.map { $0.asString ?? $0.asInt.map(String.init) ?? "?" }
        let source: LegacyStorageSource
        do {
            let dtypes = try LegacyStorageSource.storageTypes(in: main.value)
            source = try LegacyStorageSource(
                contents: storageContents(contents, firstStorageAt: keyList.end), offset: keyList.end, keys: keys, dtypes: dtypes)
        } catch let error as TorchObjectError {
            throw CheckpointError(file: file, part: "storages", problem: .container(error.reason))
        }
        let root = try interpret(main.value, storages: source, limits: limits, file: file, part: "main pickle")
        try checkTensorPaths(root, limits: limits, file: file)
        if !keys.isEmpty, !root.containsTensors {
            throw CheckpointError(
                file: file, part: "main pickle",
                problem: .container("the file holds \(keys.count) storages but no tensor could be read from its pickle"))
        }
        return (.legacy, .little, root)
    }

    /// The bytes a legacy file's storages are read from: the mapped file itself when its first
    /// storage's values (after their 8-byte count) can be read in place as float32, otherwise one
    /// copy of the file shifted to align them (`FileContents(realigning:offset:)`). Copying the
    /// file once costs about what converting every tensor into its parameter did, but leaves the
    /// parameters borrowing, as they do from a zip file.
    private static func storageContents(_ contents: FileContents, firstStorageAt offset: Int) -> FileContents {
        guard contents.isMappedFile, let base = contents.bytes.baseAddress, offset + 8 < contents.count,
              Int(bitPattern: base + offset + 8) % MemoryLayout<Float>.alignment != 0 else { return contents }
        return FileContents(realigning: contents, offset: offset + 8)
    }

    /// 0x1950a86a20f9469cfc6c, the magic number legacy files start with, as LONG1's little-endian bytes.
    private static let legacyMagicNumber: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    private static func runPickle(
        _ bytes: UnsafeRawBufferPointer, from offset: Int, file: String, part: String
    ) throws -> (value: PickleValue, end: Int) {
        do {
            return try PickleMachine.load(bytes, from: offset)
        } catch let error as PickleError {
            throw CheckpointError(file: file, part: part, problem: .pickle(error))
        }
    }

    private static func interpret(
        _ value: PickleValue, storages: StorageSource, limits: CheckpointLimits, file: String, part: String
    ) throws -> CheckpointValue {
        do {
            return try TorchObjectReader(storages: storages, limits: limits).read(value)
        } catch let error as TorchObjectError {
            throw CheckpointError(file: file, part: part, problem: .tensor(error.reason))
        }
    }
}
