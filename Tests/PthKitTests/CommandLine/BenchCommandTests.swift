import Foundation
import PthKit
import Testing

/// `pthkit bench`'s switches for comparing kernels and reading a profile: the instruction set it is
/// told to run is the one that runs (and an unknown one is refused), and `--all-steps` lists every
/// step of the plan in order. Timings are not checked: they belong to the benchmark scripts.
@Suite(.enabled(if: BoundedRun.isAvailable))
struct BenchCommandTests {
    func bench(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let folder = try TemporaryFolder()
        let result = try BoundedRun.run(
            ["bench", "lenet5", "--runs", "2", "--warmup", "1"] + arguments, memoryMiB: 4096, seconds: 120,
            scratch: folder.url)
        return (result.status, String(decoding: result.output, as: UTF8.self), String(decoding: result.errors, as: UTF8.self))
    }

    @Test func theKernelsAskedForAreTheOnesThatRun() throws {
        let portable = try bench(["--kernels", "portable"])
        #expect(portable.status == 0, "\(portable.errors)")
        #expect(portable.output.contains("(portable kernels)"), "\(portable.output)")
        let best = try bench([])
        #expect(best.status == 0, "\(best.errors)")
        #expect(best.output.contains("(\(KernelInstructionSet.current) kernels)"), "\(best.output)")
    }

    @Test func anUnknownInstructionSetIsRefused() throws {
        let result = try bench(["--kernels", "avx9000"])
        #expect(result.status != 0)
        #expect(result.errors.contains("--kernels avx9000"), "\(result.errors)")
    }

    @Test func allStepsListsTheWholePlanInOrder() throws {
        let result = try bench(["--profile", "--all-steps"])
        #expect(result.status == 0, "\(result.errors)")
        let lines = result.output.split(separator: "\n").map(String.init)
        let count = try #require(lines.first { $0.hasPrefix("steps: ") }.flatMap { Int($0.dropFirst(7).prefix { $0.isNumber }) })
        let listed = lines.compactMap { line -> Int? in
            guard let hash = line.firstIndex(of: "#") else { return nil }
            return Int(line[line.index(after: hash)...].prefix { $0.isNumber })
        }
        #expect(listed == Array(0..<count), "\(result.output)")
        #expect(lines.contains("steps in plan order (ms, share, step):"))
        let refused = try bench(["--all-steps"])
        #expect(refused.status != 0, "--all-steps without --profile")
    }
}
