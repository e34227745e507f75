import ArgumentParser
import PthKit

struct LoadCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load-check",
        abstract: "Build a model, load a checkpoint into it as load_state_dict would, and report what happened.",
        discussion: "Exits 0 when the checkpoint loads; otherwise prints torch's error text and exits 1."
    )

    @OptionGroup var options: ModelOptions

    func run() throws {
        let loaded = try options.loadModel(requireWeights: true)
        try loaded.confirmVerified()
        let report = loaded.report
        print("\(options.model): loaded \(report.loaded.count) of \(loaded.model.stateDict().count) tensors "
            + "in \(String(format: "%.1f", loaded.loadMilliseconds)) ms")
        printList("missing (keep their fresh initialization)", report.missingKeys)
        printList("unexpected (ignored)", report.unexpectedKeys)
        printList("dropped for a shape mismatch", report.dropped.map {
            "\($0.key): checkpoint \($0.checkpointShape), model \($0.modelShape)"
        })
        printList("converted to float32", report.converted.map { "\($0.key) (\($0.from.rawValue))" })
        printList("num_batches_tracked filled (checkpoint predates it)", report.filledKeys)
    }

    private func printList(_ title: String, _ items: [String]) {
        guard !items.isEmpty else { return }
        print("\(title): \(items.count)")
        for item in items { print("  \(item)") }
    }
}
