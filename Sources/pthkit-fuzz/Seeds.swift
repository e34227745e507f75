import Foundation

/// The corpus a target starts from: the project's fixtures, and for the pickle machine the pickles
/// inside them (a legacy file starts with one; a zip checkpoint stores `data.pkl` uncompressed).
enum Seeds {
    static let largestSeed = 256 << 10

    static func load(for target: FuzzTarget, from folders: [URL]) -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        for folder in folders {
            guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else { continue }
            for url in walker.compactMap({ $0 as? URL }).sorted(by: { $0.path < $1.path }) {
                guard let data = try? Data(contentsOf: url), data.count <= largestSeed else { continue }
                let bytes = [UInt8](data)
                if target == .pickle {
                    seeds += pickles(in: bytes)
                } else if target.accepts(bytes, name: url.lastPathComponent) {
                    seeds.append(bytes)
                }
            }
        }
        return seeds
    }

    /// Stored `data.pkl` records of a zip (read from local headers), or a legacy file's bytes.
    static func pickles(in bytes: [UInt8]) -> [[UInt8]] {
        guard bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) else {
            return bytes.first == 0x80 ? [bytes] : []
        }
        var found: [[UInt8]] = []
        var position = 0
        func little(_ at: Int, _ width: Int) -> Int {
            (0..<width).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
        }
        while position + 30 <= bytes.count, bytes[position..<(position + 4)].elementsEqual([0x50, 0x4B, 0x03, 0x04]) {
            let method = little(position + 8, 2)
            let size = little(position + 18, 4)
            let nameLength = little(position + 26, 2), extraLength = little(position + 28, 2)
            let start = position + 30 + nameLength + extraLength
            guard start + size <= bytes.count, start >= position + 30 else { break }
            let name = String(decoding: bytes[(position + 30)..<(position + 30 + nameLength)], as: UTF8.self)
            if method == 0, name.hasSuffix("data.pkl") { found.append(Array(bytes[start..<(start + size)])) }
            position = start + size
        }
        return found
    }
}
