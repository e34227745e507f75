import Foundation
import PthKit

/// The exact description `Scripts/oracle/check_written_checkpoint.py` prints of what torch.load
/// returned, computed here from the tree PthKit wrote, so the two can be compared as JSON objects.
enum CheckpointDescription {
    static func of(_ value: CheckpointValue) -> Any {
        switch value {
        case .none: return ["type": "None"]
        case .bool(let flag): return ["type": "bool", "value": flag]
        case .int(let number): return ["type": "int", "value": String(number)]
        case .bigInt(let digits): return ["type": "int", "value": decimal(twosComplement: digits)]
        case .float(let number): return ["type": "float", "bits": Int64(bitPattern: number.bitPattern)]
        case .string(let text): return ["type": "str", "value": text]
        case .bytes(let data): return ["type": "bytes", "hex": data.map { String(format: "%02x", $0) }.joined()]
        case .tensor(let tensor): return ["type": "tensor", "dtype": tensor.dtype.rawValue, "shape": tensor.shape, "bits": bits(tensor)]
        case .list(let items): return ["type": "list", "items": items.map(of)]
        case .tuple(let items): return ["type": "tuple", "items": items.map(of)]
        case .dict(let dict), .module(_, let dict):
            var result: [String: Any] = [
                "type": dict.metadata == nil ? "dict" : "OrderedDict",
                "items": dict.entries.map { [of($0.key), of($0.value)] },
            ]
            if let metadata = dict.metadata {
                result["metadata"] = metadata.mapValues { version -> [String: Int] in version.map { ["version": $0] } ?? [:] }
            }
            return result
        case .opaque(let name, _): return ["type": "opaque \(name)"]
        }
    }

    /// Whether torch's description (decoded JSON) equals ours.
    static func matches(_ torch: Any?, _ value: CheckpointValue) -> Bool {
        guard let torch = torch as? NSObject else { return false }
        return torch.isEqual(of(value) as? NSObject)
    }

    /// Each element's bits as a signed integer of its width, as the script views tensors.
    private static func bits(_ tensor: TensorData) -> [Int] {
        func load<Element: FixedWidthInteger>(_ type: Element.Type) -> [Int] {
            tensor.bytes.withUnsafeBytes { raw in
                (0..<tensor.elementCount).map { Int(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<Element>.size, as: Element.self)) }
            }
        }
        switch tensor.dtype {
        case .float64, .int64: return load(Int64.self)
        case .float32, .int32: return load(Int32.self)
        case .float16, .bfloat16, .int16: return load(Int16.self)
        case .int8: return load(Int8.self)
        case .uint8, .bool: return load(UInt8.self)
        }
    }

    /// Little-endian two's-complement bytes as a decimal string (`-1180591620717411303424`).
    static func decimal(twosComplement bytes: [UInt8]) -> String {
        guard let last = bytes.last else { return "0" }
        let negative = last & 0x80 != 0
        var magnitude = bytes
        if negative {
            var carry = 1
            for index in magnitude.indices {
                let sum = Int(~magnitude[index]) + carry
                magnitude[index] = UInt8(sum & 0xFF)
                carry = sum >> 8
            }
        }
        var digits: [Character] = []
        var number = Array(magnitude.reversed())  // most significant first
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for index in number.indices {
                let current = remainder * 256 + Int(number[index])
                number[index] = UInt8(current / 10)
                remainder = current % 10
            }
            digits.append(Character(String(remainder)))
        }
        let text = digits.isEmpty ? "0" : String(digits.reversed())
        return negative ? "-" + text : text
    }
}
