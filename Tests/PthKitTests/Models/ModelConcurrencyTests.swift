import Foundation
import PthKit
@testable import PthKitModels
import Testing

/// One loaded model shared by threads, and loaded over and over: the uses a server makes of it.
/// LeNet5 trained on the digits (Examples/digits) keeps both cheap.
@Suite("A loaded model used concurrently and repeatedly")
struct ModelConcurrencyTests {
    static let digits = PythonOracle.packageRoot.appendingPathComponent("Examples/digits")
    static let weights = digits.appendingPathComponent("lenet5_digits.pth")

    /// Rows `start ..< start + count` of the held-out digits.
    static func batch(_ all: Tensor, start: Int, count: Int) -> Tensor {
        let row = all.shape.dropFirst().reduce(1, *)
        return Tensor(shape: [count] + all.shape.dropFirst(), storage: Array(all.storage[(start * row)..<((start + count) * row)]))
    }

    @Test func concurrentForwardPassesEqualSequentialOnes() throws {
        let loaded = try ModelZoo.load("lenet5", weights: Self.weights)
        let all = try NPY.read(contentsOf: Self.digits.appendingPathComponent("heldout_inputs.npy"))
        let batches = (0..<8).map { Self.batch(all, start: $0 * 16, count: 16) }
        let expected = try batches.map { try loaded.model($0).storage.array }

        let results = LockedResults(count: 48)
        DispatchQueue.concurrentPerform(iterations: 48) { index in
            results.set(index, Result { try loaded.model(batches[index % batches.count]).storage.array })
        }
        for index in 0..<48 {
            let output = try results.get(index).get()
            #expect(output == expected[index % batches.count], "pass \(index) differs from the single-threaded one")
        }
    }

    /// 1000 load-and-run cycles in a process of their own (`pthkit soak`), so that other tests'
    /// allocations cannot move its resident memory: after the first fifth it must stop growing.
    /// Not under a sanitizer: ASan's quarantine and TSan's shadow hold freed memory on purpose.
    @Test(.enabled(if: BoundedRun.isAvailable && FileManager.default.fileExists(atPath: "/proc/self/statm")
        && ProcessInfo.processInfo.environment["PTHKIT_SANITIZER"] == nil))
    func repeatedLoadAndRunLevelsOff() throws {
        let scratch = try TemporaryFolder()
        let result = try BoundedRun.run(
            ["soak", "lenet5", "--weights", Self.weights.path, "--runs", "1000", "--samples", "10", "--json"],
            memoryMiB: 4096, seconds: 300, scratch: scratch.url)
        try #require(result.status == 0, "\(String(decoding: result.errors, as: UTF8.self))")
        let object = try JSONSerialization.jsonObject(with: result.output) as? [String: Any]
        let resident = try #require(object?["rss_bytes"] as? [Int])
        try #require(resident.count == 10)
        let growth = resident[9] - resident[1]
        // One LeNet5 is 0.25 MB of weights: leaking each load would add 200 MB over these 800 cycles.
        #expect(growth < 8 << 20, "resident memory grew \(growth) bytes from cycle 200 to 1000: \(resident)")
    }

    /// Head fine-tuning draws its fresh head from its own seed: a model built at the same time on
    /// another thread neither changes that head nor is changed by it.
    @Test func seededInitializationIsPerCall() throws {
        let reference = Initialization.withSeed(7) { Initialization.uniform(count: 64, bound: 1) }
        let results = LockedResults(count: 16)
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            if index % 2 == 0 {
                results.set(index, .success(Initialization.withSeed(7) { Initialization.uniform(count: 64, bound: 1) }))
            } else {
                results.set(index, .success(Initialization.uniform(count: 4096, bound: 1)))
            }
        }
        for index in stride(from: 0, to: 16, by: 2) { #expect(try results.get(index).get() == reference) }
    }
}

/// Results written by concurrent iterations.
final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Result<[Float], any Error>?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Result<[Float], any Error>) { lock.withLock { values[index] = value } }

    func get(_ index: Int) throws -> Result<[Float], any Error> {
        guard let value = lock.withLock({ values[index] }) else { throw FixtureError("iteration \(index) left no result") }
        return value
    }
}
