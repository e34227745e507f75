import CLibZip
import Foundation

/// Writes records into a zip archive laid out as torch.save's writer lays it out: every record
/// stored uncompressed, its data starting on a 64-byte boundary of the file so that torch can map
/// storages straight from disk. The padding goes where torch puts it, in an extra field `FB` of the
/// local header filled with `Z`s; libzip writes the archive, and the result is checked by reading the
/// local headers back, since libzip decides the final layout.
struct ZipArchiveWriter {
    struct Record {
        let name: String
        let bytes: [UInt8]
    }

    /// torch's `kFieldAlignment`, also recorded in the archive's `.storage_alignment`.
    static let alignment = 64
    /// The extra field id torch pads with: "FB" read as a little-endian 16-bit number.
    static let paddingFieldID: UInt16 = 0x4246
    /// Local file header size before the name and extra fields.
    static let localHeaderSize = 30

    /// Writes `records` to `url`, replacing it atomically: the archive is completed and checked
    /// under a temporary name beside it, then renamed into place.
    static func write(_ records: [Record], to url: URL) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial")
        defer { try? FileManager.default.removeItem(at: temporary) }
        let layout = try writeArchive(records, to: temporary, file: url.path)
        try ZipLocalHeaders.verify(temporary, expected: layout, alignment: alignment, file: url.path)
        guard rename(temporary.path, url.path) == 0 else {
            throw CheckpointWriteError(
                file: url.path, path: "",
                problem: .archive("cannot move the written archive into place: \(String(cString: strerror(errno)))"))
        }
    }

    /// Adds every record with the padding that aligns its data, and returns where each was planned.
    private static func writeArchive(_ records: [Record], to url: URL, file: String) throws -> [ZipLocalHeaders.Entry] {
        func failure(_ reason: String) -> CheckpointWriteError {
            CheckpointWriteError(file: file, path: "", problem: .archive(reason))
        }
        var code: Int32 = 0
        guard let archive = zip_open(url.path, ZIP_CREATE | ZIP_TRUNCATE, &code) else {
            var error = zip_error_t()
            zip_error_init_with_code(&error, code)
            defer { zip_error_fini(&error) }
            throw failure("cannot create the archive: \(String(cString: zip_error_strerror(&error)))")
        }
        var layout: [ZipLocalHeaders.Entry] = []
        var offset = 0
        do {
            for record in records {
                let nameLength = record.name.utf8.count
                let headerEnd = offset + localHeaderSize + nameLength + 4
                let padding = (alignment - headerEnd % alignment) % alignment
                let dataOffset = headerEnd + padding
                try add(record, padding: padding, to: archive, failure: failure)
                layout.append(.init(name: record.name, dataOffset: dataOffset, size: record.bytes.count))
                offset = dataOffset + record.bytes.count
            }
        } catch {
            zip_discard(archive)
            throw error
        }
        guard zip_close(archive) == 0 else {
            let reason = String(cString: zip_strerror(archive))
            zip_discard(archive)
            throw failure("cannot write the archive: \(reason)")
        }
        return layout
    }

    private static func add(
        _ record: Record, padding: Int, to archive: OpaquePointer, failure: (String) -> CheckpointWriteError
    ) throws {
        // libzip reads sources only when the archive is closed, so it gets its own copy to free.
        let copy = malloc(max(record.bytes.count, 1))
        record.bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress, let copy { copy.copyMemory(from: base, byteCount: raw.count) }
        }
        guard let copy, let source = zip_source_buffer(archive, copy, UInt64(record.bytes.count), 1) else {
            free(copy)
            throw failure("cannot add record \(record.name): \(String(cString: zip_strerror(archive)))")
        }
        let index = zip_file_add(archive, record.name, source, ZIP_FL_ENC_UTF_8)
        guard index >= 0 else {
            zip_source_free(source)
            throw failure("cannot add record \(record.name): \(String(cString: zip_strerror(archive)))")
        }
        let field = [UInt8](repeating: UInt8(ascii: "Z"), count: padding)
        let configured = field.withUnsafeBufferPointer { padding in
            zip_set_file_compression(archive, UInt64(index), ZIP_CM_STORE, 0) == 0
                // Torch's writer records no timestamps: DOS time and date zero.
                && zip_file_set_dostime(archive, UInt64(index), 0, 0, 0) == 0
                && zip_file_extra_field_set(
                    archive, UInt64(index), paddingFieldID, 0xFFFF, padding.baseAddress, UInt16(padding.count), ZIP_FL_LOCAL) == 0
        }
        guard configured else {
            throw failure("cannot configure record \(record.name): \(String(cString: zip_strerror(archive)))")
        }
    }
}
