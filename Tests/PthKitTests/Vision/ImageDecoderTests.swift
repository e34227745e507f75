import Foundation
import PthKit
import Testing

extension VisionTests {
    @Suite("Image decoding matches Pillow")
    struct ImageDecoderTests {
        static let images = ImageOracle.shared?.images ?? []
        static let broken = ImageOracle.shared?.broken ?? []

        @Test(arguments: images)
        func decodesLikePillow(_ expected: ImageOracle.Image) throws {
            let image = try ImageDecoder.decode(contentsOf: ImageOracle.url(expected.file))
            try #require(image.width == expected.width && image.height == expected.height,
                         "decoded \(image.width)x\(image.height), Pillow \(expected.width)x\(expected.height)")
            try #require(image.pixels.count == expected.width * expected.height * 3)
            if let array = expected.rgb {
                let reference = try NPY.read(contentsOf: ImageOracle.url(array))
                #expect(reference.shape == [expected.height, expected.width, 3])
                let differing = ImageOracle.differences(image.pixels, reference.storage.array)
                #expect(differing.count == 0,
                        "\(differing.count) of \(image.pixels.count) bytes differ from Pillow (max |diff| \(differing.largest))")
            }
            #expect(SHA256.hexDigest(image.pixels) == expected.rgbSHA256, "pixels differ from Pillow's (sha256)")
        }

        @Test(arguments: broken)
        func rejectsBrokenFileNamingIt(_ file: ImageOracle.Broken) throws {
            let url = ImageOracle.url(file.file)
            let error = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url) }
            #expect(error.file == url.path)
            #expect(error.description.hasPrefix(url.path + ": "), "\(error)")
        }

        @Test func brokenFilesFailForTheRightReason() throws {
            func problem(_ file: String) throws -> ImageError.Problem {
                try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: ImageOracle.url(file)) }.problem
            }
            #expect(try problem("broken_empty.png") == .empty)
            #expect(try problem("broken_magic.jpg") == .unknownFormat(leadingBytes: Array("GIF89a".utf8) + [0, 0]))
            guard case .tooLarge(.png, _) = try problem("broken_huge.png") else { Issue.record("huge PNG"); return }
            guard case .tooLarge(.jpeg, _) = try problem("broken_huge.jpg") else { Issue.record("huge JPEG"); return }
            for file in ["broken_truncated.png", "broken_truncated.jpg", "broken_truncated_progressive.jpg"] {
                guard case let .corrupt(_, reason) = try problem(file) else { Issue.record("\(file) is not corrupt"); continue }
                #expect(reason.contains("truncated"), "\(file): \(reason)")
            }
        }

        @Test func namesTheSourceOfBytesAndReportsUnreadableFiles() throws {
            let bytes = [UInt8](try Data(contentsOf: ImageOracle.url("png_rgb8_1x1.png")))
            #expect(try ImageDecoder.decode(bytes, name: "x") == ImageDecoder.decode(contentsOf: ImageOracle.url("png_rgb8_1x1.png")))
            let error = try #require(throws: ImageError.self) {
                try ImageDecoder.decode(Array(bytes.prefix(30)), name: "upload #3")
            }
            #expect(error.description.hasPrefix("upload #3: broken PNG data"), "\(error)")

            let missing = ImageOracle.url("no_such_image.png")
            let unreadable = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: missing) }
            guard case .unreadable = unreadable.problem else { Issue.record("\(unreadable)"); return }
        }

        /// Bytes overwritten at random positions decode to something or throw; they never crash.
        @Test func corruptedBytesNeverCrash() throws {
            var state: UInt64 = 20240601
            func next(_ bound: Int) -> Int {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Int((state >> 33) % UInt64(bound))
            }
            for file in ["png_rgba16_interlaced_13x11.png", "png_pal2_29x19.png", "jpeg_progressive_37x53.jpg",
                         "jpeg_cmyk_37x53.jpg", "jpeg_optimized_restart_37x53.jpg"] {
                let original = [UInt8](try Data(contentsOf: ImageOracle.url(file)))
                for _ in 0..<300 {
                    var bytes = original
                    for _ in 0..<(1 + next(4)) { bytes[next(bytes.count)] = UInt8(next(256)) }
                    if let image = try? ImageDecoder.decode(bytes, name: file) {
                        #expect(image.pixels.count == image.width * image.height * 3)
                    }
                }
            }
        }

        /// Every truncation point of a small PNG and JPEG is an error, never a crash or a silently
        /// padded image.
        @Test func everyTruncationIsAnError() throws {
            for file in ["png_rgb8_interlaced_7x3.png", "jpeg_progressive_37x53.jpg", "png_pal4_29x19.png"] {
                let bytes = [UInt8](try Data(contentsOf: ImageOracle.url(file)))
                // The last bytes of either format are the end marker, which Pillow does not need either.
                let essential = bytes.count - (file.hasSuffix(".png") ? 12 : 2)
                for length in 0..<essential {
                    #expect(throws: ImageError.self, "\(file) cut to \(length) bytes") {
                        try ImageDecoder.decode(Array(bytes.prefix(length)), name: file)
                    }
                }
            }
        }
    }
}
