import PthKitRuntime

/// The input transform of torchvision's classification weights
/// (`torchvision.transforms._presets.ImageClassification`), reproducing its output tensor:
/// `Resize(resizeSize, interpolation, antialias=True)` of the shorter side on the 8-bit PIL image,
/// `CenterCrop(cropSize)`, scaling to [0, 1] and `Normalize(mean, std)`.
///
/// With `grayscale`, the image is first converted as `transforms.Grayscale()` does (Pillow's
/// `convert("L")`), for models trained on one-channel images such as 28x28 digits; `mean` and
/// `std` then have one entry.
public struct Preprocessing: Codable, Sendable, Equatable {
    /// torchvision's `InterpolationMode`s that map to Pillow filters used by model weights.
    public enum Interpolation: String, Codable, Sendable, CaseIterable {
        case nearest, bilinear, bicubic
    }

    /// Length of the shorter side after resizing; nil skips the resize.
    public var resizeSize: Int?
    /// Side of the square center crop; nil skips the crop.
    public var cropSize: Int?
    public var interpolation: Interpolation
    public var mean: [Float]
    public var std: [Float]
    public var grayscale: Bool

    /// The defaults are `ImageClassification`'s: 256, 224, bilinear, ImageNet statistics.
    public init(
        resizeSize: Int? = 256, cropSize: Int? = 224, interpolation: Interpolation = .bilinear,
        mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225], grayscale: Bool = false
    ) {
        self.resizeSize = resizeSize
        self.cropSize = cropSize
        self.interpolation = interpolation
        self.mean = mean
        self.std = std
        self.grayscale = grayscale
    }

    private enum CodingKeys: String, CodingKey {
        case resizeSize, cropSize, interpolation, mean, std, grayscale
    }

    /// Reads settings written before `grayscale` existed, or without it, as RGB.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        resizeSize = try container.decodeIfPresent(Int.self, forKey: .resizeSize)
        cropSize = try container.decodeIfPresent(Int.self, forKey: .cropSize)
        interpolation = try container.decode(Interpolation.self, forKey: .interpolation)
        mean = try container.decode([Float].self, forKey: .mean)
        std = try container.decode([Float].self, forKey: .std)
        grayscale = try container.decodeIfPresent(Bool.self, forKey: .grayscale) ?? false
    }

    /// torchvision's `Resize([resizeSize])` of an RGB image: the shorter side becomes
    /// `resizeSize`, the longer `int(resizeSize * long / short)` (truncated); an image already that
    /// size is returned as it is.
    public func resized(_ image: RGBImage) throws -> RGBImage {
        try validate(image)
        return try RGBImage(resize(Raster(image)))
    }

    /// torchvision's `CenterCrop(cropSize)`: zero padding first where the image is smaller (the
    /// odd pixel on the right or bottom), then the window at offsets `round((side - crop) / 2)`,
    /// Python's `round`, halves to even.
    public func centerCropped(_ image: RGBImage) -> RGBImage {
        RGBImage(centerCrop(Raster(image)))
    }

    /// The [1, C, H, W] float32 input tensor for one image: C = 3, or 1 with `grayscale`; H = W =
    /// `cropSize` when cropping.
    public func tensor(from image: RGBImage) throws -> Tensor {
        try tensor(from: [image])
    }

    /// The images' tensors stacked into a batch [N, C, H, W]; they must come out the same size
    /// (always so with a `cropSize`).
    public func tensor(from images: [RGBImage]) throws -> Tensor {
        guard let firstImage = images.first else {
            throw Self.invalid("no images to batch")
        }
        let first = try prepared(firstImage)
        let planeSize = first.width * first.height
        var storage = [Float]()
        storage.reserveCapacity(images.count * first.channels * planeSize)
        for (index, image) in images.enumerated() {
            let raster = index == 0 ? first : try prepared(image)
            guard raster.width == first.width, raster.height == first.height else {
                throw RuntimeError.shapeMismatch(
                    operation: "Preprocessing batch", expected: "\(first.width)x\(first.height) images",
                    found: "\(raster.width)x\(raster.height) for image \(index)")
            }
            // torchvision: uint8 / 255 in float32, then (x - mean) / std per channel.
            for channel in 0..<raster.channels {
                let (mean, std) = (self.mean[channel], self.std[channel])
                for pixel in 0..<planeSize {
                    storage.append((Float(raster.pixels[pixel * raster.channels + channel]) / 255 - mean) / std)
                }
            }
        }
        return Tensor(shape: [images.count, first.channels, first.height, first.width], storage: storage)
    }

    /// The 8-bit image that torchvision converts to float: grayscale, resized and cropped.
    func prepared(_ image: RGBImage) throws -> Raster {
        try validate(image)
        let channels = grayscale ? 1 : 3
        guard mean.count == channels, std.count == channels else {
            throw Self.invalid("mean and std need \(channels) values each, have \(mean.count) and \(std.count)")
        }
        guard std.allSatisfy({ $0 != 0 }) else { throw Self.invalid("std \(std) has a zero") }
        if let side = cropSize {
            let (area, overflow) = side.multipliedReportingOverflow(by: side)
            guard side > 0, !overflow, area <= ImageDecoder.maxPixels else {
                throw Self.invalid("cropSize \(side) is not between 1 and \(Int(Double(ImageDecoder.maxPixels).squareRoot()))")
            }
        }
        var raster = Raster(image)
        if grayscale { raster = PillowConvert.luma(raster) }
        return centerCrop(try resize(raster))
    }

    private func resize(_ raster: Raster) throws -> Raster {
        guard let resizeSize else { return raster }
        let (width, height) = try Preprocessing.resizedSize(width: raster.width, height: raster.height, shorterSide: resizeSize)
        if width == raster.width && height == raster.height { return raster }
        return PillowResample.resize(raster, width: width, height: height, interpolation: interpolation)
    }

    private func centerCrop(_ raster: Raster) -> Raster {
        guard let side = cropSize, side > 0 else { return raster }
        // Padding splits (side - size) as floor half before, the rest after; the crop offset of
        // what is left over is round-half-even, so the two can differ by one for odd differences.
        func offset(_ size: Int) -> Int {
            size < side ? -((side - size) / 2) : Int((Double(size - side) / 2).rounded(.toNearestOrEven))
        }
        return raster.window(x: offset(raster.width), y: offset(raster.height), width: side, height: side)
    }

    /// torchvision's `_compute_resized_output_size` for a one-element size, bounded by
    /// `ImageDecoder.maxPixels` so that an extreme aspect ratio cannot ask for absurd memory.
    static func resizedSize(width: Int, height: Int, shorterSide: Int) throws -> (width: Int, height: Int) {
        guard shorterSide > 0 else { throw Self.invalid("resizeSize \(shorterSide) is not positive") }
        let (short, long) = width <= height ? (width, height) : (height, width)
        let (product, overflow) = shorterSide.multipliedReportingOverflow(by: long)
        // Python divides the exact integer product once, correctly rounded; so does Double here
        // while the product stays below 2^53.
        let newLong = Double(product) / Double(short)
        guard !overflow, product < 1 << 53, newLong * Double(shorterSide) <= Double(ImageDecoder.maxPixels) else {
            throw Self.invalid("resizing \(width)x\(height) to shorter side \(shorterSide) gives over \(ImageDecoder.maxPixels) pixels")
        }
        return width <= height ? (shorterSide, Int(newLong)) : (Int(newLong), shorterSide)
    }

    private func validate(_ image: RGBImage) throws {
        guard image.width > 0, image.height > 0,
              let count = Tensor.elementCount(of: [image.height, image.width, 3]), count == image.pixels.count
        else {
            throw Self.invalid("image of \(image.width)x\(image.height) has \(image.pixels.count) bytes, not width * height * 3")
        }
    }

    static func invalid(_ reason: String) -> RuntimeError {
        RuntimeError.invalidArgument(operation: "Preprocessing", reason: reason)
    }
}

private extension RGBImage {
    /// An RGB raster as an image; `Preprocessing` only exposes RGB steps.
    init(_ raster: Raster) {
        self.init(width: raster.width, height: raster.height, pixels: raster.pixels)
    }
}
