import Foundation
import PthKit
import Testing

@testable import PthKitModels

/// Loading a file under an official name does what torchvision's builder does for that file:
/// DenseNet's files keep torchvision 0.2's keys (`denselayer1.norm.1.weight`), which the builder
/// renames; GoogLeNet and Inception v3 are built with `transform_input` for their files.
struct OfficialFileBuilderTests {
    @Test func denseNetsOldKeysAreRenamedAsTorchvisionDoes() throws {
        let folder = try TemporaryFolder()
        let model = try ModelZoo.build("densenet121")
        var stateDict = model.stateDictForSaving()
        // As the 2017 upload holds it: torch 0.2's spelling (norm.1 / relu.1 / conv.1 for norm1,
        // relu1, conv1), no num_batches_tracked and no _metadata (batch norms then fill the counters).
        let old = try NSRegularExpression(pattern: #"(denselayer\d+\.(?:norm|relu|conv))([12])\."#)
        stateDict.metadata = nil
        stateDict.entries = stateDict.entries.filter { !$0.key.hasSuffix("num_batches_tracked") }.map { entry in
            let range = NSRange(entry.key.startIndex..., in: entry.key)
            return (old.stringByReplacingMatches(in: entry.key, range: range, withTemplate: "$1.$2."), entry.tensor)
        }
        #expect(stateDict.entries.contains { $0.key.hasSuffix("denselayer1.norm.1.weight") })
        let url = folder.file("densenet121-a639ec97.pth")
        try CheckpointWriter.write(stateDict.checkpointValue, to: url)

        let loaded = try ModelZoo.load("densenet121", weights: url, options: LoadOptions(verifyOfficialFiles: false))
        #expect(loaded.report.missingKeys.isEmpty && loaded.report.unexpectedKeys.isEmpty)
        #expect(loaded.notes.contains { $0.contains("renamed the keys") })
        // Under any other name the same file is loaded as load_state_dict would: it fails.
        let renamed = folder.file("my_densenet.pth")
        try FileManager.default.copyItem(at: url, to: renamed)
        #expect(throws: LoadStateDictError.self) { try ModelZoo.load("densenet121", weights: renamed) }
    }

    @Test func inceptionIsBuiltWithTransformInputForItsFile() throws {
        let folder = try TemporaryFolder()
        let url = folder.file("inception_v3_google-0cc3c7bd.pth")
        try ModelZoo.build("inception_v3").saveStateDict(to: url)
        let loaded = try ModelZoo.load("inception_v3", weights: url, options: LoadOptions(verifyOfficialFiles: false))
        #expect(loaded.notes.contains { $0.contains("transform_input") })
        let explicit = try ModelZoo.load(
            "inception_v3", arguments: ModelArguments(["transform_input": "False"]), weights: url,
            options: LoadOptions(verifyOfficialFiles: false))
        #expect(!explicit.notes.contains { $0.contains("transform_input") }, "the user's own argument wins")
    }
}
