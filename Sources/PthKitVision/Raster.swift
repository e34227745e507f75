/// An 8-bit image with any number of interleaved channels: what a Pillow "RGB" or "L" image holds
/// between the steps of `Preprocessing`.
struct Raster: Equatable {
    var width: Int
    var height: Int
    var channels: Int
    var pixels: [UInt8]

    init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    init(_ image: RGBImage) {
        self.init(width: image.width, height: image.height, channels: 3, pixels: image.pixels)
    }

    /// The window at (`x`, `y`) of the given size; parts outside the raster read as 0, which makes
    /// this both Pillow's crop and torchvision's constant zero padding.
    func window(x: Int, y: Int, width: Int, height: Int) -> Raster {
        var out = [UInt8](repeating: 0, count: width * height * channels)
        let columns = max(0, min(x + width, self.width) - max(x, 0))
        if columns > 0 {
            for row in max(y, 0)..<max(max(y, 0), min(y + height, self.height)) {
                let source = (row * self.width + max(x, 0)) * channels
                let target = ((row - y) * width + max(x, 0) - x) * channels
                out.replaceSubrange(target..<(target + columns * channels),
                                    with: pixels[source..<(source + columns * channels)])
            }
        }
        return Raster(width: width, height: height, channels: channels, pixels: out)
    }
}
