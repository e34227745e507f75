import Foundation
import PthKit
@testable import PthKitVision
import Testing

extension VisionTests {
    @Suite("Preprocessing matches torchvision")
    struct PreprocessingTests {
        static let cases = ImageOracle.shared?.preprocessing ?? []

        /// Per case: our tensor against torchvision's, value by value where the fixture has the values
        /// (otherwise rebuilt from torchvision's uint8 crop, exactly as its float step computes them),
        /// and as a whole by sha256. The requirement is one uint8 step before normalisation; the aim,
        /// and the result at the time of writing, is bit-exact.
        @Test(arguments: cases)
        func matchesTorchvision(_ oracleCase: ImageOracle.Case) throws {
            let image = try ImageDecoder.decode(contentsOf: ImageOracle.url(oracleCase.image))
            let settings = oracleCase.setting
            let tensor = try settings.tensor(from: image)
            try #require(tensor.shape == oracleCase.shape, "shape \(tensor.shape), torchvision \(oracleCase.shape)")

            let reference: [Float]
            if let file = oracleCase.tensor {
                reference = try NPY.read(contentsOf: ImageOracle.url(file)).storage.array
            } else {
                let file = try #require(oracleCase.crop, "case has neither tensor nor crop")
                let crop = try ImageDecoder.decode(contentsOf: ImageOracle.url(file))
                let ours = try settings.prepared(image)
                let channels = ours.channels
                // A one-channel crop was saved as an "L" PNG, which decodes to equal R, G and B.
                let theirs = stride(from: 0, to: crop.pixels.count, by: 3).flatMap { crop.pixels[$0..<($0 + channels)] }
                let differing = ImageOracle.differences(ours.pixels, theirs.map(Float.init))
                #expect(differing.largest <= 1, "uint8 crop differs from Pillow's by up to \(differing.largest)")
                #expect(differing.count == 0, "\(differing.count) of \(theirs.count) uint8 crop values differ from Pillow's")
                reference = Self.normalised(theirs, channels: channels, settings: settings)
            }

            var exact = 0
            var worst: Float = 0
            let planeSize = tensor.count / (oracleCase.shape[1])
            for (index, (ours, theirs)) in zip(tensor.storage, reference).enumerated() {
                if ours.bitPattern == theirs.bitPattern { exact += 1 }
                let bound = 1 / 255 / settings.std[index / planeSize % settings.std.count] + 1e-6
                worst = max(worst, abs(ours - theirs) / bound)
            }
            #expect(worst <= 1, "largest difference is \(worst) uint8 steps")
            #expect(Double(exact) / Double(tensor.count) > 0.99, "only \(exact) of \(tensor.count) values are exact")
            #expect(exact == tensor.count, "\(tensor.count - exact) of \(tensor.count) values are not bit-exact")
            #expect(ImageOracle.sha256(tensor.storage.array) == oracleCase.tensorSHA256, "tensor differs from torchvision's (sha256)")
        }

        /// torchvision's `convert_image_dtype` and `Normalize` on an HWC uint8 image, as NCHW.
        static func normalised(_ pixels: [UInt8], channels: Int, settings: Preprocessing) -> [Float] {
            let planeSize = pixels.count / channels
            return (0..<channels).flatMap { channel in
                (0..<planeSize).map { (Float(pixels[$0 * channels + channel]) / 255 - settings.mean[channel]) / settings.std[channel] }
            }
        }

        /// An image whose red channel is the column and green the row, to read positions back.
        static func coordinates(width: Int, height: Int) -> RGBImage {
            RGBImage(width: width, height: height, pixels: (0..<(width * height)).flatMap {
                [UInt8($0 % width), UInt8($0 / width), 7]
            })
        }

        @Test func resizeKeepsAspectRatioTruncatingTheLongerSide() throws {
            #expect(try Preprocessing.resizedSize(width: 300, height: 199, shorterSide: 256) == (385, 256))
            #expect(try Preprocessing.resizedSize(width: 199, height: 300, shorterSide: 256) == (256, 385))
            #expect(try Preprocessing.resizedSize(width: 7, height: 7, shorterSide: 3) == (3, 3))
            #expect(try Preprocessing.resizedSize(width: 1, height: 3, shorterSide: 32) == (32, 96))
            // An extreme aspect ratio would ask for gigapixels; refused rather than allocated.
            #expect(throws: RuntimeError.self) { try Preprocessing.resizedSize(width: 1, height: 60_000, shorterSide: 4096) }
            #expect(throws: RuntimeError.self) { try Preprocessing.resizedSize(width: 5, height: 5, shorterSide: 0) }

            let unchanged = Self.coordinates(width: 9, height: 5)
            #expect(try Preprocessing(resizeSize: 5).resized(unchanged) == unchanged)
        }

