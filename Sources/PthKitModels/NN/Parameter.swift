import Foundation
import PthKitCheckpoint
import PthKitRuntime
import PthKitSupport

/// A parameter or buffer slot of a module. It is a reference so that loading a state dict, training
/// a head or replacing a layer reaches the one place the forward pass reads from.
public final class Parameter: @unchecked Sendable {
    /// What `state_dict()` reports as the dtype: float32 for weights, int64 for counters such as
    /// `num_batches_tracked`.
    public let dtype: DType
    private let lock = NSLock()
    private var storedValue: Tensor
    private var storedIntegers: [Int64]?
    private var storedVersion: UInt64
    /// Set while the random values of a fresh layer are still to be drawn (see `randomUniform`).
    private var pendingDraw: Initialization.PendingUniformDraw?

    public init(_ value: Tensor, dtype: DType = .float32) {
        self.dtype = dtype
        storedValue = value
        storedVersion = ParameterVersion.next()
    }

    /// A float32 parameter of `shape` holding PyTorch's default U(-bound, bound) values, drawn when
    /// they are first read. A model built to load a checkpoint never reads them: loading writes
    /// every value into the buffer, so building resnet50 or vit_h_14 costs no random draws and the
    /// buffer's pages are first touched by the load. The seed is taken now, so the values are the
    /// same whenever they are drawn and `Initialization.withSeed` scopes them as it would eager ones.
    public static func randomUniform(shape: [Int], bound: Float) -> Parameter {
        let parameter = Parameter(Tensor(shape: shape, storage: unfilledStorage(count: shape.reduce(1, *))))
        parameter.pendingDraw = Initialization.pendingUniformDraw(bound: bound)
        return parameter
    }

    /// Room for `count` values still to be drawn: never read before `materializePendingDraw` fills it
    /// (or a load overwrites it), and large enough buffers ask for huge pages before their first write.
    private static func unfilledStorage(count: Int) -> [Float] {
        return [Float](emptySafeUninitializedCapacity: count) { buffer, initialized in
            HugePages.advise(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    /// Replaces the values with fresh U(-bound, bound) ones of `shape`, drawn when first read, as
    /// `randomUniform` makes them; every reference to this parameter sees them.
    func resetToRandomUniform(shape: [Int], bound: Float) {
        let storage = Self.unfilledStorage(count: shape.reduce(1, *))
        let draw = Initialization.pendingUniformDraw(bound: bound)
        lock.withLock {
            storedValue = Tensor(shape: shape, storage: storage)
            storedIntegers = nil
            pendingDraw = draw
            storedVersion = ParameterVersion.next()
        }
    }

    /// The values the forward pass reads. Setting it forgets `integerValues`.
    public var value: Tensor {
        get {
            lock.withLock {
                materializePendingDraw()
                return storedValue
            }
        }
        set { store(newValue, integers: nil) }
    }

    /// Whether the values are still to be drawn (nothing has read or loaded them yet).
    var isAwaitingDraw: Bool { lock.withLock { pendingDraw != nil } }

    /// Must hold `lock`.
    private func materializePendingDraw() {
        guard let draw = pendingDraw else { return }
        pendingDraw = nil
        storedValue.storage.withUnsafeMutableBufferPointer { draw.fill($0) }
    }

    /// An int64 parameter's exact values as they were loaded (float32 holds integers exactly only up
    /// to 2^24), so `saveStateDict` writes back what was read; nil when `value` was set otherwise.
    public var integerValues: [Int64]? { lock.withLock { storedIntegers } }

    /// Sets an int64 parameter from exact integers; `value` holds them as float32 for the forward pass.
    public func setIntegers(_ integers: [Int64], shape: [Int]) {
        store(Tensor(shape: shape, storage: integers.map { Float($0) }), integers: integers)
    }

    /// Loads new values of `shape` by letting `fill` write them into the storage: the parameter's
    /// own buffer when its element count is unchanged and nothing else shares it (so loading a
    /// checkpoint converts each tensor once, into memory the model already holds), a new one otherwise.
    public func overwrite(shape: [Int], integers: [Int64]? = nil, _ fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        lock.withLock {
            let count = shape.reduce(1, *)
            // `fill` writes every element, so values still to be drawn never need drawing.
            pendingDraw = nil
            // Only an array of the parameter's own is reused: borrowed values are a checkpoint's
            // bytes, which are never written (and copying them first would be wasted).
            if storedValue.storage.count == count, !storedValue.storage.isBorrowed {
                storedValue.storage.withUnsafeMutableBufferPointer { buffer in fill(buffer) }
                if storedValue.shape != shape { storedValue = Tensor(shape: shape, storage: storedValue.storage) }
            } else {
                storedValue = Tensor(shape: shape, storage: [Float](emptySafeUninitializedCapacity: count) { buffer, initialized in
                    fill(buffer)
                    initialized = count
                })
            }
            storedIntegers = integers
            storedVersion = ParameterVersion.next()
        }
    }

    private func store(_ newValue: Tensor, integers: [Int64]?) {
        lock.withLock {
            pendingDraw = nil
            storedValue = newValue
            storedIntegers = integers
            storedVersion = ParameterVersion.next()
        }
    }

    public var shape: [Int] { lock.withLock { storedValue.shape } }

    /// The number of elements, without drawing values still to be drawn.
    public var elementCount: Int { lock.withLock { storedValue.storage.count } }

    /// Changes every time the value is set, so derived data (folded batch norms) knows when to rebuild.
    public var version: UInt64 { lock.withLock { storedVersion } }
}

/// A process-wide counter, so a version is never reused by another parameter.
enum ParameterVersion {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var counter: UInt64 = 0

    static func next() -> UInt64 {
        lock.withLock {
            counter += 1
            return counter
        }
    }
}

/// A value computed from parameters (a folded convolution, a batch norm's scale and shift), rebuilt
/// when any of them changes. Safe to read from concurrent forward passes.
final class DerivedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var versions: [UInt64] = []
    private var cached: Value?

    func value(for parameters: [Parameter?], compute: () -> Value) -> Value {
        let current = parameters.map { $0?.version ?? 0 }
        return lock.withLock {
            if let cached, versions == current { return cached }
            let fresh = compute()
            cached = fresh
            versions = current
            return fresh
        }
    }
}
