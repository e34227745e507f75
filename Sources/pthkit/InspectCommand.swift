import ArgumentParser
import Foundation
import PthKit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List the tensors in a checkpoint (zip, legacy, TorchScript or safetensors), without running anything from it."
    )

    @Argument(help: "A file written by torch.save, torch.jit.save or safetensors (decided by content).")
    var file: String

    @Flag(help: "Print {format, byteorder, tensors: [{key, dtype, shape, sha256}], metadata?} as JSON.")
    var json = false

    @OptionGroup var limits: CheckpointLimitOptions

    func run() throws {
        let checkpoint = try Checkpoint.load(contentsOf: URL(fileURLWithPath: file))
        let tensors = checkpoint.tensors
        if json {
            // A tensor reachable under several keys (tied weights, shared references) is hashed once;
            // a view is hashed in torch's dense order by streaming over it, never copied whole, and
            // only as many dense bytes as the allowance lets the file ask for.
            try limits.limits.checkDenseViews(tensors.map(\.tensor))
            var digests: [TensorData.ViewIdentity: String] = [:]
            func digest(_ tensor: TensorData) -> String {
                guard let identity = tensor.viewIdentity else { return tensor.denseSHA256() }
                if let known = digests[identity] { return known }
                let computed = tensor.denseSHA256()
                digests[identity] = computed
                return computed
            }
            let listing = Listing(
                format: checkpoint.format.rawValue, byteorder: checkpoint.byteOrder.rawValue,
                tensors: tensors.map {
                    .init(key: $0.key, dtype: $0.tensor.dtype.rawValue, shape: $0.tensor.shape,
                          sha256: digest($0.tensor))
                },
                metadata: checkpoint.safetensorsMetadata)
            print(try JSONOutput.string(listing))
            return
        }
        let keyWidth = min(max(tensors.map(\.key.count).max() ?? 0, 3), 60)
        print("key".padding(toLength: keyWidth, withPad: " ", startingAt: 0) + "  dtype     shape                 bytes")
        for (key, tensor) in tensors {
            let shape = "[" + tensor.shape.map(String.init).joined(separator: ", ") + "]"
            print(
                (key.isEmpty ? "\"\"" : key).padding(toLength: keyWidth, withPad: " ", startingAt: 0) + "  "
                    + tensor.dtype.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0) + "  "
                    + shape.padding(toLength: 20, withPad: " ", startingAt: 0) + "  " + String(tensor.byteCount))
        }
        let totalBytes = tensors.reduce(0) { $0 + $1.tensor.byteCount }
        if let metadata = checkpoint.safetensorsMetadata {
            print("\nmetadata: " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        print("\nformat \(checkpoint.format.rawValue), byte order \(checkpoint.byteOrder.rawValue), "
            + "\(tensors.count) tensors, \(totalBytes) bytes (\(ByteCountText.describe(totalBytes)))")
    }

    struct Listing: Encodable {
        struct Entry: Encodable {
            let key: String
            let dtype: String
            let shape: [Int]
            let sha256: String
        }
        let format: String
        let byteorder: String
        let tensors: [Entry]
        /// safetensors `__metadata__`; absent for the other formats.
        let metadata: [String: String]?
    }
}