        @Test func centerCropRoundsHalvesToEvenAndPadsWithZeros() {
            let crop = Preprocessing(resizeSize: nil, cropSize: 4)
            // (7 - 4) / 2 = 1.5 rounds to 2; (9 - 4) / 2 = 2.5 rounds to 2.
            let seven = crop.centerCropped(Self.coordinates(width: 7, height: 9))
            #expect(seven.pixels[0] == 2 && seven.pixels[1] == 2)
            // 1x2 padded to 4x4: one column before the image, two after; one row before and after.
            let padded = crop.centerCropped(Self.coordinates(width: 1, height: 2))
            let blue = stride(from: 2, to: padded.pixels.count, by: 3).map { padded.pixels[$0] }
            #expect(blue == [0, 0, 0, 0,
                             0, 7, 0, 0,
                             0, 7, 0, 0,
                             0, 0, 0, 0])
            #expect(Preprocessing(cropSize: nil).centerCropped(padded) == padded)
        }

        @Test func batchesStackImagesAndRefuseMixedSizes() throws {
            let settings = Preprocessing(resizeSize: 12, cropSize: 10, interpolation: .bicubic)
            let first = Self.coordinates(width: 17, height: 13), second = Self.coordinates(width: 5, height: 8)
            let batch = try settings.tensor(from: [first, second])
            #expect(batch.shape == [2, 3, 10, 10])
            #expect(batch.storage == (try settings.tensor(from: first).storage + settings.tensor(from: second).storage))

            let uncropped = Preprocessing(resizeSize: 12, cropSize: nil)
            #expect(throws: RuntimeError.self) { try uncropped.tensor(from: [first, second]) }
            #expect(throws: RuntimeError.self) { try settings.tensor(from: [RGBImage]()) }
        }

        @Test func grayscaleUsesPillowsFixedPointLuma() throws {
            // Pure green: (587 * 255) / 1000 would give 149; Pillow's (38470 * 255 + 32768) >> 16 gives 150.
            let settings = Preprocessing(resizeSize: nil, cropSize: nil, mean: [0], std: [1], grayscale: true)
            let tensor = try settings.tensor(from: RGBImage(width: 3, height: 1, pixels: [255, 0, 0, 0, 255, 0, 10, 20, 30]))
            #expect(tensor.shape == [1, 1, 1, 3])
            #expect(tensor.storage.map { ($0 * 255).rounded() } == [76, 150, 18])
        }

        @Test func rejectsSettingsThatDoNotFitTheImage() {
            let image = Self.coordinates(width: 4, height: 4)
            #expect(throws: RuntimeError.self) { try Preprocessing(mean: [0.5], std: [0.5]).tensor(from: image) }
            #expect(throws: RuntimeError.self) { try Preprocessing(std: [1, 0, 1]).tensor(from: image) }
            #expect(throws: RuntimeError.self) { try Preprocessing(cropSize: 0).tensor(from: image) }
            #expect(throws: RuntimeError.self) { try Preprocessing(cropSize: 1 << 40).tensor(from: image) }
            #expect(throws: RuntimeError.self) { try Preprocessing().tensor(from: RGBImage(width: 4, height: 4, pixels: [1, 2])) }
            #expect(throws: RuntimeError.self) { try Preprocessing().tensor(from: RGBImage(width: 0, height: 4, pixels: [])) }
        }

        @Test func decodesSettingsWithoutGrayscale() throws {
            let json = #"{"resizeSize": 232, "cropSize": 224, "interpolation": "bicubic", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}"#
            let settings = try JSONDecoder().decode(Preprocessing.self, from: Data(json.utf8))
            #expect(settings == Preprocessing(resizeSize: 232, interpolation: .bicubic, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]))
            let roundTrip = try JSONDecoder().decode(Preprocessing.self, from: JSONEncoder().encode(settings))
            #expect(roundTrip == settings)
        }
    }
}
