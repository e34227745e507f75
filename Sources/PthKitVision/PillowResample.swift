/// Pillow's `Image.resize` of an 8-bit image over the whole source box, to the bit: what
/// torchvision's `Resize` (antialias always on for PIL images) does to a PIL image.
///
/// Bilinear and bicubic are Pillow's separable convolution (libImaging/Resample.c): a filter
/// stretched by the downscale factor, weights computed in double, normalised to sum 1, then
/// rounded to fixed point with 22 fraction bits; a horizontal pass into an 8-bit intermediate
/// image, then a vertical pass, each skipped when its dimension is unchanged. Nearest is Pillow's
/// affine scale (libImaging/Geometry.c), whose source positions accumulate in double.
enum PillowResample {
    /// The convolution kernels; nearest is not one (see `nearest`).
    enum Kernel {
        case bilinear, bicubic

        /// Half-width of the kernel at scale 1, in source pixels.
        var support: Double {
            switch self {
            case .bilinear: return 1
            case .bicubic: return 2
            }
        }

        func weight(_ distance: Double) -> Double {
            let x = abs(distance)
            switch self {
            case .bilinear:
                return x < 1 ? 1 - x : 0
            case .bicubic:
                // Keys' cubic convolution with a = -0.5, in Pillow's operation order.
                let a = -0.5
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            }
        }
    }

    static func resize(_ image: Raster, width: Int, height: Int, interpolation: Preprocessing.Interpolation) -> Raster {
        guard width > 0, height > 0, image.width > 0, image.height > 0 else {
            let (width, height) = (max(width, 0), max(height, 0))
            return Raster(width: width, height: height, channels: image.channels,
                          pixels: [UInt8](repeating: 0, count: width * height * image.channels))
        }
        let kernel: Kernel
        switch interpolation {
        case .nearest: return nearest(image, width: width, height: height)
        case .bilinear: kernel = .bilinear
        case .bicubic: kernel = .bicubic
        }
        let vertical = Taps(inSize: image.height, outSize: height, kernel: kernel)
        var source = image
        var rowOffset = 0
        if width != image.width {
            // Only the rows the vertical pass reads are resampled horizontally.
            let first = vertical.first[0]
            let last = vertical.first[height - 1] + vertical.count[height - 1]
            source = horizontalPass(image, rows: first..<last, taps: Taps(inSize: image.width, outSize: width, kernel: kernel))
            rowOffset = first
        }
        guard height != image.height else { return source }
        return verticalPass(source, rowOffset: rowOffset, taps: vertical)
    }

    /// Per output position: the first source index, how many follow, and their fixed-point weights
    /// (Pillow's precompute_coeffs and normalize_coeffs_8bpc for a box of the whole image).
    struct Taps {
        static let precisionBits: Int32 = 32 - 8 - 2

        let stride: Int
        var first: [Int]
        var count: [Int]
        var weights: [Int32]

        init(inSize: Int, outSize: Int, kernel: Kernel) {
            // Pillow passes the box as C floats: (double)(in1 - in0) / outSize.
            let scale = Double(Float(inSize)) / Double(outSize)
            let filterScale = max(scale, 1)
            let support = kernel.support * filterScale
            stride = Int(support.rounded(.up)) * 2 + 1
            first = [Int](repeating: 0, count: outSize)
            count = [Int](repeating: 0, count: outSize)
            weights = [Int32](repeating: 0, count: outSize * stride)
            var exact = [Double](repeating: 0, count: stride)
            let unit = Double(Int32(1) << Taps.precisionBits)
            for position in 0..<outSize {
                let center = (Double(position) + 0.5) * scale
                // C casts truncate toward zero, which Int(_: Double) does too.
                let low = max(0, Int(center - support + 0.5))
                let high = min(inSize, Int(center + support + 0.5))
                var total = 0.0
                for tap in 0..<(high - low) {
                    let weight = kernel.weight((Double(tap + low) - center + 0.5) * (1 / filterScale))
                    exact[tap] = weight
                    total += weight
                }
                for tap in 0..<(high - low) {
                    let normalised = total != 0 ? exact[tap] / total : exact[tap]
                    weights[position * stride + tap] = Int32(normalised < 0 ? -0.5 + normalised * unit : 0.5 + normalised * unit)
                }
                first[position] = low
                count[position] = high - low
            }
        }

        /// Sum of samples times weights, rounded and clipped to 8 bits as Pillow's clip8 does.
        @inline(__always)
        func apply(_ position: Int, _ sample: (Int) -> UInt8) -> UInt8 {
            var sum = Int32(1) << (Taps.precisionBits - 1)
            let base = position * stride
            for tap in 0..<count[position] {
                sum &+= Int32(sample(first[position] + tap)) &* weights[base + tap]
            }
            return UInt8(clamping: sum >> Taps.precisionBits)
        }
    }

    private static func horizontalPass(_ image: Raster, rows: Range<Int>, taps: Taps) -> Raster {
        let channels = image.channels, outWidth = taps.first.count
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * channels)
        image.pixels.withUnsafeBufferPointer { pixels in
            for row in rows {
                let rowStart = row * image.width * channels
                for x in 0..<outWidth {
                    for channel in 0..<channels {
                        out[((row - rows.lowerBound) * outWidth + x) * channels + channel] =
                            taps.apply(x) { pixels[rowStart + $0 * channels + channel] }
                    }
                }
            }
        }
        return Raster(width: outWidth, height: rows.count, channels: channels, pixels: out)
    }

    /// `rowOffset`: the source row that `image`'s first row stands for.
    private static func verticalPass(_ image: Raster, rowOffset: Int, taps: Taps) -> Raster {
        let channels = image.channels, outHeight = taps.first.count
        let rowLength = image.width * channels
        var out = [UInt8](repeating: 0, count: outHeight * rowLength)
        image.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<outHeight {
                for column in 0..<rowLength {
                    out[y * rowLength + column] = taps.apply(y) { pixels[($0 - rowOffset) * rowLength + column] }
                }
            }
        }
        return Raster(width: image.width, height: outHeight, channels: channels, pixels: out)
    }

    /// Pillow's ImagingScaleAffine: output pixel x reads source column int(a/2 + x*a), with
    /// a = in/out, the sum accumulated one step at a time as Pillow does.
    private static func nearest(_ image: Raster, width: Int, height: Int) -> Raster {
        func sources(inSize: Int, outSize: Int) -> [Int?] {
            let step = Double(Float(inSize)) / Double(outSize)
            var position = step * 0.5
            var result: [Int?] = []
            for _ in 0..<outSize {
                let index = Int(position)
                result.append(index < inSize ? index : nil)
                position += step
            }
            return result
        }
        let columns = sources(inSize: image.width, outSize: width)
        let rows = sources(inSize: image.height, outSize: height)
        let channels = image.channels
        var out = [UInt8](repeating: 0, count: width * height * channels)
        for (y, row) in rows.enumerated() {
            guard let row else { continue }
            for (x, column) in columns.enumerated() {
                guard let column else { continue }
                for channel in 0..<channels {
                    out[(y * width + x) * channels + channel] = image.pixels[(row * image.width + column) * channels + channel]
                }
            }
        }
        return Raster(width: width, height: height, channels: channels, pixels: out)
    }
}
