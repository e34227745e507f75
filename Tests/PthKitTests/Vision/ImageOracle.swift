import Foundation
import PthKit
import Testing

/// The tests of Sources/PthKitVision, grouped so that `swift test --filter Vision` selects them.
@Suite("Vision") enum VisionTests {}

/// Tests/Fixtures/images/manifest.json, written by Scripts/make_image_fixtures.py: image files with
/// what Pillow decodes them to, broken files Pillow rejects, and torchvision's preprocessing of
/// some of the images.
struct ImageOracle: Decodable {
    struct Image: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let note: String
        let pillowMode: String
        let width: Int
        let height: Int
        /// sha256 of Pillow's `convert("RGB")` bytes (HWC).
        let rgbSHA256: String
        /// The same as a uint8 .npy, for the smaller images.
        let rgb: String?

        var testDescription: String { "\(file) (\(note))" }
    }

    struct Broken: Decodable, Sendable, CustomTestStringConvertible {
        let file: String
        let note: String
        let pillowError: String

        var testDescription: String { "\(file) (\(note))" }
    }

    struct Resize: Decodable, Sendable, CustomTestStringConvertible {
        let image: String
        let width: Int
        let height: Int
        let interpolation: Preprocessing.Interpolation
        /// Pillow's result as uint8 .npy (HWC).
        let pixels: String

        var testDescription: String { "\(image) to \(width)x\(height) \(interpolation)" }
    }

    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let image: String
        let name: String
        let setting: Preprocessing
        let shape: [Int]
        /// sha256 of torchvision's float32 output tensor bytes (little-endian, NCHW).
        let tensorSHA256: String
        /// torchvision's output as float32 .npy (small crops) ...
        let tensor: String?
        /// ... or, for 224-pixel crops, the uint8 image torchvision converted to it, as a PNG.
        let crop: String?

        var testDescription: String { "\(image) \(name)" }
    }

    let images: [Image]
    let broken: [Broken]
    let resize: [Resize]
    let preprocessing: [Case]

    static let folder = Fixtures.url("images")
    static let shared = try? load()

    static func load() throws -> ImageOracle {
        try JSONDecoder().decode(ImageOracle.self, from: Data(contentsOf: folder.appendingPathComponent("manifest.json")))
    }

    static func url(_ file: String) -> URL { folder.appendingPathComponent(file) }

    /// How many of `ours` differ from the reference values, and by how much at most.
    static func differences(_ ours: [UInt8], _ theirs: [Float]) -> (count: Int, largest: Float) {
        zip(ours, theirs).reduce((0, 0)) { result, pair in
            let difference = abs(Float(pair.0) - pair.1)
            return (result.0 + (difference == 0 ? 0 : 1), max(result.1, difference))
        }
    }

    static func sha256(_ values: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(4 * values.count)
        for value in values {
            let bits = value.bitPattern.littleEndian
            bytes += [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8),
                      UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 24)]
        }
        return SHA256.hexDigest(bytes)
    }
}

extension VisionTests {
    @Suite("Image oracle fixtures")
    struct ImageOracleFixtureTests {
        @Test func fixturesArePresentAndCurrent() throws {
            let oracle = try ImageOracle.load()
            #expect(oracle.images.count > 50)
            #expect(oracle.broken.count >= 10)
            #expect(oracle.resize.count > 20)
            #expect(oracle.preprocessing.count > 40)
            // Scripts/test.sh stamps the folder with sha256(generator + pinned oracle versions); a
            // mismatch means the script changed since the fixtures were made: rerun it.
            let scripts = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Scripts")
            let inputs = try ["make_image_fixtures.py", "requirements-oracle.txt"].flatMap {
                [UInt8](try Data(contentsOf: scripts.appendingPathComponent($0)))
            }
            let stamp = try String(contentsOf: ImageOracle.url("generator.sha256"), encoding: .utf8)
            #expect(stamp.trimmingCharacters(in: .whitespacesAndNewlines) == SHA256.hexDigest(inputs),
                    "fixtures are older than Scripts/make_image_fixtures.py: rerun it")
        }
    }
}
