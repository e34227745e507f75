import PthKit
import Testing

@testable import PthKitCheckpoint

/// The folded CRC-32 (PCLMULQDQ where the CPU has it) is zlib's, for every length and alignment.
struct ZipChecksumTests {
    @Test func foldedCRCEqualsZlibOnOddLengthsAndOffsets() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(1 << 18)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            var lengths = Array(0..<300) + [511, 512, 513, 1023, 4095, 65_537, (1 << 18) - 80]
            lengths += (0..<200).map { _ in Int.random(in: 0..<((1 << 18) - 64), using: &generator) }
            for (index, length) in lengths.enumerated() {
                let offset = index % 67
                let part = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                // Also continuing from a running value, as chunks of one record do.
                let start: UInt32 = index % 2 == 0 ? 0 : ZipChecksum.update(0, UnsafeRawBufferPointer(rebasing: all[0..<13]), folding: false)
                let folded = ZipChecksum.update(start, part)
                let zlib = ZipChecksum.update(start, part, folding: false)
                #expect(folded == zlib, "length \(length) at offset \(offset)")
            }
        }
    }

    @Test func theCheckValueOfTheZipPolynomial() {
        #expect(Array("123456789".utf8).withUnsafeBytes { ZipChecksum.update(0, $0) } == 0xCBF4_3926)
        let long = Array(String(repeating: "123456789", count: 100).utf8)
        #expect(long.withUnsafeBytes { ZipChecksum.update(0, $0) } == long.withUnsafeBytes { ZipChecksum.update(0, $0, folding: false) })
    }
}
