import Foundation

/// A check a model's weights still wait on, and which every output of the model waits for: the
/// SHA-256 of the file they came from, hashed in the background while the plan compiles and the
/// first input runs (`VerificationTiming.inBackground`). Until the check has passed, `model(x)`,
/// `referenceForward`, `headInput`, `trace` and a plan compiled from the model compute their output,
/// then wait for the check and throw its error instead of returning an output made from weights
/// that are not the file's they claim to be. A check that failed keeps failing.
final class WeightsGate: @unchecked Sendable {
    private let lock = NSLock()
    private var check: (@Sendable () throws -> Void)?

    func hold(until check: @escaping @Sendable () throws -> Void) {
        lock.withLock { self.check = check }
    }

    /// Nothing once the check has passed (and then it is forgotten: later calls cost a lock).
    func pass() throws {
        guard let check = lock.withLock({ self.check }) else { return }
        try check()
        lock.withLock { self.check = nil }
    }

    /// The check itself, for a plan compiled while the model waits: the plan outlives the gate's
    /// state and must keep waiting (or failing) on its own.
    var pending: (@Sendable () throws -> Void)? { lock.withLock { check } }
}
