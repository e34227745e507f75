/// Text from a file, made safe to print on one terminal line: names from checkpoints, archives and
/// images reach error messages, and a name holding a newline, NUL or an escape sequence must not be
/// able to forge lines or drive the terminal.
public enum SafeText {
    /// `text` with every control and other non-printable character written as an escape (`\n`,
    /// `\t`, `\x1b`, `\u{202e}`); everything else unchanged.
    public static func escaped(_ text: String) -> String {
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if isPrintable(scalar) {
                    result.unicodeScalars.append(scalar)
                } else if scalar.value < 0x100 {
                    result += "\\x" + hex(scalar.value, digits: 2)
                } else {
                    result += "\\u{" + String(scalar.value, radix: 16) + "}"
                }
            }
        }
        return result
    }

    /// A name from a file for an error message: escaped, and cut to `limit` characters with an
    /// ellipsis so that a megabyte-long key cannot flood the line.
    public static func name(_ text: String, limit: Int = 80) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit else { return escaped(text) }
        return escaped(String(String.UnicodeScalarView(scalars.prefix(limit)))) + "…"
    }

    /// `name(text)` in double quotes.
    public static func quoted(_ text: String, limit: Int = 80) -> String {
        "\"" + name(text, limit: limit) + "\""
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
            return false
        default:
            return true
        }
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
