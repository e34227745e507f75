/// A tensor as the checkpoint stores it: its dtype, shape and values as contiguous little-endian
/// row-major bytes (bool as one byte each). Views (offsets, strides) are already materialized.
public struct TensorData: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    public let bytes: [UInt8]

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public var elementCount: Int { bytes.count / dtype.byteSize }

    /// The values as float32, converting from any dtype the way `tensor.float()` does.
    public func floatValues() -> [Float] {
        [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            writeFloatValues(into: buffer)
            initialized = buffer.count
        }
    }

    /// Converts the first `buffer.count` values (at most all of them) to float32 straight into
    /// `buffer`, such as a parameter's own storage, so loading converts each tensor once.
    public func writeFloatValues(into buffer: UnsafeMutableBufferPointer<Float>) {
        let count = min(elementCount, buffer.count)
        bytes.withUnsafeBytes { raw in
            switch dtype {
            case .float32:
                UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[0..<(count * 4)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<(count * 4)]))
            case .float64: Self.convert(raw, count, into: buffer, Double.self) { Float($0) }
            case .float16: Self.convert(raw, count, into: buffer, UInt16.self) { HalfPrecision.float(fromHalf: $0) }
            case .bfloat16: Self.convert(raw, count, into: buffer, UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
            case .int64: Self.convert(raw, count, into: buffer, Int64.self) { Float($0) }
            case .int32: Self.convert(raw, count, into: buffer, Int32.self) { Float($0) }
            case .int16: Self.convert(raw, count, into: buffer, Int16.self) { Float($0) }
            case .int8: Self.convert(raw, count, into: buffer, Int8.self) { Float($0) }
            case .uint8: Self.convert(raw, count, into: buffer, UInt8.self) { Float($0) }
            case .bool: Self.convert(raw, count, into: buffer, UInt8.self) { $0 == 0 ? 0 : 1 }
            }
        }
    }

    /// Integer values (for int64 buffers such as `num_batches_tracked`), nil for floating dtypes.
    public func integerValues() -> [Int64]? {
        guard !dtype.isFloatingPoint else { return nil }
        let count = elementCount
        return bytes.withUnsafeBytes { raw in
            switch dtype {
            case .int64: return Self.convert(raw, count, Int64.self) { $0 }
            case .int32: return Self.convert(raw, count, Int32.self) { Int64($0) }
            case .int16: return Self.convert(raw, count, Int16.self) { Int64($0) }
            case .int8: return Self.convert(raw, count, Int8.self) { Int64($0) }
            default: return Self.convert(raw, count, UInt8.self) { Int64($0) }
            }
        }
    }

    private static func convert<Element>(
        _ raw: UnsafeRawBufferPointer, _ count: Int, into buffer: UnsafeMutableBufferPointer<Float>, _ type: Element.Type,
        _ transform: (Element) -> Float
    ) {
        for index in 0..<count {
            buffer[index] = transform(raw.loadUnaligned(fromByteOffset: index * MemoryLayout<Element>.size, as: Element.self))
        }
    }

    private static func convert<Element>(
        _ raw: UnsafeRawBufferPointer, _ count: Int, _ type: Element.Type, _ transform: (Element) -> Int64
    ) -> [Int64] {
        (0..<count).map { transform(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<Element>.size, as: Element.self)) }
    }
}

/// IEEE half precision to single, by bits: `Float16` is missing on some Apple targets.
enum HalfPrecision {
    static func float(fromHalf bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x03FF)
        if exponent == 0x1F {  // infinity or NaN
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        if exponent == 0 {  // zero or subnormal: mantissa * 2^-24
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}
