import Foundation

/// Whole-file reads into a byte array, the one shape every reader here parses from.
enum FileReading {
    static func bytes(of url: URL) throws -> [UInt8] {
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        return [UInt8](data)
    }
}
