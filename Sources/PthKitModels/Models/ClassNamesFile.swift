import Foundation
import PthKitSupport

/// The class names that go with a checkpoint holding a bare state dict (as `finetune-head` writes it,
/// so that PyTorch's strict `load_state_dict` accepts the file): `NAME.classes.txt` beside
/// `NAME.pth`, one name per line in class-index order.
public enum ClassNamesFile {
    public static func url(forWeights weights: URL) -> URL {
        weights.deletingPathExtension().appendingPathExtension("classes.txt")
    }

    public static func write(_ names: [String], forWeights weights: URL) throws {
        if let bad = names.first(where: { $0.isEmpty || $0.contains(where: \.isNewline) }) {
            throw ClassNamesFileError(file: url(forWeights: weights).path, problem: "the class name \(bad.debugDescription) cannot be one line")
        }
        let file = url(forWeights: weights)
        do {
            try Data((names.joined(separator: "\n") + "\n").utf8).write(to: file, options: .atomic)
        } catch {
            throw ClassNamesFileError(file: file.path, problem: "cannot be written (\(error.localizedDescription))")
        }
    }

    /// The names beside `weights`, or nil when there is no such file.
    public static func read(forWeights weights: URL) throws -> [String]? {
        let file = url(forWeights: weights)
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        return try readLabels(file)
    }

    /// A labels file: one name per line, blank lines ignored.
    public static func readLabels(_ file: URL) throws -> [String] {
        let bytes: [UInt8]
        do {
            bytes = try FileReading.bytes(of: file)
        } catch {
            throw ClassNamesFileError(file: file.path, problem: "cannot be read (\(error.localizedDescription))")
        }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw ClassNamesFileError(file: file.path, problem: "is not UTF-8 text")
        }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ClassNamesFileError(file: file.path, problem: "holds no class names") }
        return names
    }
}

public struct ClassNamesFileError: Error, CustomStringConvertible {
    public let file: String
    public let problem: String
    public var description: String { "\(file): \(problem)" }
}
