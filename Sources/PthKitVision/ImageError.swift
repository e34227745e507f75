/// Why an image file could not be decoded.
public struct ImageError: Error, Equatable, CustomStringConvertible {
    public enum Format: String, Equatable, Sendable {
        case png = "PNG"
        case jpeg = "JPEG"
    }

    public enum Problem: Equatable, Sendable {
        case unreadable(String)
        case empty
        /// Neither the PNG nor the JPEG signature.
        case unknownFormat(leadingBytes: [UInt8])
        /// Malformed or truncated data, in the decoding library's words.
        case corrupt(Format, reason: String)
        /// Well-formed, but a variant that Pillow cannot open as RGB either.
        case unsupported(Format, reason: String)
        /// The declared width * height is beyond `ImageDecoder.maxPixels`, its decoded bytes beyond
        /// `ImageDecoder.decodedByteBudget`, or a JPEG has too many progressive scans.
        case tooLarge(Format, reason: String)
        case outOfMemory(Format, reason: String)
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
        case .empty: what = "file is empty"
        case let .unknownFormat(leadingBytes):
            let hex = leadingBytes.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            what = "not a PNG or JPEG file (starts with \(hex))"
        case let .corrupt(format, reason): what = "broken \(format.rawValue) data: \(reason)"
        case let .unsupported(format, reason): what = "unsupported \(format.rawValue) image: \(reason)"
        case let .tooLarge(format, reason): what = "\(format.rawValue) image too large: \(reason)"
        case let .outOfMemory(format, reason): what = "out of memory decoding \(format.rawValue): \(reason)"
        }
        return "\(file): \(what)"
    }
}
