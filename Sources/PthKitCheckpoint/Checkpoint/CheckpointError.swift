import PthKitSupport

/// Why a checkpoint file could not be read: the file, the part of it (an archive record, a pickle, a
/// tensor key) and what is wrong there.
public struct CheckpointError: Error, CustomStringConvertible {
    public enum Problem: Sendable {
        /// The bytes are not a checkpoint format PthKit knows.
        case unrecognizedFormat(String)
        /// The zip or legacy container is damaged or incomplete.
        case container(String)
        case pickle(PickleError)
        /// A storage the pickle refers to is absent or has the wrong size.
        case storage(key: String, reason: String)
        /// A tensor's dtype, size, stride or offset is invalid or reaches past its storage.
        case tensor(String)
        case unsupported(String)
    }

    public let file: String
    public let part: String
    public let problem: Problem

    public init(file: String, part: String, problem: Problem) {
        self.file = file
        self.part = part
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case .unrecognizedFormat(let reason): what = "not a PyTorch checkpoint: \(reason)"
        case .container(let reason): what = reason
        case .pickle(let error): what = error.description
        case let .storage(key, reason): what = "storage \"\(key)\": \(reason)"
        case .tensor(let reason): what = reason
        case .unsupported(let reason): what = "unsupported: \(reason)"
        }
        // Parts and reasons quote names from the file; escaping again here keeps the line one line.
        return SafeText.escaped(part.isEmpty ? "\(file): \(what)" : "\(file): \(part): \(what)")
    }
}
