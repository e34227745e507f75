/// Pillow's `Image.convert`, for the two conversions torchvision's image path makes: any opened
/// PNG or JPEG to "RGB" (the default loader) and "RGB" to "L" (`transforms.Grayscale`). Each rule
/// below is what Pillow 13 does, checked by the fixtures of Scripts/make_image_fixtures.py.
enum PillowConvert {
    /// The samples a decoder returns, in the file's own colour model.
    enum Layout: Equatable {
        case gray, grayAlpha, rgb, rgba, cmyk
        /// One palette index per pixel; `palette` holds the PLTE entries as RGB triples.
        case indexed(palette: [UInt8])

        var channels: Int {
            switch self {
            case .gray, .indexed: return 1
            case .grayAlpha: return 2
            case .rgb: return 3
            case .rgba, .cmyk: return 4
            }
        }
    }

    /// `Image.open(f).convert("RGB")`. `sixteenBit` samples are big-endian, as PNG stores them.
    static func rgb(from samples: UnsafeBufferPointer<UInt8>, layout: Layout, sixteenBit: Bool, pixelCount: Int) -> [UInt8] {
        let step = layout.channels * (sixteenBit ? 2 : 1)
        // Pillow opens 16-bit RGB(A) and gray+alpha PNGs by keeping the high byte of each sample.
        func high(_ pixel: Int, _ channel: Int) -> UInt8 { samples[pixel * step + channel * (sixteenBit ? 2 : 1)] }

        var out = [UInt8](repeating: 0, count: pixelCount * 3)
        switch layout {
        case .gray where sixteenBit:
            // 16-bit gray opens as mode "I;16", whose conversion to RGB clips at 255 rather than
            // scaling: everything above 255 becomes white.
            for pixel in 0..<pixelCount {
                let value = Int(samples[2 * pixel]) << 8 | Int(samples[2 * pixel + 1])
                let gray = UInt8(min(value, 255))
                out[3 * pixel] = gray
                out[3 * pixel + 1] = gray
                out[3 * pixel + 2] = gray
            }
        case .gray, .grayAlpha:
            // "LA" to "RGB" drops alpha; nothing is composited.
            for pixel in 0..<pixelCount {
                let gray = high(pixel, 0)
                out[3 * pixel] = gray
                out[3 * pixel + 1] = gray
                out[3 * pixel + 2] = gray
            }
        case .rgb, .rgba:
            for pixel in 0..<pixelCount {
                out[3 * pixel] = high(pixel, 0)
                out[3 * pixel + 1] = high(pixel, 1)
                out[3 * pixel + 2] = high(pixel, 2)
            }
        case let .indexed(palette):
            // Indices past the PLTE entries read black, as from Pillow's zero-filled palette; tRNS is
            // ignored.
            let table = Array(palette.prefix(768)) + [UInt8](repeating: 0, count: 768 - min(palette.count, 768))
            for pixel in 0..<pixelCount {
                let entry = 3 * Int(samples[pixel])
                out[3 * pixel] = table[entry]
                out[3 * pixel + 1] = table[entry + 1]
                out[3 * pixel + 2] = table[entry + 2]
            }
        case .cmyk:
            // Pillow reads every 4-component JPEG as Adobe's inverted CMYK ("CMYK;I"), then converts
            // with cmyk2rgb: channel = (255 - K) - (channel * (255 - K)) / 255, the division rounded
            // by MULDIV255.
            for pixel in 0..<pixelCount {
                let inkless = Int(samples[4 * pixel + 3])  // 255 - K once the inversion is undone
                for channel in 0..<3 {
                    let ink = 255 - Int(samples[4 * pixel + channel])
                    let product = ink * inkless + 128
                    let scaled = ((product >> 8) + product) >> 8
                    out[3 * pixel + channel] = UInt8(clamping: inkless - scaled)
                }
            }
        }
        return out
    }

    /// `convert("L")` of an RGB raster: ITU-R 601-2 luma in Pillow's 16-bit fixed point (weights
    /// 19595, 38470, 7471, summing to 65536), rounded half up. Not the (299, 587, 114) / 1000 of its
    /// documentation.
    static func luma(_ image: Raster) -> Raster {
        let pixelCount = image.width * image.height
        var gray = [UInt8](repeating: 0, count: pixelCount)
        image.pixels.withUnsafeBufferPointer { rgb in
            for pixel in 0..<pixelCount {
                let weighted = Int(rgb[3 * pixel]) * 19595 + Int(rgb[3 * pixel + 1]) * 38470
                    + Int(rgb[3 * pixel + 2]) * 7471 + 0x8000
                gray[pixel] = UInt8(truncatingIfNeeded: weighted >> 16)
            }
        }
        return Raster(width: image.width, height: image.height, channels: 1, pixels: gray)
    }
}
