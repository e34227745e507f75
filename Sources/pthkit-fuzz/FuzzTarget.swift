import Foundation
import PthKit

/// The parsers a hostile file reaches, each fed raw bytes. A target must never crash, hang or
/// allocate without bound: a thrown error is the expected end for most inputs.
enum FuzzTarget: String, CaseIterable {
    case pickle, zip, legacy, safetensors, npy, png, jpeg

    /// Runs one input through the target and the consumers of its result.
    func run(_ bytes: [UInt8]) {
        switch self {
        case .pickle:
            _ = try? PickleMachine.load(bytes)
        case .zip, .legacy, .safetensors:
            guard let checkpoint = try? Checkpoint(bytes: bytes, file: "fuzz") else { return }
            // What inspect and convert do with a loaded file.
            // As inspect --json: views made dense only within the default allowance.
            let tensors = checkpoint.tensors.prefix(64).map(\.tensor)
            if (try? CheckpointLimits.default.checkDenseViews(tensors)) != nil {
                for tensor in tensors { _ = tensor.denseSHA256() }
            }
            _ = try? StateDict(checkpoint: checkpoint)
            _ = checkpoint.root.replacingModulesWithStateDicts().value.castingToFloat32([.float16, .bfloat16])
        case .npy:
            _ = try? NPY.read(bytes, name: "fuzz")
        case .png, .jpeg:
            guard let image = try? ImageDecoder.decode(bytes, name: "fuzz") else { return }
            _ = try? Preprocessing().tensor(from: image)
        }
    }

    /// Whether a file of the fixture folders seeds this target.
    func accepts(_ bytes: [UInt8], name: String) -> Bool {
        let isZip = bytes.starts(with: [0x50, 0x4B, 0x03, 0x04])
        switch self {
        case .pickle: return false  // seeded with the pickles found inside checkpoints, see `Seeds`
        case .zip: return isZip && (name.hasSuffix(".pth") || name.hasSuffix(".pt"))
        case .legacy: return !isZip && (bytes.first == 0x80 || bytes.first == 0x28) && name.hasSuffix(".pth")
        case .safetensors: return name.hasSuffix(".safetensors")
        case .npy: return name.hasSuffix(".npy")
        case .png: return bytes.starts(with: [0x89, 0x50, 0x4E, 0x47])
        case .jpeg: return bytes.starts(with: [0xFF, 0xD8, 0xFF])
        }
    }

    /// The dictionary file (libFuzzer's format) under Tests/Fuzz/dictionaries.
    var dictionaryName: String {
        switch self {
        case .pickle, .legacy: return "pickle.dict"
        case .zip: return "zip.dict"
        case .safetensors: return "safetensors.dict"
        case .npy: return "npy.dict"
        case .png: return "png.dict"
        case .jpeg: return "jpeg.dict"
        }
    }
}
