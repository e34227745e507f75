import CImageShims
import Foundation
import PthKitSupport

/// PNG and JPEG files decoded to exactly the pixels of torchvision's default loader,
/// `PIL.Image.open(f).convert("RGB")`: libpng and libjpeg do the decoding (Pillow uses the same
/// libraries, and libjpeg with the same settings), `PillowConvert` does Pillow's mode conversion.
/// EXIF orientation is not applied, as `Image.open` does not apply it.
public enum ImageDecoder {
    /// Pillow refuses images above twice `Image.MAX_IMAGE_PIXELS` as decompression bombs; so do we,
    /// before allocating them.
    public static let maxPixels = 2 * (1024 * 1024 * 1024 / 4 / 3)

    /// The decoded-size budget: a file of N bytes may decode to at most 64 MiB plus 1024 bytes per
    /// file byte (samples as decoded or as RGB, whichever is larger, plus a progressive JPEG's
    /// coefficient buffer), checked against the header before anything is allocated. Real photos
    /// compress 5-50 to one; a few bytes claiming a huge frame are refused instead of decoded.
    public static func decodedByteBudget(fileSize: Int) -> UInt64 {
        (64 << 20) + 1024 * UInt64(max(0, fileSize))
    }

    public static func decode(contentsOf url: URL) throws -> RGBImage {
        let bytes: [UInt8]
        do {
            bytes = try FileReading.bytes(of: url)
        } catch {
            throw ImageError(file: url.path, problem: .unreadable(error.localizedDescription))
        }
        return try decode(bytes, name: url.path)
    }

    /// Decodes a whole PNG or JPEG file (told apart by signature); `name` only labels errors.
    public static func decode(_ bytes: [UInt8], name: String) throws -> RGBImage {
        guard !bytes.isEmpty else { throw ImageError(file: name, problem: .empty) }
        let format: ImageError.Format
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            format = .png
        } else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            format = .jpeg
        } else {
            throw ImageError(file: name, problem: .unknownFormat(leadingBytes: Array(bytes.prefix(8))))
        }

        var decoded = pthk_decoded_image()
        let budget = decodedByteBudget(fileSize: bytes.count)
        let status = bytes.withUnsafeBufferPointer { buffer in
            switch format {
            case .png: pthk_decode_png(buffer.baseAddress, buffer.count, UInt64(maxPixels), budget, &decoded)
            case .jpeg: pthk_decode_jpeg(buffer.baseAddress, buffer.count, UInt64(maxPixels), budget, &decoded)
            }
        }
        defer { pthk_image_free(&decoded) }

        guard status == PTHK_IMAGE_OK else {
            let reason = withUnsafeBytes(of: decoded.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let problem: ImageError.Problem
            switch status {
            case PTHK_IMAGE_UNSUPPORTED: problem = .unsupported(format, reason: reason)
            case PTHK_IMAGE_TOO_LARGE: problem = .tooLarge(format, reason: reason)
            case PTHK_IMAGE_OUT_OF_MEMORY: problem = .outOfMemory(format, reason: reason)
            default: problem = .corrupt(format, reason: reason)
            }
            throw ImageError(file: name, problem: problem)
        }

        let width = Int(decoded.width), height = Int(decoded.height)
        let layout: PillowConvert.Layout
        switch decoded.layout {
        case PTHK_LAYOUT_GRAY: layout = .gray
        case PTHK_LAYOUT_GRAY_ALPHA: layout = .grayAlpha
        case PTHK_LAYOUT_INDEXED:
            let entries = withUnsafeBytes(of: decoded.palette) { Array($0.prefix(3 * Int(decoded.palette_count))) }
            layout = .indexed(palette: entries)
        case PTHK_LAYOUT_RGB: layout = .rgb
        case PTHK_LAYOUT_RGBA: layout = .rgba
        default: layout = .cmyk
        }
        let wide = decoded.bytes_per_sample == 2
        let count = width * height * layout.channels * (wide ? 2 : 1)
        guard let start = decoded.samples else {
            throw ImageError(file: name, problem: .corrupt(format, reason: "decoder returned no pixels"))
        }
        let samples = UnsafeBufferPointer(start: start, count: count)
        return RGBImage(
            width: width, height: height,
            pixels: PillowConvert.rgb(from: samples, layout: layout, sixteenBit: wide, pixelCount: width * height))
    }
}
