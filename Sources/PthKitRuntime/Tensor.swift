import PthKitSupport

/// A dense float32 tensor in row-major order (NCHW for images): the one value the runtime computes on.
///
/// It is a value type over copy-on-write storage (its own array, or a borrowed region of a mapped
/// checkpoint: `TensorStorage`), so a loaded model's weights can be read by many concurrent forward
/// passes without locks.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var storage: TensorStorage
    /// Which value of the graph being traced this tensor is (`PlanTracer`); -1 outside a trace. Not
    /// part of the tensor's value: two tensors are equal when their shapes and values are.
    var tracedValue = -1

    /// Wraps `storage` as `shape`. The caller guarantees the element count; data from files goes
    /// through `init(validatingShape:storage:)` instead.
    public init(shape: [Int], storage: TensorStorage) {
        assert(shape.reduce(1, *) == storage.count, "shape \(shape) does not hold \(storage.count) values")
        self.shape = shape
        self.storage = storage
    }

    public init(shape: [Int], storage: [Float]) {
        self.init(shape: shape, storage: TensorStorage(storage))
    }

    /// Wraps untrusted data, checking that `shape` describes exactly `storage.count` values.
    public init(validatingShape shape: [Int], storage: [Float]) throws {
        try self.init(validatingShape: shape, storage: TensorStorage(storage))
    }

    public init(validatingShape shape: [Int], storage: TensorStorage) throws {
        guard let count = Tensor.elementCount(of: shape), count == storage.count else {
            throw RuntimeError.shapeMismatch(
                operation: "Tensor", expected: "\(storage.count) values", found: "shape \(shape)")
        }
        self.shape = shape
        self.storage = storage
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.storage == rhs.storage
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// The same values seen with another shape (torch's `view`/`reshape` on a contiguous tensor).
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        if PlanTracer.recording != nil { return try Kernels.traced("reshape", self) { try $0.reshaped(newShape) } }
        guard let count = Tensor.elementCount(of: newShape), count == storage.count else {
            throw RuntimeError.shapeMismatch(
                operation: "reshape", expected: "\(storage.count) values", found: "shape \(newShape)")
        }
        return Tensor(shape: newShape, storage: storage)
    }

    /// Product of the dimensions, or nil when one is negative or the product overflows.
    public static func elementCount(of shape: [Int]) -> Int? {
        TensorShape.elementCount(of: shape)
    }
}

/// Why a forward pass could not run: the input does not fit the layer.
public enum RuntimeError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(operation: String, expected: String, found: String)
    case invalidArgument(operation: String, reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(operation, expected, found):
            return "\(operation): expected \(expected), found \(found)"
        case let .invalidArgument(operation, reason):
            return "\(operation): \(reason)"
        }
    }
}
