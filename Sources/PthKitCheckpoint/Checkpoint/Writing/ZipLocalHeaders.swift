import Foundation

/// Reads the local file headers of a freshly written archive, to confirm that every record sits
/// where `ZipArchiveWriter` planned it: the alignment torch promises is only as good as this check.
enum ZipLocalHeaders {
    struct Entry: Equatable {
        let name: String
        let dataOffset: Int
        let size: Int
    }

    /// The records in file order, read from their local headers (name, data offset, stored size).
    static func entries(of url: URL, count: Int) throws -> [Entry] {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var result: [Entry] = []
        var offset = 0
        for _ in 0..<count {
            try handle.seek(toOffset: UInt64(offset))
            let header = [UInt8](try handle.read(upToCount: ZipArchiveWriter.localHeaderSize) ?? Data())
            guard header.count == ZipArchiveWriter.localHeaderSize, number(header, 0, 4) == 0x0403_4B50 else {
                throw LayoutProblem("no local header at offset \(offset)")
            }
            // Bit 3: sizes follow the data in a descriptor, so the next header's offset is unknown here.
            guard number(header, 6, 2) & 0x8 == 0 else { throw LayoutProblem("data descriptor at offset \(offset)") }
            guard number(header, 8, 2) == 0 else { throw LayoutProblem("compressed record at offset \(offset)") }
            let size = number(header, 18, 4), nameLength = number(header, 26, 2), extraLength = number(header, 28, 2)
            guard size != 0xFFFF_FFFF else { throw LayoutProblem("zip64 record at offset \(offset)") }
            let nameBytes = [UInt8](try handle.read(upToCount: nameLength) ?? Data())
            let dataOffset = offset + ZipArchiveWriter.localHeaderSize + nameLength + extraLength
            result.append(Entry(name: String(decoding: nameBytes, as: UTF8.self), dataOffset: dataOffset, size: size))
            offset = dataOffset + size
        }
        return result
    }

    /// Throws unless the archive's records are exactly `expected`, each aligned to `alignment`.
    static func verify(_ url: URL, expected: [Entry], alignment: Int, file: String) throws {
        do {
            let found = try entries(of: url, count: expected.count)
            for (planned, actual) in zip(expected, found) where planned != actual || actual.dataOffset % alignment != 0 {
                throw LayoutProblem(
                    "record \(planned.name) was planned at offset \(planned.dataOffset) but \(actual.name) "
                        + "is at \(actual.dataOffset) (\(actual.size) bytes)")
            }
        } catch let problem as LayoutProblem {
            throw CheckpointWriteError(file: file, path: "", problem: .layout(problem.reason))
        } catch {
            throw CheckpointWriteError(file: file, path: "", problem: .archive("cannot read the archive back: \(error)"))
        }
    }

    private static func number(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> Int {
        (0..<width).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
    }

    private struct LayoutProblem: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
