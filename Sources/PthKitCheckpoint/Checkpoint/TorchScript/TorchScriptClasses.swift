import Foundation

/// What a TorchScript archive's `code/` folder declares about each class: whether it is a module and
/// which of its attributes are parameters and buffers. Only the declaration lines are read
/// (`class Name(Module):`, `__parameters__ = ["weight", ]`, `__buffers__ = [...]`); the code itself
/// is text that is never evaluated.
struct TorchScriptClasses {
    struct Declaration: Equatable {
        let isModule: Bool
        let parameters: [String]
        let buffers: [String]
    }

    /// Qualified name (`__torch__.torch.nn.modules.conv.___torch_mangle_3.Conv2d`) -> declaration.
    private(set) var declarations: [String: Declaration] = [:]

    /// `sources`: each `code/<path>.py` record's path below `code/` and its text. The file's path is
    /// the classes' namespace: `__torch__/torchvision/models/resnet.py` declares
    /// `__torch__.torchvision.models.resnet.ResNet`.
    init(sources: [(path: String, text: String)]) throws {
        for source in sources {
            let namespace = source.path.dropLast(".py".count).replacingOccurrences(of: "/", with: ".")
            try read(source.text, namespace: namespace, path: source.path)
        }
    }

    private mutating func read(_ text: String, namespace: String, path: String) throws {
        var current: (name: String, isModule: Bool, parameters: [String]?, buffers: [String]?)?
        func finish() {
            guard let done = current else { return }
            declarations["\(namespace).\(done.name)"] = Declaration(
                isModule: done.isModule, parameters: done.parameters ?? [], buffers: done.buffers ?? [])
            current = nil
        }
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("class ") {
                finish()
                guard let open = line.firstIndex(of: "("), line.hasSuffix("):") else {
                    throw TorchScriptError("code/\(path) line \(number + 1): malformed class declaration")
                }
                let name = line[line.index(line.startIndex, offsetBy: 6)..<open]
                let base = line[line.index(after: open)..<line.index(line.endIndex, offsetBy: -2)]
                guard Self.isIdentifier(name) else {
                    throw TorchScriptError("code/\(path) line \(number + 1): malformed class name")
                }
                current = (String(name), base == "Module", nil, nil)
                continue
            }
            guard current != nil, line.hasPrefix("  __parameters__") || line.hasPrefix("  __buffers__") else { continue }
            let isParameters = line.hasPrefix("  __parameters__")
            guard let names = Self.nameList(line.drop(while: { $0 != "=" }).dropFirst()) else {
                throw TorchScriptError("code/\(path) line \(number + 1): malformed \(isParameters ? "__parameters__" : "__buffers__") list")
            }
            if isParameters { current?.parameters = names } else { current?.buffers = names }
        }
        finish()
    }

    /// `["weight", "bias", ]` -> ["weight", "bias"]; nil unless every item is a quoted identifier.
    private static func nameList(_ text: Substring) -> [String]? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("["), trimmed.hasSuffix("]") else { return nil }
        var names: [String] = []
        for item in trimmed.dropFirst().dropLast().split(separator: ",") {
            let quoted = item.trimmingCharacters(in: .whitespaces)
            if quoted.isEmpty { continue }
            guard quoted.count >= 3, quoted.hasPrefix("\""), quoted.hasSuffix("\"") else { return nil }
            let name = quoted.dropFirst().dropLast()
            guard isIdentifier(name) else { return nil }
            names.append(String(name))
        }
        return names
    }

    private static func isIdentifier<Text: StringProtocol>(_ text: Text) -> Bool {
        guard let first = text.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
    }
}

struct TorchScriptError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
