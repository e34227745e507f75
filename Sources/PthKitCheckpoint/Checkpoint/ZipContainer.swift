import CLibZip
import Foundation
import PthKitSupport

/// The zip container torch.save has written since 1.6: `<prefix>/data.pkl`, `<prefix>/data/<key>` per
/// storage and a few small records (`byteorder`, `version`). libzip handles stored and deflated
/// entries, zip64 and CRC checks; this type only finds records by name and bounds their sizes.
final class ZipContainer {
    private let archive: OpaquePointer
    let contents: FileContents
    private let file: String
    /// Data ranges of the records stored uncompressed, read in place (`storedRecord`).
    private let storedRecords: ZipStoredRecords
    /// The folder all records sit in; torch names it after the file, but any name is valid.
    let prefix: String
    /// Bytes of all records read so far, bounded together with each record's size.
    private var extractedBytes: UInt64 = 0
    /// Whether records read in place have their CRC-32 checked (libzip checks extracted ones).
    private let verifiesStoredRecords: Bool

    init(contents: FileContents, file: String, verifyChecksums: Bool = false) throws {
        self.contents = contents
        self.file = file
        verifiesStoredRecords = verifyChecksums
        var error = zip_error_t()
        zip_error_init(&error)
        defer { zip_error_fini(&error) }
        // The source borrows `contents`, which this object keeps alive until the archive is closed.
        let opened: OpaquePointer? = {
            let raw = contents.bytes
            guard let base = raw.baseAddress,
                  let source = zip_source_buffer_create(base, UInt64(raw.count), 0, &error) else { return nil }
            guard let archive = zip_open_from_source(source, ZIP_RDONLY, &error) else {
                zip_source_free(source)
                return nil
            }
            return archive
        }()
        guard let opened else {
            throw CheckpointError(
                file: file, part: "zip archive",
                problem: .container(String(cString: zip_error_strerror(&error))))
        }
        archive = opened
        prefix = try Self.findPrefix(archive, file: file)
        storedRecords = ZipStoredRecords(contents.bytes)
    }

    deinit {
        zip_discard(archive)
    }

    private static func findPrefix(_ archive: OpaquePointer, file: String) throws -> String {
        let count = zip_get_num_entries(archive, 0)
        var best: String?
        for index in 0..<max(count, 0) {
            guard let raw = zip_get_name(archive, UInt64(index), ZIP_FL_ENC_RAW) else { continue }
            let name = String(cString: raw)
            guard name == "data.pkl" || name.hasSuffix("/data.pkl") else { continue }
            let prefix = String(name.dropLast("data.pkl".count))
            if best == nil || prefix.count < best!.count { best = prefix }
        }
        guard let best else {
            throw CheckpointError(file: file, part: "zip archive", problem: .container("no data.pkl record"))
        }
        return best
    }

    func hasRecord(_ name: String) -> Bool {
        zip_name_locate(archive, prefix + name, ZIP_FL_ENC_RAW) >= 0
    }

    /// Names (without the prefix) of the records in the folder `<prefix><folder>`, in archive order.
    func recordNames(under folder: String) -> [String] {
        let start = prefix + folder
        var names: [String] = []
        for index in 0..<max(zip_get_num_entries(archive, 0), 0) {
            guard let raw = zip_get_name(archive, UInt64(index), ZIP_FL_ENC_RAW) else { continue }
            let name = String(cString: raw)
            if name.hasPrefix(start), !name.hasSuffix("/") { names.append(String(name.dropFirst(prefix.count))) }
        }
        return names
    }

