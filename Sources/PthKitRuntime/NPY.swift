import Foundation
import PthKitSupport

/// NumPy `.npy` files: the exchange format between PthKit and the PyTorch oracle (fixtures,
/// `--dump` outputs). Reads format versions 1.0, 2.0 and 3.0 with float, integer and bool dtypes of
/// either byte order, converted to float32; writes float32 exactly as `numpy.save` does.
public enum NPY {
    public static func read(contentsOf url: URL) throws -> Tensor {
        let bytes: [UInt8]
        do {
            bytes = try FileReading.bytes(of: url)
        } catch {
            throw NPYError(file: url.path, problem: .unreadable(error.localizedDescription))
        }
        return try read(bytes, name: url.path)
    }

    /// Parses a whole `.npy` file; `name` only labels errors.
    public static func read(_ bytes: [UInt8], name: String) throws -> Tensor {
        func fail(_ problem: NPYError.Problem) -> NPYError { NPYError(file: name, problem: problem) }

        guard bytes.count >= 8 else { throw fail(.truncated(part: "preamble", needed: 8, available: bytes.count)) }
        guard bytes[0..<6].elementsEqual(magic) else { throw fail(.notNPY) }
        let (major, minor) = (bytes[6], bytes[7])
        let lengthSize: Int
        switch (major, minor) {
        case (1, 0): lengthSize = 2
        case (2, 0), (3, 0): lengthSize = 4
        default: throw fail(.unsupportedVersion(major: major, minor: minor))
        }
        guard bytes.count >= 8 + lengthSize else {
            throw fail(.truncated(part: "header length", needed: 8 + lengthSize, available: bytes.count))
        }
        let headerLength = (0..<lengthSize).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let headerStart = 8 + lengthSize
        guard headerLength <= bytes.count - headerStart else {
            throw fail(.truncated(part: "header", needed: headerLength, available: bytes.count - headerStart))
        }
        let header = try Header(bytes[headerStart..<(headerStart + headerLength)], file: name)

        let dataStart = headerStart + headerLength
        guard let count = Tensor.elementCount(of: header.shape) else {
            throw fail(.badHeader("shape \(header.shape) is too large"))
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: header.type.size)
        guard !overflow, byteCount == bytes.count - dataStart else {
            throw fail(.dataSize(expected: overflow ? Int.max : byteCount, found: bytes.count - dataStart))
        }
        let values = bytes.withUnsafeBytes { raw in
            header.type.floats(UnsafeRawBufferPointer(rebasing: raw[dataStart...]), count: count)
        }
        return Tensor(shape: header.shape, storage: values)
    }

    public static func write(_ tensor: Tensor, to url: URL) throws {
        do {
            try Data(encode(tensor)).write(to: url, options: .atomic)
        } catch {
            throw NPYError(file: url.path, problem: .unwritable(error.localizedDescription))
        }
    }

    /// The bytes `numpy.save` writes for this float32 array: version 1.0 (2.0 only for a header
    /// over 64 KiB, as numpy), dict keys in numpy's order and spacing, header padded to 64 bytes.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let shape = tensor.shape
        let dimensions = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dimensions), }"
        // numpy leaves room to grow the first dimension in place (GROWTH_AXIS_MAX_DIGITS = 21).
        if let first = shape.first { header += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        func padded(lengthSize: Int) -> [UInt8] {
            let unpadded = 8 + lengthSize + header.utf8.count + 1
            return Array(header.utf8) + [UInt8](repeating: UInt8(ascii: " "), count: 64 - unpadded % 64) + [0x0A]
        }
        var headerBytes = padded(lengthSize: 2)
        let lengthSize = headerBytes.count <= 0xFFFF ? 2 : 4
        if lengthSize == 4 { headerBytes = padded(lengthSize: 4) }

        var bytes = magic + (lengthSize == 2 ? [1, 0] : [2, 0])
        bytes += (0..<lengthSize).map { UInt8(truncatingIfNeeded: headerBytes.count >> (8 * $0)) }
        bytes += headerBytes
        bytes.reserveCapacity(bytes.count + 4 * tensor.count)
        for value in tensor.storage {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
}

/// Why a `.npy` file was rejected or could not be written.
public struct NPYError: Error, Equatable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        case unreadable(String)
        case unwritable(String)
        case notNPY
        case unsupportedVersion(major: UInt8, minor: UInt8)
        case truncated(part: String, needed: Int, available: Int)
        case badHeader(String)
        case unsupportedDType(String)
        case fortranOrder
        case dataSize(expected: Int, found: Int)
    }

    public let file: String
    public let problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case let .unreadable(reason): what = "cannot be read: \(reason)"
        case let .unwritable(reason): what = "cannot be written: \(reason)"
        case .notNPY: what = "not a .npy file (no \\x93NUMPY magic)"
        case let .unsupportedVersion(major, minor): what = "unsupported .npy format version \(major).\(minor)"
        case let .truncated(part, needed, available):
            what = "file ends inside the \(part): needs \(needed) bytes, \(available) left"
        case let .badHeader(reason): what = "malformed header: \(reason)"
        case let .unsupportedDType(descr): what = "unsupported dtype '\(descr)'"
        case .fortranOrder:
            what = "array is stored in Fortran order; save it C-contiguous (numpy.ascontiguousarray)"
        case let .dataSize(expected, found):
            what = expected == Int.max
                ? "shape describes more data than can exist (\(found) data bytes present)"
                : "shape needs \(expected) data bytes, file has \(found)"
        }
        return "\(file): \(what)"
    }
}

