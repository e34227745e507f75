import Foundation

/// Tensors by dotted key, as `model.load_state_dict` receives them, with the `_metadata` that
/// decides how batch norms of older checkpoints load.
public struct StateDict: Sendable {
    public var entries: [(key: String, tensor: TensorData)]
    /// Module path -> `_metadata` version; nil when the checkpoint carries no `_metadata`.
    public var metadata: [String: Int?]?

    public init(entries: [(key: String, tensor: TensorData)], metadata: [String: Int?]? = nil) {
        self.entries = entries
        self.metadata = metadata
    }

    public var keys: [String] { entries.map(\.key) }

    /// The state dict at `key` (a dotted path through dictionaries, e.g. `state_dict` or
    /// `model.ema`), or at the top when `key` is nil.
    public init(checkpoint: Checkpoint, key: String? = nil) throws {
        let value = try checkpoint.value(atKey: key)
        guard let dict = Self.dictionary(value) else {
            throw StateDictError.notAStateDict(file: checkpoint.file, key: key ?? "", found: value.kindName)
        }
        entries = value.flattenedTensors()
        metadata = dict.metadata
    }

    /// The one obvious state dict inside a training checkpoint (`{"epoch", "state_dict", "optimizer"}`),
    /// or nil when the top level is itself a state dict or the choice is not obvious.
    public static func automaticKey(in checkpoint: Checkpoint) -> String? {
        guard let top = dictionary(checkpoint.root) else { return nil }
        if top.entries.contains(where: { if case .tensor = $0.value { return true } else { return false } }) {
            return nil
        }
        // Candidates: values that are flat dictionaries of tensors (an optimizer's state is nested).
        let candidates = top.entries.filter { entry in
            guard let dict = dictionary(entry.value), !dict.entries.isEmpty else { return false }
            return dict.entries.allSatisfy { if case .tensor = $0.value { return true } else { return false } }
        }
        if candidates.count == 1 { return candidates[0].key.pathComponent }
        let preferred = ["state_dict", "model_state_dict", "model", "net", "network", "params"]
        return preferred.first { name in candidates.contains { $0.key.pathComponent == name } }
    }

    /// Keys without a leading `prefix` (e.g. `module.` from DataParallel); other keys are unchanged.
    public func strippingPrefix(_ prefix: String) -> StateDict {
        var copy = self
        copy.entries = entries.map { ($0.key.hasPrefix(prefix) ? String($0.key.dropFirst(prefix.count)) : $0.key, $0.tensor) }
        copy.metadata = metadata.map { Self.strippingPrefix(prefix, from: $0) }
        return copy
    }

    /// `_metadata` paths without `prefix`; the module the prefix names becomes the root `""`. A
    /// renamed path replaces one already there, as in torch's `consume_prefix_in_state_dict_if_present`.
    static func strippingPrefix(_ prefix: String, from metadata: [String: Int?]) -> [String: Int?] {
        let dotted = prefix.hasSuffix(".") ? String(prefix.dropLast()) : prefix
        var result: [String: Int?] = [:]
        var renamed: [(String, Int?)] = []
        for (key, version) in metadata {
            if key == dotted {
                renamed.append(("", version))
            } else if key.hasPrefix(prefix) {
                renamed.append((String(key.dropFirst(prefix.count)), version))
            } else {
                result.updateValue(version, forKey: key)
            }
        }
        for (key, version) in renamed { result.updateValue(version, forKey: key) }
        return result
    }

    /// Keys rewritten by `rules`, applied in order to every key (and `_metadata` path).
    public func renamed(by rules: [RenameRule]) -> StateDict {
        var copy = self
        copy.entries = entries.map { (rules.reduce($0.key) { $1.apply(to: $0) }, $0.tensor) }
        if let metadata {
            copy.metadata = Dictionary(metadata.map { key, version in
                (rules.reduce(key + ".") { $1.apply(to: $0) }.dropLastDot(), version)
            }, uniquingKeysWith: { first, _ in first })
        }
        return copy
    }

