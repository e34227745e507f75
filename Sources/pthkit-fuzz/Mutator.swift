import PthKit

/// Deterministic mutations of seed inputs, in the spirit of libFuzzer's: bit flips, interesting
/// integers (sizes, counts and offsets are where parsers break), dictionary tokens, and cutting,
/// duplicating and splicing ranges. The same seed gives the same sequence of inputs on every run.
struct Mutator {
    private var generator: SplitMix64
    let dictionary: [[UInt8]]
    let maximumLength: Int

    init(seed: UInt64, dictionary: [[UInt8]], maximumLength: Int) {
        generator = SplitMix64(state: seed)
        self.dictionary = dictionary
        self.maximumLength = maximumLength
    }

    mutating func below(_ bound: Int) -> Int {
        bound <= 1 ? 0 : Int(generator.next() % UInt64(bound))
    }

    /// One to eight stacked mutations of `input`; `corpus` supplies splice partners.
    mutating func mutate(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + below(8)) { mutateOnce(&bytes, corpus: corpus) }
        if bytes.count > maximumLength { bytes.removeLast(bytes.count - maximumLength) }
        return bytes
    }

    private static let interesting: [UInt64] = [
        0, 1, 2, 7, 8, 0x10, 0x20, 0x40, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 1 << 31 | 1 << 30, 1 << 61, 1 << 62,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF,
    ]

    private mutating func mutateOnce(_ bytes: inout [UInt8], corpus: [[UInt8]]) {
        if bytes.isEmpty { bytes = [UInt8(truncatingIfNeeded: generator.next())]; return }
        let at = below(bytes.count)
        switch below(11) {
        case 0: bytes[at] ^= 1 << UInt8(below(8))
        case 1: bytes[at] = UInt8(truncatingIfNeeded: generator.next())
        case 2, 3:
            // An interesting integer, 1/2/4/8 bytes wide, either byte order.
            let width = [1, 2, 4, 8][below(4)]
            let value = Self.interesting[below(Self.interesting.count)] &+ UInt64(below(3)) &- 1
            let bigEndian = below(2) == 0
            for index in 0..<width where at + index < bytes.count {
                let shift = UInt64(8 * (bigEndian ? width - 1 - index : index))
                bytes[at + index] = UInt8(truncatingIfNeeded: value >> shift)
            }
        case 4, 5:
            guard !dictionary.isEmpty else { return }
            let token = dictionary[below(dictionary.count)]
            if below(2) == 0 {
                bytes.insert(contentsOf: token, at: at)
            } else {
                for (index, byte) in token.enumerated() where at + index < bytes.count { bytes[at + index] = byte }
            }
        case 6:
            let length = 1 + below(min(bytes.count - at, 64))
            bytes.removeSubrange(at..<(at + length))
        case 7:
            let length = 1 + below(min(bytes.count - at, 64))
            let copies = 1 + below(16)
            let chunk = Array(bytes[at..<(at + length)])
            for _ in 0..<copies { bytes.insert(contentsOf: chunk, at: at) }
        case 8:
            guard !corpus.isEmpty else { return }
            let other = corpus[below(corpus.count)]
            guard !other.isEmpty else { return }
            let start = below(other.count)
            let length = 1 + below(min(other.count - start, 256))
            bytes.replaceSubrange(at..<min(bytes.count, at + length), with: other[start..<(start + length)])
        case 9: bytes.removeLast(below(bytes.count))
        default:
            bytes.insert(contentsOf: (0..<(1 + below(8))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: at)
        }
    }
}