/// The header dict: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, parsed as the
/// tiny subset of Python literals numpy writes (strings, True/False, tuples of integers).
private struct Header {
    let type: ElementType
    let shape: [Int]

    private enum Value { case string(String), bool(Bool), tuple([Int]), list }

    init(_ text: ArraySlice<UInt8>, file: String) throws {
        func fail(_ problem: NPYError.Problem) -> NPYError { NPYError(file: file, problem: problem) }
        var scanner = Scanner(bytes: text, file: file)
        var entries: [String: Value] = [:]
        try scanner.expect("{")
        while try !scanner.consume("}") {
            guard case let .string(key) = try scanner.value() else { throw scanner.error("dict key is not a string") }
            try scanner.expect(":")
            guard entries.updateValue(try scanner.value(), forKey: key) == nil else {
                throw scanner.error("key '\(key)' appears twice")
            }
            if try !scanner.consume(",") {
                try scanner.expect("}")
                break
            }
        }
        guard Set(entries.keys) == ["descr", "fortran_order", "shape"] else {
            throw fail(.badHeader("keys \(entries.keys.sorted()) are not descr, fortran_order and shape"))
        }
        guard case let .string(descr) = entries["descr"]! else { throw fail(.unsupportedDType("structured")) }
        guard case let .bool(fortranOrder) = entries["fortran_order"]! else {
            throw fail(.badHeader("fortran_order is not True or False"))
        }
        guard case let .tuple(shape) = entries["shape"]! else { throw fail(.badHeader("shape is not a tuple")) }
        guard let type = ElementType(descr) else { throw fail(.unsupportedDType(descr)) }
        // A Fortran-ordered array of at most one non-trivial dimension has the same bytes as C order.
        if fortranOrder && shape.filter({ $0 > 1 }).count > 1 { throw fail(.fortranOrder) }
        self.type = type
        self.shape = shape
    }

    private struct Scanner {
        let bytes: ArraySlice<UInt8>
        let file: String
        var index: Int

        init(bytes: ArraySlice<UInt8>, file: String) {
            self.bytes = bytes
            self.file = file
            index = bytes.startIndex
        }

        func error(_ reason: String) -> NPYError {
            NPYError(file: file, problem: .badHeader("\(reason) at header byte \(index - bytes.startIndex)"))
        }

