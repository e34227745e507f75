/// The tensor element types a checkpoint can hold, named as PyTorch prints them.
public enum DType: String, Sendable, CaseIterable, Codable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16: return true
        default: return false
        }
    }

    /// The dtype of a legacy typed storage class (`torch.FloatStorage`, `torch.cuda.HalfStorage`, ...).
    /// Where a tensor lived (CPU or GPU) does not matter: everything is read to the host.
    init?(storageClass name: String) {
        let base = name.split(separator: ".").last.map(String.init) ?? name
        // UntypedStorage (torch >= 2.0's byte storage) reads as bytes; the rest invert storageClassName.
        guard let dtype = base == "UntypedStorage" ? .uint8 : Self.allCases.first(where: { $0.storageClassName == base })
        else { return nil }
        self = dtype
    }

    /// The typed storage class `torch.save` names in a storage's persistent id (`torch.FloatStorage`).
    var storageClassName: String {
        switch self {
        case .float32: return "FloatStorage"
        case .float64: return "DoubleStorage"
        case .float16: return "HalfStorage"
        case .bfloat16: return "BFloat16Storage"
        case .int64: return "LongStorage"
        case .int32: return "IntStorage"
        case .int16: return "ShortStorage"
        case .int8: return "CharStorage"
        case .uint8: return "ByteStorage"
        case .bool: return "BoolStorage"
        }
    }

    /// The dtype named by a `torch.<dtype>` global (`torch.float32`, `torch.half`, ...).
    init?(torchName name: String) {
        switch name {
        case "float32", "float": self = .float32
        case "float64", "double": self = .float64
        case "float16", "half": self = .float16
        case "bfloat16": self = .bfloat16
        case "int64", "long": self = .int64
        case "int32", "int": self = .int32
        case "int16", "short": self = .int16
        case "int8": self = .int8
        case "uint8": self = .uint8
        case "bool": self = .bool
        default: return nil
        }
    }
}
