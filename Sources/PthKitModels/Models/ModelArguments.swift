/// Builder arguments spelled as the Python builders spell them (`num_classes=5`, `width_mult=0.5`,
/// `aux_logits=False`). Each builder reads what it accepts; anything left unread is an error, so a
/// typo never silently builds the default model.
public struct ModelArguments: Sendable {
    private var values: [String: String]
    private var read: Set<String> = []

    public init(_ values: [String: String] = [:]) {
        self.values = values
    }

    /// Parses `name=value` strings as given to `--arg`.
    public init(parsing pairs: [String]) throws {
        var values: [String: String] = [:]
        for pair in pairs {
            guard let separator = pair.firstIndex(of: "="), separator != pair.startIndex else {
                throw ModelError.badArgument(name: pair, reason: "expected name=value")
            }
            values[String(pair[..<separator])] = String(pair[pair.index(after: separator)...])
        }
        self.init(values)
    }

    public mutating func int(_ name: String, default fallback: Int) throws -> Int {
        guard let text = take(name) else { return fallback }
        guard let value = Int(text) else { throw ModelError.badArgument(name: name, reason: "\"\(text)\" is not an integer") }
        return value
    }

    public mutating func double(_ name: String, default fallback: Double) throws -> Double {
        guard let text = take(name) else { return fallback }
        guard let value = Double(text) else { throw ModelError.badArgument(name: name, reason: "\"\(text)\" is not a number") }
        return value
    }

    public mutating func bool(_ name: String, default fallback: Bool) throws -> Bool {
        guard let text = take(name) else { return fallback }
        switch text.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw ModelError.badArgument(name: name, reason: "\"\(text)\" is not True or False")
        }
    }

    /// A list of integers written `224,224`, `(224, 224)` or `[224, 224]`.
    public mutating func ints(_ name: String, default fallback: [Int]) throws -> [Int] {
        guard let text = take(name) else { return fallback }
        let trimmed = text.filter { !"()[] ".contains($0) }
        let parts = trimmed.split(separator: ",").map { Int($0) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
            throw ModelError.badArgument(name: name, reason: "\"\(text)\" is not a list of integers")
        }
        return parts.compactMap { $0 }
    }

    public func contains(_ name: String) -> Bool { values[name] != nil }

    /// A copy with `name` set to `value`.
    public func setting(_ name: String, to value: String) -> ModelArguments {
        var copy = self
        copy.values[name] = value
        return copy
    }

    /// Throws for arguments no builder step read.
    public func requireAllRead(model: String) throws {
        let unread = Set(values.keys).subtracting(read).sorted()
        if !unread.isEmpty { throw ModelError.unknownArguments(model: model, names: unread) }
    }

    private mutating func take(_ name: String) -> String? {
        read.insert(name)
        return values[name]
    }
}

extension ModelArguments {
    /// A builder argument that torch would accept but that must stay in `range` here: probabilities
    /// torch checks itself (`dropout`), and multipliers bounded so that channel counts stay
    /// allocatable instead of trapping.
    mutating func double(_ name: String, default fallback: Double, in range: ClosedRange<Double>) throws -> Double {
        try Self.require(double(name, default: fallback), name, in: range)
    }

    mutating func int(_ name: String, default fallback: Int, in range: ClosedRange<Int>) throws -> Int {
        try Self.require(int(name, default: fallback), name, in: range)
    }

    private static func require<T: Comparable>(_ value: T, _ name: String, in range: ClosedRange<T>) throws -> T {
        guard range.contains(value) else {
            throw ModelError.badArgument(
                name: name, reason: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// An integer argument whose Python default is `None`: absent or spelled `None` gives nil.
    mutating func optionalInt(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        if values[name]?.lowercased() == "none" {
            _ = take(name)
            return nil
        }
        return contains(name) ? try int(name, default: range.lowerBound, in: range) : nil
    }

    /// `num_classes`: any size a real label set has.
    mutating func numClasses() throws -> Int {
        try int("num_classes", default: 1000, in: 1...1 << 20)
    }

    /// A width multiplier such as `width_mult`; zero would make empty layers.
    mutating func widthMultiplier(_ name: String = "width_mult") throws -> Double {
        let value = try double(name, default: 1, in: 0...8)
        guard value > 0 else { throw ModelError.badArgument(name: name, reason: "must be positive") }
        return value
    }
}

public enum ModelError: Error, CustomStringConvertible {
    case unknownModel(String, known: [String])
    case badArgument(name: String, reason: String)
    case unknownArguments(model: String, names: [String])
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case let .unknownModel(name, known):
            let close = known.filter { $0.hasPrefix(String(name.prefix(3))) }.prefix(8)
            return "unknown model \"\(name)\"" + (close.isEmpty ? "; see `pthkit models`" : "; did you mean \(close.joined(separator: ", "))?")
        case let .badArgument(name, reason):
            return "argument \(name): \(reason)"
        case let .unknownArguments(model, names):
            return "\(model) takes no argument \(names.joined(separator: ", "))"
        case .invalidConfiguration(let reason):
            return reason
        }
    }
}
