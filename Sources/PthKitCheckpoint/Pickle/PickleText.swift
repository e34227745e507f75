/// Decoding of the text forms protocol 0 and Python 2 pickles use for strings.
enum PickleText {
    /// Python 2 `str` (BINSTRING): bytes with no declared encoding. UTF-8 when valid, else Latin-1,
    /// which is what `torch.load(..., encoding="latin1")` does for old checkpoints.
    static func legacyString(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        return String(bytes.map { Character(Unicode.Scalar($0)) })
    }

    /// UNICODE: raw-unicode-escape, i.e. Latin-1 with `\uXXXX` and `\UXXXXXXXX` escapes.
    static func rawUnicodeEscape(_ bytes: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x5C, index + 1 < bytes.count, bytes[index + 1] == 0x75 || bytes[index + 1] == 0x55 {
                let width = bytes[index + 1] == 0x75 ? 4 : 8
                let digits = bytes[(index + 2)..<min(bytes.count, index + 2 + width)]
                if digits.count == width,
                   let code = UInt32(String(decoding: digits, as: UTF8.self), radix: 16),
                   let scalar = Unicode.Scalar(code) {
                    scalars.append(scalar)
                    index += 2 + width
                    continue
                }
            }
            scalars.append(Unicode.Scalar(bytes[index]))
            index += 1
        }
        return String(scalars)
    }

    /// STRING: a Python repr in single or double quotes with backslash escapes.
    static func quotedString(_ bytes: [UInt8], offset: Int) throws -> String {
        guard bytes.count >= 2, let quote = bytes.first, quote == 0x27 || quote == 0x22, bytes.last == quote else {
            throw PickleError(offset: offset, problem: .badArgument(opcode: "STRING", reason: "not a quoted string"))
        }
        return legacyString(unescape(Array(bytes[1..<(bytes.count - 1)])))
    }

    /// PERSID carries a plain line; accept a quoted one as well.
    static func quotedOrPlain(_ bytes: [UInt8]) throws -> String {
        if bytes.count >= 2, let first = bytes.first, first == 0x27 || first == 0x22, bytes.last == first {
            return try quotedString(bytes, offset: 0)
        }
        return legacyString(bytes)
    }

    private static func unescape(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == 0x5C, index + 1 < bytes.count else {
                output.append(byte)
                index += 1
                continue
            }
            let next = bytes[index + 1]
            index += 2
            switch next {
            case 0x6E: output.append(0x0A)  // \n
            case 0x72: output.append(0x0D)  // \r
            case 0x74: output.append(0x09)  // \t
            case 0x30: output.append(0x00)  // \0
            case 0x78:  // \xNN
                if index + 2 <= bytes.count,
                   let value = UInt8(String(decoding: bytes[index..<(index + 2)], as: UTF8.self), radix: 16) {
                    output.append(value)
                    index += 2
                } else {
                    output.append(contentsOf: [0x5C, next])
                }
            default: output.append(next)  // \\, \', \"
            }
        }
        return output
    }
}
