import Foundation

struct DriverOptions {
    var target: FuzzTarget
    var seconds = 30.0
    var maximumRuns = Int.max
    var seed: UInt64 = 1
    var timeoutSeconds = 10.0
    var corpora: [URL] = []
    var dictionary: URL?
    var artifacts = URL(fileURLWithPath: ".")
    /// Write the target's seeds to this folder and stop (libFuzzer's seed corpus, so that it runs
    /// only the inputs this target takes before it starts mutating).
    var exportSeeds: URL?

    static let usage = """
        usage: pthkit-fuzz TARGET [--seconds S] [--runs N] [--seed N] [--timeout S] --corpus DIR... \
        [--dict FILE] [--artifacts DIR] [--export-seeds DIR]
        targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))
        """

    init(parsing arguments: [String]) throws {
        guard let first = arguments.first, let target = FuzzTarget(rawValue: first) else { throw DriverError(Self.usage) }
        self.target = target
        var rest = arguments.dropFirst()
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw DriverError("\(flag) needs a value\n\(Self.usage)") }
            switch flag {
            case "--seconds": seconds = try Self.number(value, flag)
            case "--runs": maximumRuns = Int(try Self.number(value, flag))
            case "--seed": seed = UInt64(try Self.number(value, flag))
            case "--timeout": timeoutSeconds = try Self.number(value, flag)
            case "--corpus": corpora.append(URL(fileURLWithPath: value))
            case "--dict": dictionary = URL(fileURLWithPath: value)
            case "--artifacts": artifacts = URL(fileURLWithPath: value)
            case "--export-seeds": exportSeeds = URL(fileURLWithPath: value)
            default: throw DriverError("unknown option \(flag)\n\(Self.usage)")
            }
        }
    }

    private static func number(_ text: String, _ flag: String) throws -> Double {
        guard let value = Double(text), value >= 0 else { throw DriverError("\(flag) takes a number, not \(text)") }
        return value
    }
}

struct DriverError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs every seed as it is, then mutated seeds until the time or run budget is spent. A crash or a
/// hang ends the process with the input saved as `ARTIFACTS/crash-TARGET` (see `CrashCapture`).
struct MutationDriver {
    let options: DriverOptions

    func run() throws {
        let target = options.target
        let seeds = Seeds.load(for: target, from: options.corpora)
        guard !seeds.isEmpty else {
            throw DriverError("no seeds for \(target.rawValue) in \(options.corpora.map(\.path))")
        }
        if let folder = options.exportSeeds {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (index, seed) in seeds.enumerated() {
                try Data(seed).write(to: folder.appendingPathComponent(String(format: "seed-%05d", index)))
            }
            return
        }
        let dictionary = try options.dictionary.map(FuzzDictionary.load) ?? []
        try FileManager.default.createDirectory(at: options.artifacts, withIntermediateDirectories: true)
        CrashCapture.install(
            savingTo: options.artifacts.appendingPathComponent("crash-\(target.rawValue)"),
            timeoutSeconds: options.timeoutSeconds)

        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        for seed in seeds { runOne(seed) }
        let largest = seeds.map(\.count).max() ?? 0
        var mutator = Mutator(seed: options.seed, dictionary: dictionary, maximumLength: max(4096, 2 * largest))
        var runs = 0
        while runs < options.maximumRuns, elapsed() < options.seconds {
            let base = seeds[mutator.below(seeds.count)]
            runOne(mutator.mutate(base, corpus: seeds))
            runs += 1
        }
        print("pthkit-fuzz \(target.rawValue): \(runs) mutated inputs and \(seeds.count) seeds in "
            + String(format: "%.1f", elapsed()) + " s (seed \(options.seed), \(dictionary.count) dictionary tokens), "
            + "0 crashes, 0 timeouts")
    }

    private func runOne(_ input: [UInt8]) {
        CrashCapture.begin(input)
        options.target.run(input)
        CrashCapture.end()
    }
}
