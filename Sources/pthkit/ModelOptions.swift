import ArgumentParser
import Foundation
import PthKit

/// `MODEL --weights FILE [--arg name=value ...]` and the load options shared by every command that
/// loads a model.
struct ModelOptions: ParsableArguments {
    @Argument(help: "Model name, as listed by `pthkit models` (resnet18, efficientnet_b0_lettered, ...).")
    var model: String

    @Option(help: "Checkpoint to load: torch.save (zip or legacy), torch.jit.save or safetensors, decided by content.")
    var weights: String?

    @Option(name: .customLong("arg"), help: ArgumentHelp("Builder argument as the Python builder spells it, e.g. num_classes=5.", valueName: "name=value"))
    var arguments: [String] = []

    @Flag(help: "Load like load_state_dict(strict=False): report missing and unexpected keys instead of failing.")
    var nonStrict = false

    @Option(help: "Dotted path of the state dict inside the checkpoint, e.g. state_dict.")
    var key: String?

    @Option(help: "Remove this prefix from every key (repeatable), e.g. module.")
    var stripPrefix: [String] = []

    @Option(help: ArgumentHelp("Rename keys: OLD_PREFIX=NEW_PREFIX or re:REGEX=TEMPLATE (repeatable).", valueName: "rule"))
    var rename: [String] = []

    @Flag(help: "Drop tensors whose shapes differ from the model (e.g. a 1000-class head), then load non-strictly.")
    var dropMismatched = false

    // Not `--reference`: `compare` takes `--reference FILE` for PyTorch's logits.
    @Flag(help: "Run the plain module-by-module forward pass instead of the compiled plan (for debugging).")
    var uncompiled = false

    @Flag(help: "Skip the SHA-256 check of a file named like an official weight file (a notice says so). Files verified once and unchanged since are not hashed again anyway.")
    var noVerify = false

    @Option(help: ArgumentHelp("Check that the weight file's SHA-256 is (or starts with) this, whatever its name, as torch.hub's check_hash.", valueName: "hex"))
    var sha256: String?

    @Flag(help: "Copy the weights into memory of the model's own instead of reading a mapped file in place, so the file may change or be deleted while the model runs (README: a file that shrinks under a mapped model).")
    var copyWeights = false

    @Flag(help: "Check the CRC-32 of every zip record read in place, which torch.load does not do (reads the whole file once more).")
    var verifyCrc = false

    func parsedArguments() throws -> ModelArguments {
        try ModelArguments(parsing: arguments)
    }

    func loadOptions() throws -> LoadOptions {
        LoadOptions(
            key: key, stripPrefixes: stripPrefix, renames: try rename.map(RenameRule.init(parsing:)),
            strict: !nonStrict, dropMismatched: dropMismatched, verifyOfficialFiles: !noVerify, sha256: sha256,
            verificationTiming: .inBackground, copyWeights: copyWeights, verifyChecksums: verifyCrc)
    }

    /// The model with its weights loaded (notes go to stderr), or freshly initialized without --weights.
    /// A file's SHA-256 check may still be running (`VerificationTiming.inBackground`), beside the
    /// compile and the first forward pass: call `confirmVerified()` before printing or writing any result.
    func loadModel(requireWeights: Bool) throws -> LoadedModel {
        guard let weights else {
            if requireWeights { throw ValidationError("--weights FILE is required") }
            let model = try ModelZoo.build(model, arguments: try parsedArguments())
            return LoadedModel(model: model, report: LoadReport(), notes: [], loadMilliseconds: 0)
        }
        let loaded = try ModelZoo.load(
            model, arguments: try parsedArguments(), weights: URL(fileURLWithPath: weights), options: try loadOptions())
        for note in loaded.notes { Terminal.note(note) }
        return loaded
    }
}

extension ModelOptions {
    /// The logits, or with `features` the input of the classifier head, on the path asked for.
    func forward(_ model: Module, _ input: Tensor, features: Bool = false) throws -> Tensor {
        switch (features, uncompiled) {
        case (false, false): return try model(input)
        case (false, true): return try model.referenceForward(input)
        case (true, false): return try model.headInput(input)
        case (true, true): return try model.referenceHeadInput(input)
        }
    }
}

enum Terminal {
    static func note(_ text: String) {
        FileHandle.standardError.write(Data("note: \(text)\n".utf8))
    }
}
