import Foundation

/// Runs the `pthkit` command built next to the test bundle under `prlimit` (address space and CPU
/// time) and a wall-clock `timeout`, the way a hostile file should be tried: a crash, a hang or an
/// allocation past the limit shows as a signal or a non-1 exit code, never as a stuck test run.
enum BoundedRun {
    struct Result {
        let status: Int32
        /// True when the process ended by a signal (trap, abort, SIGKILL from a limit).
        let signaled: Bool
        let output: Data
        let errors: Data
    }

    /// `.build/<configuration>/pthkit`, beside the test bundle.
    static let pthkit: URL? = {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("pthkit")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }()

    static let prlimitIsAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/timeout")

    static var isAvailable: Bool { pthkit != nil && prlimitIsAvailable }

    static func run(_ arguments: [String], memoryMiB: Int, seconds: Int, scratch: URL) throws -> Result {
        guard let pthkit else { throw FixtureError("pthkit is not built next to the tests") }
        let outputURL = scratch.appendingPathComponent("stdout"), errorURL = scratch.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL), errors = try FileHandle(forWritingTo: errorURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        // AddressSanitizer reserves terabytes of shadow address space, so under Scripts/sanitize.sh
        // the memory bound is its own resident-set limit instead of an address-space limit.
        var environment = ProcessInfo.processInfo.environment
        var memoryLimit = ["--as=\(memoryMiB << 20)"]
        if environment["PTHKIT_SANITIZER"] == "address" {
            memoryLimit = []
            environment["ASAN_OPTIONS"] = (environment["ASAN_OPTIONS"].map { $0 + ":" } ?? "")
                + "hard_rss_limit_mb=\(memoryMiB):allocator_may_return_null=0"
        } else if environment["PTHKIT_SANITIZER"] == "thread" {
            memoryLimit = []
        }
        process.environment = environment
        process.arguments = ["--signal=KILL", "\(seconds * 3)", "/usr/bin/prlimit"] + memoryLimit
            + ["--cpu=\(seconds)", "--", pthkit.path] + arguments
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        try output.close()
        try errors.close()
        // timeout reports a child killed by a signal as 128 + the signal number.
        let status = process.terminationStatus
        let signaled = process.terminationReason == .uncaughtSignal || status >= 124
        return Result(
            status: status, signaled: signaled,
            output: try Data(contentsOf: outputURL), errors: try Data(contentsOf: errorURL))
    }
}
