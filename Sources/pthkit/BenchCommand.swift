import ArgumentParser
import Foundation
import PthKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure forward-pass latency (and, with --weights, checkpoint load time).",
        discussion: "Without --weights the model runs on seeded random weights. Build with -c release for real figures.")

    @Argument(help: "Model name.")
    var model: String

    @Option(help: "Checkpoint to load; its read-and-load time is reported as load_ms.")
    var weights: String?

    @Option(name: .customLong("arg"), help: ArgumentHelp("Builder argument, e.g. num_classes=5.", valueName: "name=value"))
    var arguments: [String] = []

    @Option(help: "Batch size.")
    var batch = 1

    @Option(help: "Input height,width (default: the manifest's input size).")
    var inputSize: String?

    @Option(help: "Timed runs.")
    var runs = 20

    @Option(help: "Untimed warm-up runs (the first result counts as one).")
    var warmup = 3

    @Option(help: "Compute threads (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("Run these kernels instead of the best this CPU has: avx512, avx2-fma or portable (to compare them on one machine).", valueName: "isa"))
    var kernels: String?

    @Flag(help: "Time the plain module-by-module forward pass instead of the compiled plan.")
    var uncompiled = false

    @Flag(help: "After the timed runs, time the compiled plan step by step (--runs runs) and print the slowest steps and the time per kind of step.")
    var profile = false

    @Flag(name: .customLong("all-steps"), help: "With --profile, list every step in plan order instead of the 25 slowest.")
    var allSteps = false

    @Flag(help: "Print {median_ms, min_ms, p90_ms, load_ms, compile_ms, first_result_ms[, verify_wait_ms, sha256_ms], load_peak_rss_mb, peak_rss_mb, startup_rss_mb} as JSON.")
    var json = false

    @Flag(name: .customLong("time-sha256"), help: "Also time one SHA-256 of the weight file (sha256_ms): the most the official-name check costs.")
    var timeSHA256 = false

    @Flag(help: "Skip the SHA-256 check of a file named like an official weight file (as --no-verify on the other commands): compare first_result_ms with and without it.")
    var noVerify = false

    @Option(help: ArgumentHelp("Check that the weight file's SHA-256 is (or starts with) this (as --sha256 on the other commands): times the check on a file without an official name.", valueName: "hex"))
    var sha256: String?

    @Flag(help: "Load the weights into memory of the model's own instead of reading the mapped file in place (as --copy-weights on the other commands).")
    var copyWeights = false

    @Flag(help: "Check the CRC-32 of every zip record read in place while loading (as --verify-crc on the other commands).")
    var verifyCrc = false

    func validate() throws {
        guard batch > 0, runs > 0, warmup >= 0 else { throw ValidationError("--batch and --runs must be positive") }
        guard !(profile && (uncompiled || json)) else { throw ValidationError("--profile times the compiled plan and prints text") }
        guard profile || !allSteps else { throw ValidationError("--all-steps lists the steps of --profile") }
    }

    func run() throws {
        // What the process holds before it reads or builds anything (its runtime and libraries): the
        // baseline that ONNX Runtime's figure in Scripts/bench_models.sh is counted from too.
        let startupResidentMB = Self.statusMegabytes("VmRSS:")
        if let threads { ComputeThreads.set(threads) }
        if let kernels, !KernelInstructionSet.select(kernels) {
            throw ValidationError("--kernels \(kernels): not one of avx512, avx2-fma, portable that this CPU runs")
        }
        Initialization.seed(0)
        let entry = try ModelsManifest.embedded.entry(model)
        let channels = entry?.inputSize.first ?? 3
        let spatial = try inputSize.map(ShapeText.parse) ?? Array((entry?.inputSize ?? [3, 224, 224]).dropFirst())
        guard spatial.count == 2 else { throw ValidationError("--input-size takes H,W") }
        let shape = [batch, channels] + spatial
        var generator = SystemRandomNumberGenerator()
        let input = Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -1...1, using: &generator) })

        // The first result, as a user meets it: load (or build), compile, one forward pass, the
        // file's hash check confirmed (it runs beside the compile and the pass: verify_wait_ms is
        // how long the result then still waited for it).
        let firstStart = DispatchTime.now().uptimeNanoseconds
        let builderArguments = try ModelArguments(parsing: arguments)
        let loaded = try weights.map {
            try ModelZoo.load(
                model, arguments: builderArguments, weights: URL(fileURLWithPath: $0),
                options: LoadOptions(
                    verifyOfficialFiles: !noVerify, sha256: sha256, verificationTiming: .inBackground,
                    copyWeights: copyWeights, verifyChecksums: verifyCrc))
        } ?? LoadedModel(model: try ModelZoo.build(model, arguments: builderArguments), report: LoadReport())
        // VmHWM only grows: read now, it is the peak of reading, building and loading alone.
        let loadPeakResidentMB = Self.statusMegabytes("VmHWM:")
        let forward = { uncompiled ? try loaded.model.referenceForward(input) : try loaded.model(input) }
        let compileStart = DispatchTime.now().uptimeNanoseconds
        if !uncompiled { _ = try loaded.model.compiled(for: shape) }
        let compileMs = Self.milliseconds(since: compileStart)
        _ = try forward()
        let waitStart = DispatchTime.now().uptimeNanoseconds
        try loaded.confirmVerified()
        let verifyWaitMs = loaded.verification == nil ? nil : Self.milliseconds(since: waitStart)
        let firstResultMs = Self.milliseconds(since: firstStart)

        for _ in 1..<max(warmup, 1) { _ = try forward() }
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try forward()
            times.append(Self.milliseconds(since: start))
        }
        times.sort()
        let result = BenchResult(
            medianMs: times[times.count / 2], minMs: times[0], p90Ms: times[min(times.count - 1, Int(Double(times.count) * 0.9))],
            loadMs: weights == nil ? nil : loaded.loadMilliseconds, compileMs: uncompiled ? nil : compileMs,
            firstResultMs: firstResultMs, verifyWaitMs: verifyWaitMs, loadPeakResidentMB: loadPeakResidentMB, peakResidentMB: Self.statusMegabytes("VmHWM:"),
            startupResidentMB: startupResidentMB,
            sha256Ms: timeSHA256 ? try weights.map(Self.hashMilliseconds) : nil)
        if json {
            print(try JSONOutput.string(result))
        } else {
            print(String(format: "%@ batch %d input %@ (%@ kernels): median %.2f ms, min %.2f ms, p90 %.2f ms", model, batch,
                         "\(shape)", KernelInstructionSet.current, result.medianMs, result.minMs, result.p90Ms)
                + (result.loadMs.map { String(format: ", checkpoint load %.1f ms", $0) } ?? "")
                + (result.compileMs.map { String(format: ", compile %.1f ms", $0) } ?? "")
                + String(format: ", first result %.1f ms", result.firstResultMs))
        }
        if profile { try StepProfile.print(try loaded.model.compiled(for: shape), input: input, runs: runs, allSteps: allSteps) }
    }

    /// A memory figure of this process from /proc/self/status in MB: `VmHWM:`, the peak resident
    /// memory so far (reset at exec, unlike getrusage's maxrss, which keeps the high-water mark of
    /// the process that forked us), or `VmRSS:`, the resident memory now; nil where /proc is missing.
    private static func statusMegabytes(_ field: String) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let kilobytes = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kilobytes / 1024
    }

    private static func milliseconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }

    /// What the official-name check costs: one SHA-256 of the whole file (read first, not timed).
    /// Loading a file with an official name runs it beside the parse, so this bounds its cost.
    private static func hashMilliseconds(_ path: String) throws -> Double {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let start = DispatchTime.now().uptimeNanoseconds
        _ = data.withUnsafeBytes { SHA256.hexDigest($0) }
        return milliseconds(since: start)
    }

    struct BenchResult: Encodable {
        let medianMs: Double
        let minMs: Double
        let p90Ms: Double
        let loadMs: Double?
        let compileMs: Double?
        let firstResultMs: Double
        /// How long the first result waited for the file's SHA-256 after its forward pass; nil when
        /// no check ran (no official name, verified before, or --no-verify).
        let verifyWaitMs: Double?
        let loadPeakResidentMB: Double?
        let peakResidentMB: Double?
        /// Resident memory when the command started, before anything was read or built.
        let startupResidentMB: Double?
        let sha256Ms: Double?

        enum CodingKeys: String, CodingKey {
            case medianMs = "median_ms", minMs = "min_ms", p90Ms = "p90_ms", loadMs = "load_ms"
            case compileMs = "compile_ms", firstResultMs = "first_result_ms", verifyWaitMs = "verify_wait_ms",
                 loadPeakResidentMB = "load_peak_rss_mb", peakResidentMB = "peak_rss_mb", sha256Ms = "sha256_ms",
                 startupResidentMB = "startup_rss_mb"
        }
    }
}
