import ArgumentParser
import Foundation
import PthKit

struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Load a checkpoint into a model and run it, many times in one process, reporting resident memory.",
        discussion: "A leak check: resident memory should level off after the first runs. Linux only (/proc/self/statm).")

    @Argument(help: "Model name.")
    var model: String

    @Option(help: "Checkpoint to load on every run.")
    var weights: String

    @Option(help: "Load-and-run cycles.")
    var runs = 1000

    @Option(help: "Resident-memory samples, evenly spaced over the runs.")
    var samples = 10

    @Flag(help: "Print {runs, rss_bytes: [...]} as JSON.")
    var json = false

    func validate() throws {
        guard runs > 0, samples > 0, samples <= runs else { throw ValidationError("need 0 < --samples <= --runs") }
    }

    func run() throws {
        let url = URL(fileURLWithPath: weights)
        let shape = [1] + (try ModelsManifest.embedded.entry(model)?.inputSize ?? [3, 224, 224])
        let count = shape.reduce(1, *)
        let input = Tensor(shape: shape, storage: (0..<count).map { Float($0 % 255) / 255 })
        var resident: [Int] = []
        for run in 1...runs {
            let loaded = try ModelZoo.load(model, weights: url, options: LoadOptions(verificationTiming: .inBackground))
            _ = try loaded.model(input)
            try loaded.confirmVerified()
            if run % (runs / samples) == 0, resident.count < samples { resident.append(try Self.residentBytes()) }
        }
        if json {
            print(try JSONOutput.string(Result(runs: runs, rssBytes: resident)))
        } else {
            print("\(model): \(runs) load-and-run cycles; resident MiB "
                + resident.map { String(format: "%.1f", Double($0) / 1_048_576) }.joined(separator: " "))
        }
    }

    /// Resident set size from /proc/self/statm (pages).
    static func residentBytes() throws -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else {
            throw ValidationError("resident memory is read from /proc/self/statm, which this system lacks")
        }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else {
            throw ValidationError("unexpected /proc/self/statm: \(text.prefix(80))")
        }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    struct Result: Encodable {
        let runs: Int
        let rssBytes: [Int]

        enum CodingKeys: String, CodingKey {
            case runs, rssBytes = "rss_bytes"
        }
    }
}
