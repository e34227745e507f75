/// A decoded image as torchvision's default loader hands it on (`PIL.Image.open(f).convert("RGB")`):
/// 8-bit RGB, rows top to bottom, pixels interleaved (HWC).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes: R, G, B of the top-left pixel first.
    public var pixels: [UInt8]

    /// Wraps pixels as they are; `Preprocessing` checks that their count fits the size.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