    /// The whole record `<prefix><name>`, or nil when the archive has none. `expectedSize`, when
    /// given, must match the record's size, and `maximumSize` bound it: lengths come from the file
    /// and are checked before any allocation.
    func record(_ name: String, expectedSize: Int? = nil, maximumSize: Int? = nil) throws -> [UInt8]? {
        let fullName = prefix + name
        let index = zip_name_locate(archive, fullName, ZIP_FL_ENC_RAW)
        guard index >= 0 else { return nil }
        var stat = zip_stat_t()
        zip_stat_init(&stat)
        guard zip_stat_index(archive, UInt64(index), 0, &stat) == 0, stat.valid & UInt64(ZIP_STAT_SIZE) != 0 else {
            throw failure(fullName, "cannot read the record's size")
        }
        // A deflated record may expand, but never beyond what deflate allows (~1032:1); nor may all
        // records together, which catches central-directory entries that share one compressed stream.
        let size = stat.size
        let limit = UInt64(contents.count) &* 1100 &+ 1024
        guard size <= UInt64(Int.max), size <= limit, size <= limit - min(limit, extractedBytes) else {
            throw failure(fullName, "declares an impossible size of \(size) bytes")
        }
        if let expectedSize, Int(size) != expectedSize {
            throw failure(fullName, "holds \(size) bytes where \(expectedSize) are expected")
        }
        if let maximumSize, size > UInt64(maximumSize) {
            throw failure(fullName, "declares \(size) bytes, more than the \(maximumSize) allowed")
        }
        guard let handle = zip_fopen_index(archive, UInt64(index), 0) else {
            throw failure(fullName, String(cString: zip_error_strerror(zip_get_error(archive))))
        }
        defer { zip_fclose(handle) }
        var failureMessage: String?
        let data = [UInt8](emptySafeUninitializedCapacity: Int(size)) { buffer, initialized in
            var filled = 0
            while filled < buffer.count, let base = buffer.baseAddress {
                let read = zip_fread(handle, base + filled, UInt64(buffer.count - filled))
                if read <= 0 {
                    failureMessage = read < 0 ? String(cString: zip_error_strerror(zip_file_get_error(handle)))
                        : "ends after \(filled) of \(buffer.count) bytes"
                    break
                }
                filled += Int(read)
            }
            // libzip checks a record's CRC-32 when a read reaches its end: ask for one byte more.
            if filled == buffer.count, failureMessage == nil {
                var extra: UInt8 = 0
                if zip_fread(handle, &extra, 1) != 0 {
                    failureMessage = String(cString: zip_error_strerror(zip_file_get_error(handle)))
                }
            }
            // Zero the unread tail so the array is always fully initialized.
            if filled < buffer.count, let base = buffer.baseAddress {
                (base + filled).initialize(repeating: 0, count: buffer.count - filled)
            }
            initialized = buffer.count
        }
        if let failureMessage { throw failure(fullName, failureMessage) }
        extractedBytes += size
        return data
    }

    /// The record `<prefix><name>` as a region of the file when it is stored uncompressed with the
    /// size libzip has for it; nil when the archive has no such record or it must be extracted
    /// (`record`). Its CRC-32 is checked, as extracting it would, when the container was opened with
    /// `verifyChecksums` (torch's loader checks none; see `Checkpoint.init`).
    func storedRecord(_ name: String, expectedSize: Int) throws -> Range<Int>? {
        let fullName = prefix + name
        let index = zip_name_locate(archive, fullName, ZIP_FL_ENC_RAW)
        guard index >= 0, let range = storedRecords.dataRanges[fullName] else { return nil }
        var stat = zip_stat_t()
        zip_stat_init(&stat)
        let needed = UInt64(ZIP_STAT_SIZE) | UInt64(ZIP_STAT_COMP_METHOD) | UInt64(ZIP_STAT_CRC)
        guard zip_stat_index(archive, UInt64(index), 0, &stat) == 0, stat.valid & needed == needed,
              stat.comp_method == ZIP_CM_STORE, stat.size == UInt64(range.count) else { return nil }
        guard range.count == expectedSize else {
            throw failure(fullName, "holds \(range.count) bytes where \(expectedSize) are expected")
        }
        guard verifiesStoredRecords else { return range }
        let crc = ZipChecksum.crc32(contents, range)
        guard crc == stat.crc else {
            throw failure(fullName, "fails its CRC-32 check (\(Self.hex(crc)), the archive says \(Self.hex(stat.crc))): the file is damaged")
        }
        return range
    }

    private static func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }

    private func failure(_ record: String, _ reason: String) -> CheckpointError {
        CheckpointError(file: file, part: "record \(SafeText.name(record))", problem: .container(reason))
    }
}
