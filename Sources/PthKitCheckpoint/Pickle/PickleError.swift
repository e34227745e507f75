/// Why a pickle stream was rejected. `offset` is the byte position of the offending opcode within the
/// stream, so a report can point at it with a hex dump.
public struct PickleError: Error, Equatable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        case truncated(needed: Int, available: Int)
        case unknownOpcode(UInt8)
        case stackUnderflow(opcode: String)
        case noMark(opcode: String)
        case memoMiss(index: Int)
        case badArgument(opcode: String, reason: String)
        case tooDeep(limit: Int)
        /// Shared references would make the value larger than `limit` values when walked as a tree.
        case tooLarge(limit: Int)
        case unsupported(String)
        case noStop
    }

    public let offset: Int
    public let problem: Problem
    /// The opcode being executed, when the problem arose inside one.
    public var opcode: String?

    public init(offset: Int, problem: Problem, opcode: String? = nil) {
        self.offset = offset
        self.problem = problem
        self.opcode = opcode
    }

    public var description: String {
        let what: String
        switch problem {
        case let .truncated(needed, available):
            what = "truncated: needs \(needed) more bytes, \(available) left"
        case let .unknownOpcode(code):
            what = "unknown opcode 0x" + String(code, radix: 16, uppercase: false)
        case let .stackUnderflow(opcode):
            what = "\(opcode) needs more values than the stack holds"
        case let .noMark(opcode):
            what = "\(opcode) without a MARK"
        case let .memoMiss(index):
            what = "memo has no entry \(index)"
        case let .badArgument(opcode, reason):
            what = "\(opcode): \(reason)"
        case let .tooDeep(limit):
            what = "values nested deeper than \(limit) levels"
        case let .tooLarge(limit):
            what = "shared references expand to more than \(limit) values (\(PickleMachine.expansionRule))"
        case let .unsupported(reason):
            what = reason
        case .noStop:
            what = "stream ends without STOP"
        }
        let place = opcode.map { "pickle byte \(offset) (\($0))" } ?? "pickle byte \(offset)"
        return "\(place): \(what)"
    }
}
