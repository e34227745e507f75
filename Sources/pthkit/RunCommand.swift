import ArgumentParser
import Foundation
import PthKit

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a model on a NumPy .npy batch and write the logits (or features) as .npy.")

    @OptionGroup var options: ModelOptions

    @Option(help: "Input batch: float32 .npy in C order, e.g. N x 3 x 224 x 224.")
    var input: String

    @Option(help: "Where to write the output .npy.")
    var output: String

    @Flag(help: "Write the input of the last Linear (the features) instead of the logits.")
    var features = false

    func run() throws {
        let loaded = try options.loadModel(requireWeights: true)
        let batch = try NPY.read(contentsOf: URL(fileURLWithPath: input))
        let result = try options.forward(loaded.model, batch, features: features)
        try loaded.confirmVerified()
        try NPY.write(result, to: URL(fileURLWithPath: output))
        print("wrote \(output): \(result.shape)")
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Run a model and compare its logits with a reference saved from PyTorch.",
        discussion: "Passes when every value satisfies |ours - reference| <= atol + rtol * |reference|, as torch.allclose; exits 1 otherwise.")

    @OptionGroup var options: ModelOptions

    @Option(help: "Input batch .npy.")
    var input: String

    @Option(help: "Reference output .npy (e.g. np.save of PyTorch's logits).")
    var reference: String

    @Option(help: "Absolute tolerance.")
    var atol: Double = 1e-4

    @Option(help: "Relative tolerance.")
    var rtol: Double = 1e-4

    @Flag(help: "Print the comparison as JSON.")
    var json = false

    func run() throws {
        let loaded = try options.loadModel(requireWeights: true)
        let batch = try NPY.read(contentsOf: URL(fileURLWithPath: input))
        let expected = try NPY.read(contentsOf: URL(fileURLWithPath: reference))
        let output = try options.forward(loaded.model, batch)
        try loaded.confirmVerified()
        let comparison = try OutputComparison(output: output, reference: expected, atol: atol, rtol: rtol)
        if json {
            print(try JSONOutput.string(comparison))
        } else {
            print(comparison.report)
        }
        if !comparison.withinTolerance { throw ExitCode.failure }
    }
}
