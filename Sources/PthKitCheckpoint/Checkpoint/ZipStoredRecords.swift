/// Where the data of each stored (uncompressed) record of a zip archive lies in the file, so a
/// checkpoint's storages are read in place instead of extracted. torch.save stores every record
/// uncompressed (and aligns its data to 64 bytes for exactly this use); libzip validates the archive
/// but does not say where a record's data starts, so this reads the central directory for the local
/// header offsets and each local header for its length. Every number is bounds-checked; an archive
/// this cannot follow (or a record it cannot place) simply has no in-place records, and its records
/// are extracted through libzip as before.
struct ZipStoredRecords {
    /// Record name (raw bytes as UTF-8) -> byte range of its data in the file.
    private(set) var dataRanges: [String: Range<Int>] = [:]

    init(_ bytes: UnsafeRawBufferPointer) {
        guard let directory = Self.centralDirectory(bytes) else { return }
        var position = directory.offset
        let end = directory.offset + directory.size
        for _ in 0..<directory.entries {
            guard position + 46 <= end, Self.u32(bytes, position) == 0x0201_4B50 else { return }
            let method = Self.u16(bytes, position + 10)
            var compressedSize = UInt64(Self.u32(bytes, position + 20))
            var size = UInt64(Self.u32(bytes, position + 24))
            let nameLength = Int(Self.u16(bytes, position + 28))
            let extraLength = Int(Self.u16(bytes, position + 30))
            let commentLength = Int(Self.u16(bytes, position + 32))
            var localOffset = UInt64(Self.u32(bytes, position + 42))
            let nameStart = position + 46
            let next = nameStart + nameLength + extraLength + commentLength
            guard next <= end else { return }
            // Zip64: the sizes and offset that do not fit 32 bits follow in extra field 0x0001, in this order.
            var extra = nameStart + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = Self.u16(bytes, extra), length = Int(Self.u16(bytes, extra + 2))
                guard extra + 4 + length <= extraEnd else { break }
                if id == 0x0001 {
                    var field = extra + 4
                    if size == 0xFFFF_FFFF, field + 8 <= extra + 4 + length { size = Self.u64(bytes, field); field += 8 }
                    if compressedSize == 0xFFFF_FFFF, field + 8 <= extra + 4 + length {
                        compressedSize = Self.u64(bytes, field)
                        field += 8
                    }
                    if localOffset == 0xFFFF_FFFF, field + 8 <= extra + 4 + length { localOffset = Self.u64(bytes, field) }
                }
                extra += 4 + length
            }
            defer { position = next }
            guard method == 0, size == compressedSize, let data = Self.dataStart(bytes, localOffset: localOffset),
                  size <= UInt64(bytes.count - data) else { continue }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<(nameStart + nameLength)]), as: UTF8.self)
            // libzip finds a name's first record; so does this.
            if dataRanges[name] == nil { dataRanges[name] = data..<(data + Int(size)) }
        }
    }

    /// The central directory's entry count, offset and size, from the end record (or its zip64 form).
    private static func centralDirectory(_ bytes: UnsafeRawBufferPointer) -> (entries: Int, offset: Int, size: Int)? {
        guard bytes.count >= 22 else { return nil }
        // The end record is the last 22 bytes plus a comment of at most 65535.
        var position = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while position >= lowest, u32(bytes, position) != 0x0605_4B50 { position -= 1 }
        guard position >= lowest else { return nil }
        var entries = UInt64(u16(bytes, position + 10))
        var size = UInt64(u32(bytes, position + 12))
        var offset = UInt64(u32(bytes, position + 16))
        if entries == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            let locator = position - 20
            guard locator >= 0, bytes.count >= 56, u32(bytes, locator) == 0x0706_4B50 else { return nil }
            let record = u64(bytes, locator + 8)
            guard record <= UInt64(bytes.count - 56), u32(bytes, Int(record)) == 0x0606_4B50 else { return nil }
            entries = u64(bytes, Int(record) + 32)
            size = u64(bytes, Int(record) + 40)
            offset = u64(bytes, Int(record) + 48)
        }
        // Each entry takes at least 46 bytes: a count the directory cannot hold is not believed.
        guard offset <= UInt64(bytes.count), size <= UInt64(bytes.count) - offset, entries <= size / 46 else { return nil }
        return (Int(entries), Int(offset), Int(size))
    }

    /// Where a record's data starts: after its local header's 30 bytes, name and extra field.
    private static func dataStart(_ bytes: UnsafeRawBufferPointer, localOffset: UInt64) -> Int? {
        guard localOffset <= UInt64(bytes.count - min(bytes.count, 30)), bytes.count >= 30 else { return nil }
        let header = Int(localOffset)
        guard u32(bytes, header) == 0x0403_4B50 else { return nil }
        let start = header + 30 + Int(u16(bytes, header + 26)) + Int(u16(bytes, header + 28))
        return start <= bytes.count ? start : nil
    }

    private static func u16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    private static func u32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    private static func u64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}
