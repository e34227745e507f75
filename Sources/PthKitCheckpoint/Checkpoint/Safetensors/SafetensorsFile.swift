import Foundation
import PthKitSupport

/// The safetensors layout: an 8-byte little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, "__metadata__": {...}}`),
/// then the tensors' little-endian bytes, offsets counted from the end of the header. Every number
/// in the header is checked against the file before anything is read or allocated on its word.
enum SafetensorsFile {
    /// The `safetensors` package refuses larger headers too.
    static let maximumHeaderSize = 100_000_000

    /// The dtype names of the format, for the dtypes torch saves.
    static let dtypeNames: [DType: String] = [
        .float32: "F32", .float64: "F64", .float16: "F16", .bfloat16: "BF16", .int64: "I64", .int32: "I32",
        .int16: "I16", .int8: "I8", .uint8: "U8", .bool: "BOOL",
    ]

    /// Decided by content: `{` right after the 8-byte length, whatever the length says (an absurd
    /// one is reported as a safetensors problem). Zip files are recognized first; pickles written by
    /// torch.save never have `{` there, and a header length's low byte may be 0x80, a pickle's first
    /// byte, so this test comes before the pickle test.
    static func looksLikeSafetensors(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 9 && bytes[8] == UInt8(ascii: "{")
    }

    /// Every tensor stays a region of the file until something converts it.
    static func read(_ contents: FileContents, file: String) throws -> (root: CheckpointValue, metadata: [String: String]) {
        do {
            let header = try parseHeader(contents.bytes)
            let dataStart = 8 + header.size
            let entries = header.tensors.map { tensor -> (key: CheckpointValue, value: CheckpointValue) in
                let data = TensorBytes.region(contents, (dataStart + tensor.begin)..<(dataStart + tensor.end))
                return (.string(tensor.name), .tensor(TensorData(dtype: tensor.dtype, shape: tensor.shape, storage: data)))
            }
            return (.dict(CheckpointDict(entries: entries)), header.metadata)
        } catch let error as SafetensorsError {
            throw CheckpointError(file: file, part: "safetensors header", problem: .container(error.reason))
        }
    }

    struct TensorEntry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    /// The header's tensors in the order of their data (ties by name: the order
    /// `safetensors.torch.load_file` returns) and its metadata, after checking every tensor against
    /// the data that follows the header.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer) throws -> (size: Int, tensors: [TensorEntry], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw SafetensorsError("the file is \(bytes.count) bytes, shorter than the header length") }
        let declared = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard declared <= UInt64(maximumHeaderSize) else {
            throw SafetensorsError("declares a header of \(declared) bytes, more than the \(maximumHeaderSize) allowed")
        }
        let size = Int(declared)
        guard 8 + size <= bytes.count else {
            throw SafetensorsError("declares a header of \(size) bytes, but the file has only \(bytes.count - 8) after the length")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + size)])))
        } catch {
            throw SafetensorsError("is not valid JSON")
        }
        guard let fields = object as? [String: Any] else { throw SafetensorsError("is not a JSON object") }
        let dataLength = bytes.count - 8 - size
        var metadata: [String: String] = [:]
        var tensors: [TensorEntry] = []
        for (name, description) in fields {
            if name == "__metadata__" {
                guard let table = description as? [String: Any] else { throw SafetensorsError("__metadata__ is not an object") }
                for (key, value) in table {
                    guard let text = value as? String else { throw SafetensorsError("__metadata__ \"\(key)\" is not a string") }
                    metadata[key] = text
                }
                continue
            }
            tensors.append(try tensorEntry(name, description, dataLength: dataLength))
        }
        // Tensors may not share bytes, and together they fill the data exactly, as the package requires.
        tensors.sort {
            ($0.begin, $0.end) != ($1.begin, $1.end)
                ? ($0.begin, $0.end) < ($1.begin, $1.end) : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }
        var end = 0
        for tensor in tensors {
            guard tensor.begin >= end else {
                throw SafetensorsError("tensor \"\(tensor.name)\" (bytes \(tensor.begin)..<\(tensor.end)) overlaps another tensor")
            }
            guard tensor.begin == end else {
                throw SafetensorsError("bytes \(end)..<\(tensor.begin) of the data belong to no tensor")
            }
            end = tensor.end
        }
        guard end == dataLength else {
            throw SafetensorsError("the tensors cover \(end) bytes of data, but the file holds \(dataLength)")
        }
        return (size, tensors, metadata)
    }

    private static func tensorEntry(_ name: String, _ description: Any, dataLength: Int) throws -> TensorEntry {
        guard let fields = description as? [String: Any], let dtypeName = fields["dtype"] as? String,
              let shapeItems = fields["shape"] as? [Any], let offsetItems = fields["data_offsets"] as? [Any]
        else { throw SafetensorsError("tensor \"\(name)\" lacks dtype, shape or data_offsets") }
        guard let dtype = dtypeNames.first(where: { $0.value == dtypeName })?.key else {
            throw SafetensorsError("tensor \"\(name)\" has dtype \(dtypeName.prefix(20)), which PthKit does not read")
        }
        let shape = try shapeItems.map { try count($0, what: "shape of tensor \"\(name)\"") }
        guard offsetItems.count == 2 else { throw SafetensorsError("tensor \"\(name)\" has \(offsetItems.count) data_offsets, not 2") }
        let begin = try count(offsetItems[0], what: "data_offsets of tensor \"\(name)\"")
        let end = try count(offsetItems[1], what: "data_offsets of tensor \"\(name)\"")
        guard begin <= end, end <= dataLength else {
            throw SafetensorsError("tensor \"\(name)\" has data_offsets [\(begin), \(end)] outside the \(dataLength) bytes of data")
        }
        let elements = TensorShape.elementCount(of: shape)
        let byteCount = elements?.multipliedReportingOverflow(by: dtype.byteSize)
        guard let byteCount, !byteCount.overflow, byteCount.partialValue == end - begin else {
            throw SafetensorsError("tensor \"\(name)\" of shape \(shape) and dtype \(dtypeName) does not take the \(end - begin) bytes of its data_offsets")
        }
        return TensorEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// A non-negative integer of the header (a size or an offset), at most 2^53 as JSON numbers are.
    private static func count(_ value: Any, what: String) throws -> Int {
        guard let number = value as? NSNumber else {
            throw SafetensorsError("\(what) is not a number")
        }
        let double = number.doubleValue
        guard double >= 0, double <= 0x1p53, double.rounded() == double, Double(number.int64Value) == double else {
            throw SafetensorsError("\(what) holds \(number), not a count")
        }
        return Int(number.int64Value)
    }
}

struct SafetensorsError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