    static func dictionary(_ value: CheckpointValue) -> CheckpointDict? {
        switch value {
        case .dict(let dict), .module(_, let dict): return dict
        default: return nil
        }
    }

    static func dictionaryKeys(_ value: CheckpointValue) -> [String] {
        dictionary(value)?.entries.map(\.key.pathComponent) ?? []
    }
}

extension StateDict {
    /// The state dict as the tree `torch.save(model.state_dict())` pickles: an OrderedDict of
    /// tensors, carrying `_metadata` when this state dict has it.
    public var checkpointValue: CheckpointValue {
        .dict(CheckpointDict(entries: entries.map { (.string($0.key), .tensor($0.tensor)) }, metadata: metadata))
    }
}

extension Checkpoint {
    /// The value at `key`, a dotted path through dictionaries (`state_dict`, `model.ema`); the whole
    /// object when `key` is nil or empty.
    public func value(atKey key: String?) throws -> CheckpointValue {
        var value = root
        guard let key, !key.isEmpty else { return value }
        for component in key.split(separator: ".").map(String.init) {
            guard let dict = StateDict.dictionary(value), let next = dict[component] else {
                throw StateDictError.noSuchKey(file: file, key: key, available: StateDict.dictionaryKeys(root))
            }
            value = next
        }
        return value
    }
}

/// One key rewrite: a literal prefix swap (`features.=backbone.`) or a regular expression with
/// `$1`-style templates (`re:^layer(\d)=stage$1`).
public struct RenameRule: Sendable {
    private enum Kind: @unchecked Sendable {
        case prefix(String, String)
        case pattern(NSRegularExpression, String)
    }

    private let kind: Kind

    public static func prefix(_ old: String, _ new: String) -> RenameRule { RenameRule(kind: .prefix(old, new)) }

    public static func pattern(_ pattern: String, _ template: String) throws -> RenameRule {
        do {
            return RenameRule(kind: .pattern(try NSRegularExpression(pattern: pattern), template))
        } catch {
            throw StateDictError.badRenameRule("\(pattern): \(error.localizedDescription)")
        }
    }

    /// Parses the CLI form `old=new` or `re:pattern=template`.
    public init(parsing text: String) throws {
        let isPattern = text.hasPrefix("re:")
        let body = isPattern ? String(text.dropFirst(3)) : text
        guard let separator = body.lastIndex(of: "=") else {
            throw StateDictError.badRenameRule("\(text): expected OLD=NEW or re:PATTERN=TEMPLATE")
        }
        let old = String(body[..<separator]), new = String(body[body.index(after: separator)...])
        self = isPattern ? try .pattern(old, new) : .prefix(old, new)
    }

    private init(kind: Kind) { self.kind = kind }

    func apply(to key: String) -> String {
        switch kind {
        case let .prefix(old, new):
            return key.hasPrefix(old) ? new + key.dropFirst(old.count) : key
        case let .pattern(expression, template):
            let range = NSRange(key.startIndex..., in: key)
            return expression.stringByReplacingMatches(in: key, range: range, withTemplate: template)
        }
    }
}

public enum StateDictError: Error, CustomStringConvertible {
    case noSuchKey(file: String, key: String, available: [String])
    case notAStateDict(file: String, key: String, found: String)
    case badRenameRule(String)

    public var description: String {
        switch self {
        case let .noSuchKey(file, key, available):
            return "\(file): no entry \"\(key)\"; the top level has: \(available.prefix(20).joined(separator: ", "))"
        case let .notAStateDict(file, key, found):
            return "\(file): \(key.isEmpty ? "the top level" : "\"\(key)\"") is a \(found), not a state dict"
        case .badRenameRule(let reason):
            return "bad rename rule \(reason)"
        }
    }
}

extension String {
    fileprivate func dropLastDot() -> String { hasSuffix(".") ? String(dropLast()) : self }
}
