/// Why a checkpoint could not be written: the file, the value inside it (a dotted path, empty for the
/// whole file) and what is wrong there.
public struct CheckpointWriteError: Error, CustomStringConvertible {
    public enum Problem: Sendable {
        /// A value `torch.load(weights_only=True)` could not read back (a pickled module, an unknown class).
        case unwritable(String)
        /// A tensor whose byte count does not match its dtype and shape.
        case malformedTensor(String)
        /// The archive could not be created, written or moved into place.
        case archive(String)
        /// libzip laid the archive out differently than computed (storages would not be aligned).
        case layout(String)
    }

    public let file: String
    public let path: String
    public let problem: Problem

    public init(file: String, path: String, problem: Problem) {
        self.file = file
        self.path = path
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case .unwritable(let reason): what = "cannot be written: \(reason)"
        case .malformedTensor(let reason): what = "malformed tensor: \(reason)"
        case .archive(let reason): what = reason
        case .layout(let reason): what = "unexpected archive layout: \(reason)"
        }
        return path.isEmpty ? "\(file): \(what)" : "\(file): \"\(path)\" \(what)"
    }
}
