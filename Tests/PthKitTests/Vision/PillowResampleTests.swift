import Foundation
import PthKit
@testable import PthKitVision
import Testing

extension VisionTests {
    @Suite("Resizing matches Pillow")
    struct PillowResampleTests {
        static let resizes = ImageOracle.shared?.resize ?? []

        @Test(arguments: resizes)
        func matchesPillowBitForBit(_ resize: ImageOracle.Resize) throws {
            let image = try ImageDecoder.decode(contentsOf: ImageOracle.url(resize.image))
            let ours = PillowResample.resize(Raster(image), width: resize.width, height: resize.height,
                                             interpolation: resize.interpolation)
            let theirs = try NPY.read(contentsOf: ImageOracle.url(resize.pixels))
            try #require(theirs.shape == [resize.height, resize.width, 3])
            try #require(ours.pixels.count == theirs.count)
            let differing = ImageOracle.differences(ours.pixels, theirs.storage.array)
            #expect(differing.count == 0,
                    "\(differing.count) of \(theirs.count) values differ from Pillow's (max |diff| \(differing.largest))")
        }

        /// Pillow's bicubic overshoots at hard edges; the fixed-point sums must clip, not wrap.
        @Test func bicubicClipsOvershoot() {
            let edge = Raster(width: 4, height: 1, channels: 1, pixels: [0, 0, 255, 255])
            let wide = PillowResample.resize(edge, width: 9, height: 1, interpolation: .bicubic)
            #expect(wide.pixels.first == 0 && wide.pixels.last == 255)
            #expect(wide.pixels == wide.pixels.sorted())
        }
    }
}
