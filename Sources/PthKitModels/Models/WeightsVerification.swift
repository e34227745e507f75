import Foundation
import PthKitCheckpoint

/// When `ModelZoo.load` finishes checking the SHA-256 of a file that must match one: a file named
/// like an official torchvision weight file, or any file given `LoadOptions.sha256`.
public enum VerificationTiming: Sendable {
    /// `load` returns once the hash has matched: nothing can touch weights that failed the check.
    /// The default.
    case beforeReturning
    /// `load` returns as soon as the weights are loaded and the file is hashed on another core, so
    /// compiling the plan and the first forward pass run beside the hash instead of after it.
    /// `LoadedModel.verification` is the running check: call `loaded.confirmVerified()` before using
    /// anything made from the weights. Forgetting is not silent: every output of the model (its call,
    /// `referenceForward`, `headInput`, `trace`, a plan compiled from it) waits for the check and
    /// throws its error rather than return a result computed from a file that failed it. Reading the
    /// parameters themselves (`stateDict()`, `saveStateDict`) is not held back: confirm first.
    case inBackground
}

/// The SHA-256 check of a loaded file, running on another core or finished. `confirm()` waits for
/// it and throws `CheckpointError` naming both digests if the file does not match; every later call
/// gives the same answer.
public final class WeightsVerification: @unchecked Sendable {
    /// A digest the file must start with, and the error's sentence given the digest found.
    struct Expectation: Sendable {
        let prefix: String
        let mismatch: @Sendable (_ digest: String) -> String
    }

    public let file: String
    private let finished = DispatchGroup()
    private var outcome: Result<String, CheckpointError> = .success("")

    /// Starts hashing `contents`; `remember` is given the digest of a file that matched every expectation.
    init(hashing contents: FileContents, file: String, expecting expectations: [Expectation],
         remember: @escaping @Sendable (String) -> Void) {
        self.file = file
        finished.enter()
        DispatchQueue.global(qos: .userInitiated).async {
            let stream = SHA256.Stream()
            contents.forEachChunk(of: 0..<contents.count) { stream.update($0) }
            let digest = stream.hexDigest()
            if let failed = expectations.first(where: { !digest.hasPrefix($0.prefix) }) {
                self.outcome = .failure(CheckpointError(
                    file: file, part: "",
                    problem: .container(failed.mismatch(digest))))
            } else {
                self.outcome = .success(digest)
                remember(digest)
            }
            // The group orders the write of `outcome` before every waiter's read.
            self.finished.leave()
        }
    }

    /// Whether the hash is done (matched or not); `confirm()` then returns at once.
    public var isFinished: Bool { finished.wait(timeout: .now()) == .success }

    /// Waits for the hash; throws if the file is not the one it must be.
    public func confirm() throws {
        finished.wait()
        _ = try outcome.get()
    }

    /// The file's SHA-256 once it matched (waits for the hash).
    public func digest() throws -> String {
        finished.wait()
        return try outcome.get()
    }
}
