/// Bounds-checked reads over the bytes of a pickle stream. Every length comes from the file, so each
/// read checks it against what is left before touching memory or allocating.
struct PickleReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position: Int

    init(bytes: UnsafeRawBufferPointer, position: Int) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    private func require(_ count: Int) throws {
        guard count >= 0, count <= remaining else {
            throw PickleError(offset: position, problem: .truncated(needed: count, available: remaining))
        }
    }

    mutating func byte() throws -> UInt8 {
        try require(1)
        defer { position += 1 }
        return bytes[position]
    }

    /// Little-endian unsigned integer of `width` bytes (1, 2, 4 or 8).
    mutating func unsigned(width: Int) throws -> UInt64 {
        try require(width)
        var value: UInt64 = 0
        for index in 0..<width {
            value |= UInt64(bytes[position + index]) << (8 * UInt64(index))
        }
        position += width
        return value
    }

    mutating func int32() throws -> Int32 {
        Int32(truncatingIfNeeded: try unsigned(width: 4))
    }

    /// A length prefix of `width` bytes, checked to fit in what is left of the stream.
    mutating func length(width: Int) throws -> Int {
        let start = position
        let raw = try unsigned(width: width)
        guard raw <= UInt64(remaining) else {
            throw PickleError(offset: start, problem: .truncated(needed: Int(clamping: raw), available: remaining))
        }
        return Int(raw)
    }

    mutating func take(_ count: Int) throws -> [UInt8] {
        try require(count)
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    mutating func double() throws -> Double {
        // BINFLOAT is the one big-endian field in pickle.
        let raw = try unsigned(width: 8)
        return Double(bitPattern: raw.byteSwapped)
    }

    /// Bytes up to the next newline (text opcodes of protocol 0), without the newline.
    mutating func line() throws -> [UInt8] {
        var end = position
        while end < bytes.count, bytes[end] != 0x0A { end += 1 }
        guard end < bytes.count else {
            throw PickleError(offset: position, problem: .truncated(needed: 1, available: 0))
        }
        defer { position = end + 1 }
        return Array(bytes[position..<end])
    }

    mutating func utf8(_ count: Int, opcode: @autoclosure () -> String) throws -> String {
        let start = position
        let raw = try take(count)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw PickleError(offset: start, problem: .badArgument(opcode: opcode(), reason: "invalid UTF-8"))
        }
        return text
    }
}