        mutating func skipSpace() {
            while index < bytes.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        /// Skips blanks, then `symbol` if it comes next.
        mutating func consume(_ symbol: Character) throws -> Bool {
            skipSpace()
            guard index < bytes.endIndex else { throw error("header ends early") }
            guard bytes[index] == symbol.asciiValue! else { return false }
            index += 1
            return true
        }

        mutating func expect(_ symbol: Character) throws {
            guard try consume(symbol) else { throw error("expected '\(symbol)'") }
        }

        mutating func value() throws -> Value {
            skipSpace()
            guard index < bytes.endIndex else { throw error("header ends early") }
            switch bytes[index] {
            case UInt8(ascii: "'"), UInt8(ascii: "\""):
                let quote = bytes[index]
                guard let end = bytes[(index + 1)...].firstIndex(of: quote) else { throw error("unterminated string") }
                defer { index = end + 1 }
                return .string(String(decoding: bytes[(index + 1)..<end], as: UTF8.self))
            case UInt8(ascii: "["):
                // A structured dtype's field list: skipped whole, then rejected as a dtype.
                var depth = 0
                while index < bytes.endIndex {
                    switch bytes[index] {
                    case UInt8(ascii: "["), UInt8(ascii: "("): depth += 1
                    case UInt8(ascii: "]"), UInt8(ascii: ")"): depth -= 1
                    case UInt8(ascii: "'"), UInt8(ascii: "\""):
                        guard let end = bytes[(index + 1)...].firstIndex(of: bytes[index]) else {
                            throw error("unterminated string")
                        }
                        index = end
                    default: break
                    }
                    index += 1
                    if depth == 0 { return .list }
                }
                throw error("unterminated list")
            case UInt8(ascii: "("):
                index += 1
                var dimensions: [Int] = []
                while try !consume(")") {
                    dimensions.append(try integer())
                    if try !consume(",") {
                        try expect(")")
                        break
                    }
                }
                return .tuple(dimensions)
            default:
                for (word, flag) in [("True", true), ("False", false)] where bytes[index...].starts(with: word.utf8) {
                    index += word.utf8.count
                    return .bool(flag)
                }
                throw error("unexpected character '\(Character(Unicode.Scalar(bytes[index])))'")
            }
        }

        /// A non-negative dimension (Python 2 numpy wrote a trailing `L`).
        mutating func integer() throws -> Int {
            skipSpace()
            var result = 0, digits = 0
            while index < bytes.endIndex, let digit = Int(exactly: bytes[index]).map({ $0 - 0x30 }), (0...9).contains(digit) {
                let (shifted, overflow1) = result.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = shifted.addingReportingOverflow(digit)
                guard !overflow1 && !overflow2 else { throw error("dimension too large") }
                result = sum
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw error("expected a non-negative integer dimension") }
            if index < bytes.endIndex && bytes[index] == UInt8(ascii: "L") { index += 1 }
            return result
        }
    }
}

/// A numpy scalar type from a descr such as `<f4`, `>i8` or `|b1`, and its conversion to float32.
private struct ElementType {
    enum Kind { case float, signed, unsigned, bool }
    let kind: Kind
    let size: Int
    let bigEndian: Bool

    init?(_ descr: String) {
        let characters = Array(descr)
        guard characters.count >= 3, let size = Int(String(characters[2...])) else { return nil }
        switch (characters[1], size) {
        case ("f", 2), ("f", 4), ("f", 8): kind = .float
        case ("i", 1), ("i", 2), ("i", 4), ("i", 8): kind = .signed
        case ("u", 1), ("u", 2), ("u", 4), ("u", 8): kind = .unsigned
        case ("b", 1): kind = .bool
        default: return nil
        }
        switch characters[0] {
        case "<", "=": bigEndian = false
        case ">": bigEndian = true
        case "|" where size == 1: bigEndian = false
        default: return nil
        }
        self.size = size
    }

    func floats(_ raw: UnsafeRawBufferPointer, count: Int) -> [Float] {
        switch (kind, size) {
        case (.float, 2): return load(raw, count, UInt16.self) { HalfPrecision.float(fromHalf: $0) }
        case (.float, 4): return load(raw, count, UInt32.self) { Float(bitPattern: $0) }
        case (.float, 8): return load(raw, count, UInt64.self) { Float(Double(bitPattern: $0)) }
        case (.signed, 1): return load(raw, count, UInt8.self) { Float(Int8(bitPattern: $0)) }
        case (.signed, 2): return load(raw, count, UInt16.self) { Float(Int16(bitPattern: $0)) }
        case (.signed, 4): return load(raw, count, UInt32.self) { Float(Int32(bitPattern: $0)) }
        case (.signed, 8): return load(raw, count, UInt64.self) { Float(Int64(bitPattern: $0)) }
        case (.unsigned, 1): return load(raw, count, UInt8.self) { Float($0) }
        case (.unsigned, 2): return load(raw, count, UInt16.self) { Float($0) }
        case (.unsigned, 4): return load(raw, count, UInt32.self) { Float($0) }
        case (.unsigned, 8): return load(raw, count, UInt64.self) { Float($0) }
        default: return load(raw, count, UInt8.self) { $0 == 0 ? 0 : 1 }  // bool
        }
    }

    private func load<Raw: FixedWidthInteger>(
        _ raw: UnsafeRawBufferPointer, _ count: Int, _ type: Raw.Type, _ convert: (Raw) -> Float
    ) -> [Float] {
        [Float](emptySafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                let bits = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<Raw>.size, as: Raw.self)
                buffer[i] = convert(bigEndian ? Raw(bigEndian: bits) : Raw(littleEndian: bits))
            }
            initialized = count
        }
    }
}
