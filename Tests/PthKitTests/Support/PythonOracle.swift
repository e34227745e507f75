import Foundation

/// Runs a script of `Scripts/oracle` with the pinned PyTorch in `.venv`, for the checks that need
/// PyTorch to look at something PthKit just produced (a written checkpoint, a trained head).
enum PythonOracle {
    static let packageRoot = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
    static let python = packageRoot.appendingPathComponent(".venv/bin/python")

    /// Whether the oracle is installed; `Scripts/test.sh` installs it and then requires it.
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: python.path) }

    /// Whether an oracle test runs: when the oracle is installed, or when `Scripts/test.sh` requires
    /// it (then its absence fails in `require`). Otherwise the test shows as skipped, not passed.
    static var shouldRun: Bool { isAvailable || Fixtures.generatedAreRequired }

    static func require() throws {
        guard isAvailable else { throw FixtureError("no PyTorch oracle at \(python.path): run Scripts/test.sh") }
    }

    /// Runs `Scripts/oracle/<script>` with `arguments` and decodes the JSON object it prints last.
    static func run(_ script: String, _ arguments: [String]) throws -> [String: Any] {
        let process = Process()
        process.executableURL = python
        process.arguments = [packageRoot.appendingPathComponent("Scripts/oracle/\(script)").path] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read before waiting, so a chatty script cannot fill the pipe and block.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError("\(script) failed (\(process.terminationStatus)): \(String(decoding: errorData, as: UTF8.self))")
        }
        let lastLine = String(decoding: outputData, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any] else {
            throw FixtureError("\(script) printed no JSON object: \(lastLine)")
        }
        return object
    }
}
