import PthKitSupport

/// A tensor as the checkpoint stores it: its dtype, shape and the bytes of its storage (little-endian,
/// bool as one byte each). A dense tensor's bytes are its row-major values (`layout` nil); the bytes
/// of a tensor that is a whole stored record are still the file's (`TensorBytes.region`). Any other
/// view (a slice, a transpose, an expanded stride-0 view) keeps its storage, offset and strides in `layout`,
/// as torch keeps it, and is made dense only by a consumer that needs it so (see TensorLayout.swift).
public struct TensorData: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    /// The dense values when `layout` is nil; otherwise the whole storage the view looks into
    /// (`denseStorage` gives the dense bytes of both without copying where they are one run).
    public let storage: TensorBytes
    /// Where a view (anything but its whole storage as it lies) lies in `storage`; nil when dense.
    public let layout: TensorLayout?

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.init(dtype: dtype, shape: shape, storage: .owned(bytes))
    }

    public init(dtype: DType, shape: [Int], storage: TensorBytes) {
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.layout = nil
    }

    /// A view checked by `TensorView` (in bounds, counts without overflow).
    init(dtype: DType, shape: [Int], storage: TensorBytes, layout: TensorLayout) {
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.layout = layout
    }

    /// The bytes as an array: a copy when they are still the file's, a dense copy of a view.
    /// A view's copy is as large as its shape says: consumers of files use `forEachDenseChunk`.
    public var bytes: [UInt8] { denseStorage?.array ?? denseBytes(elements: 0..<elementCount) }

    /// The bytes of the dense values (of the view, not of its storage).
    public var byteCount: Int { layout.map { $0.elementCount * dtype.byteSize } ?? storage.count }

    public var elementCount: Int { layout?.elementCount ?? storage.count / dtype.byteSize }

    public static func == (lhs: TensorData, rhs: TensorData) -> Bool {
        guard lhs.dtype == rhs.dtype, lhs.shape == rhs.shape, lhs.byteCount == rhs.byteCount else { return false }
        if let left = lhs.denseStorage, let right = rhs.denseStorage {
            return left.withUnsafeBytes { left in right.withUnsafeBytes { right in left.elementsEqual(right) } }
        }
        return lhs.denseValuesEqual(rhs)
    }

    /// The values as float32, converting from any dtype the way `tensor.float()` does.
    public func floatValues() -> [Float] {
        [Float](emptySafeUninitializedCapacity: elementCount) { buffer, initialized in
            writeFloatValues(into: buffer)
            initialized = buffer.count
        }
    }

    /// Converts the first `buffer.count` values (at most all of them) to float32 straight into
    /// `buffer`, such as a parameter's own storage, so loading converts each tensor once.
    public func writeFloatValues(into buffer: UnsafeMutableBufferPointer<Float>) {
        let count = min(elementCount, buffer.count)
        let size = dtype.byteSize
        forEachDenseChunk(elements: 0..<count) { first, raw in
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

    /// Integer values (for int64 buffers such as `num_batches_tracked`), nil for floating dtypes;
    /// the first `limit` of them when given (a model's buffer size, not the file's word).
    public func integerValues(limit: Int? = nil) -> [Int64]? {
        guard !dtype.isFloatingPoint else { return nil }
        let count = min(elementCount, limit ?? elementCount)
        guard let dense = denseStorage else {
            return TensorData(dtype: dtype, shape: [count], bytes: denseBytes(elements: 0..<count)).integerValues()
        }
        return dense.withUnsafeBytes { raw in
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
