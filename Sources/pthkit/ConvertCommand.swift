import ArgumentParser
import Foundation
import PthKit

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Rewrite a checkpoint (zip, legacy, TorchScript or safetensors) in the zip format torch.save writes today, or as safetensors.",
        discussion: """
            The output loads with torch.load(path, weights_only=True). Without options the whole object is \
            kept; pickled modules (torch.save(model)) and TorchScript archives are written as their state \
            dicts, the part weights_only can read. An OUT ending in .safetensors is written as \
            safetensors.torch.save_file writes it (a dictionary of tensors, {"format": "pt"} metadata).
            """
    )

    @Argument(help: "A file written by torch.save, torch.jit.save or safetensors (decided by content).")
    var input: String

    @Argument(help: "Where to write the converted checkpoint (replaced atomically); .safetensors writes safetensors.")
    var output: String

    @Option(help: "Keep only the dictionary at this dotted path, e.g. state_dict or model.ema.")
    var key: String?

    @Option(help: "Remove this prefix from the dictionary's keys and _metadata (repeatable), e.g. module.")
    var stripPrefix: [String] = []

    @Flag(name: .customLong("cast-to-float32"), help: "Convert float16 and bfloat16 tensors to float32, exactly as tensor.float().")
    var castToFloat32 = false

    @OptionGroup var limits: CheckpointLimitOptions

    func run() throws {
        let checkpoint = try Checkpoint.load(contentsOf: URL(fileURLWithPath: input))
        var changes: [String] = []
        if let key, !key.isEmpty { changes.append("kept \"\(key)\"") }

        let modules = try checkpoint.value(atKey: key).replacingModulesWithStateDicts()
        var value = modules.value
        if !modules.replacedKeys.isEmpty { changes.append("pickled modules saved as state dicts: \(modules.replacedKeys.count)") }

        if !stripPrefix.isEmpty {
            guard case .dict(let before) = value else {
                throw ValidationError("--strip-prefix needs a dictionary, but \(key.map { "\"\($0)\"" } ?? "the top level") is a \(value.kindName)")
            }
            for prefix in stripPrefix { value = value.strippingPrefix(prefix) }
            var renamed = 0
            if case .dict(let after) = value {
                renamed = zip(before.entries, after.entries).filter { $0.0.key.pathComponent != $0.1.key.pathComponent }.count
            }
            changes.append("stripped \(stripPrefix.joined(separator: ", ")) from \(renamed) keys")
        }

        if castToFloat32 {
            let cast = value.castingToFloat32([.float16, .bfloat16])
            value = cast.value
            changes.append("cast \(cast.castKeys.count) tensors to float32")
        }

        let outputURL = URL(fileURLWithPath: output)
        if outputURL.pathExtension == "safetensors" {
            try SafetensorsWriter.write(value, to: outputURL, limits: limits.limits)
        } else {
            try CheckpointWriter.write(value, to: outputURL)
        }
        let tensors = value.flattenedTensors()
        let bytes = tensors.reduce(0) { $0 + $1.tensor.byteCount }
        let source = "\(checkpoint.format.rawValue) \(checkpoint.byteOrder.rawValue)-endian"
        print("wrote \(output): \(tensors.count) tensors, \(ByteCountText.describe(bytes)) from \(source) \(input)"
            + (changes.isEmpty ? "" : "; " + changes.joined(separator: "; ")))
    }
}
