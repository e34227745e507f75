import Foundation

/// Tokens in libFuzzer's dictionary format: one `name="value"` a line, `\xNN` and `\\`, `\"` escapes.
enum FuzzDictionary {
    static func load(_ url: URL) throws -> [[UInt8]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        var tokens: [[UInt8]] = []
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let open = trimmed.firstIndex(of: "\""), trimmed.last == "\"",
                  open < trimmed.index(before: trimmed.endIndex) else { continue }
            let body = Array(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)].utf8)
            var token: [UInt8] = []
            var index = 0
            while index < body.count {
                if body[index] == UInt8(ascii: "\\"), index + 1 < body.count {
                    if body[index + 1] == UInt8(ascii: "x"), index + 3 < body.count,
                       let value = UInt8(String(decoding: body[(index + 2)...(index + 3)], as: UTF8.self), radix: 16) {
                        token.append(value)
                        index += 4
                        continue
                    }
                    token.append(body[index + 1])
                    index += 2
                    continue
                }
                token.append(body[index])
                index += 1
            }
            if !token.isEmpty { tokens.append(token) }
        }
        return tokens
    }
}
