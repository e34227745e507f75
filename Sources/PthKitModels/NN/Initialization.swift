import Foundation
import PthKitSupport

/// The random source for fresh parameters, seeded like `torch.manual_seed` so a model built twice
/// with the same seed has the same weights. (The values differ from torch's own generator; only the
/// distributions are PyTorch's.)
public enum Initialization {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var state: UInt64 = 0x853C_49E6_748F_EA9B

    /// Seeds the process-wide source (what `torch.manual_seed` does), used outside `withSeed`.
    public static func seed(_ value: UInt64) {
        lock.withLock { state = value }
    }

    /// Runs `body` with a source of its own seeded with `value`: what it initializes is the same
    /// whatever other threads build meanwhile, and the process-wide source is left alone.
    public static func withSeed<T>(_ value: UInt64, _ body: () throws -> T) rethrows -> T {
        try $scoped.withValue(ScopedSource(state: value), operation: body)
    }

    /// The source `withSeed` binds for the current task or thread.
    @TaskLocal private static var scoped: ScopedSource?

    private final class ScopedSource: @unchecked Sendable {
        // Only touched by the thread that bound it (task-locals do not cross threads unasked).
        var state: UInt64
        init(state: UInt64) { self.state = state }
    }

    /// `count` values uniform in [-bound, bound).
    static func uniform(count: Int, bound: Float) -> [Float] {
        let draw = pendingUniformDraw(bound: bound)
        return [Float](emptySafeUninitializedCapacity: max(count, 0)) { buffer, initialized in
            draw.fill(buffer)
            initialized = buffer.count
        }
    }

    /// U(-bound, bound) values to be drawn later from a seed taken now from the current source, so
    /// when they are drawn does not change what they are.
    static func pendingUniformDraw(bound: Float) -> PendingUniformDraw {
        let seed: UInt64
        if let scoped {
            seed = nextSeed(&scoped.state)
        } else {
            seed = lock.withLock { nextSeed(&state) }
        }
        return PendingUniformDraw(seed: seed, bound: bound)
    }

    private static func nextSeed(_ state: inout UInt64) -> UInt64 {
        var generator = SplitMix64(state: state)
        let seed = generator.next()
        state = generator.state
        return seed
    }

    struct PendingUniformDraw: Sendable {
        let seed: UInt64
        let bound: Float

        func fill(_ buffer: UnsafeMutableBufferPointer<Float>) {
            var generator = SplitMix64(state: seed)
            // A plain loop: resnet50 draws 25M values.
            for index in buffer.indices { buffer[index] = Float(generator.nextUnit() * 2 - 1) * bound }
        }
    }

    /// PyTorch's default for Conv2d and Linear: `kaiming_uniform_(a=sqrt(5))` for the weight and
    /// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias, both of which reduce to that one bound.
    static func defaultLayerBound(fanIn: Int) -> Float {
        fanIn > 0 ? 1 / Float(fanIn).squareRoot() : 0
    }
}

/// A small fast generator (Steele et al.), enough for weight initialization (and the fuzz driver's
/// mutations): the same state gives the same sequence everywhere.
public struct SplitMix64: Sendable {
    public var state: UInt64

    public init(state: UInt64) {
        self.state = state
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
