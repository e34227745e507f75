/// A tensor as the checkpoint stores it: its dtype, shape and values as contiguous little-endian
/// row-major bytes (bool as one byte each). Views (offsets, strides) are already materialized; the
/// bytes of a tensor that is a whole stored record are still the file's (`TensorBytes.region`).
public struct TensorData: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    public let storage: TensorBytes

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.init(dtype: dtype, shape: shape, storage: .owned(bytes))
    }

    public init(dtype: DType, shape: [Int], storage: TensorBytes) {
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// The bytes as an array: a copy when they are still the file's.
    public var bytes: [UInt8] { storage.array }

    public var byteCount: Int { storage.count }

    public var elementCount: Int { storage.count / dtype.byteSize }

    public static func == (lhs: TensorData, rhs: TensorData) -> Bool {
        guard lhs.dtype == rhs.dtype, lhs.shape == rhs.shape, lhs.byteCount == rhs.byteCount else { return false }
        return lhs.storage.withUnsafeBytes { left in rhs.storage.withUnsafeBytes { right in left.elementsEqual(right) } }
    }

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
        let size = dtype.byteSize
        storage.forEachChunk(elementSize: size) { first, raw in
            guard first < count else { return }
            let chunkCount = min(raw.count / size, count - first)
            let destination = UnsafeMutableBufferPointer(rebasing: buffer[first..<(first + chunkCount)])
            Self.convert(UnsafeRawBufferPointer(rebasing: raw[0..<(chunkCount * size)]), dtype, into: destination)
        }
    }

    private static func convert(_ raw: UnsafeRawBufferPointer, _ dtype: DType, into buffer: UnsafeMutableBufferPointer<Float>) {
        let count = buffer.count
        switch dtype {
        case .float32: UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
        case .float64: convert(raw, count, into: buffer, Double.self) { Float($0) }
        case .float16: convert(raw, count, into: buffer, UInt16.self) { HalfPrecision.float(fromHalf: $0) }
        case .bfloat16: convert(raw, count, into: buffer, UInt16.self) { Float(bitPattern: UInt32($0) << 16) }
        case .int64: convert(raw, count, into: buffer, Int64.self) { Float($0) }
        case .int32: convert(raw, count, into: buffer, Int32.self) { Float($0) }
        case .int16: convert(raw, count, into: buffer, Int16.self) { Float($0) }
        case .int8: convert(raw, count, into: buffer, Int8.self) { Float($0) }
        case .uint8: convert(raw, count, into: buffer, UInt8.self) { Float($0) }
        case .bool: convert(raw, count, into: buffer, UInt8.self) { $0 == 0 ? 0 : 1 }
        }
    }

    /// Integer values (for int64 buffers such as `num_batches_tracked`), nil for floating dtypes.
    public func integerValues() -> [Int64]? {
        guard !dtype.isFloatingPoint else { return nil }
        let count = elementCount
        return storage.withUnsafeBytes { raw in
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
