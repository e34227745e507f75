import Foundation
import PthKit
import Testing

@Suite("ModelsManifest.json")
struct ModelsManifestTests {
    @Test func embeddedCopyIsTheCheckedInFile() throws {
        let file = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsManifest.json")
        #expect(try String(contentsOf: file, encoding: .utf8) == ModelsManifest.embeddedJSON,
                "run Scripts/make_models_manifest.py")
    }

    @Test func manifestAndZooNameTheSameModels() throws {
        let manifest = try ModelsManifest.decodeEmbedded()
        #expect(Set(manifest.models.map(\.name)) == Set(ModelZoo.names))
        #expect(manifest.labelSets["imagenet-1k"]?.count == 1000)
    }

    @Test func officialWeightFilesAreFoundByName() throws {
        let manifest = try ModelsManifest.decodeEmbedded()
        let found = manifest.officialWeights(fileName: "resnet18-f37072fd.pth")
        #expect(found?.model == "resnet18")
        #expect(found?.weights.sha256Prefix == "f37072fd")
    }

    /// The notebook's links to the original ResNet uploads (torch < 1.6): listed for their model, with
    /// the name's hash prefix as the only check, applied as to any official name.
    @Test func theNotebooksPre16FilesAreOfficialAndHashChecked() throws {
        let manifest = try ModelsManifest.decodeEmbedded()
        for (model, file, prefix) in [("resnet34", "resnet34-333f7ec4.pth", "333f7ec4"),
                                      ("resnet50", "resnet50-19c8e357.pth", "19c8e357"),
                                      ("resnet101", "resnet101-5d3b4d8f.pth", "5d3b4d8f")] {
            let found = try #require(manifest.officialWeights(fileName: file))
            #expect(found.model == model)
            #expect(found.weights.sha256Prefix == prefix)
            #expect(found.weights.source == "design-docs/pytorch-models-notebook.md")
            #expect(found.weights.url == "https://download.pytorch.org/models/\(file)")
        }
        let folder = try TemporaryFolder()
        let renamed = folder.file("resnet50-19c8e357.pth")
        try Data([0x80, 0x02, 0x8a, 0x0a]).write(to: renamed)
        let error = #expect(throws: CheckpointError.self) { try ModelZoo.load("resnet50", weights: renamed) }
        #expect(error.map(String.init(describing:))?.contains("its name is the official resnet50-19c8e357.pth but its sha256 is") == true)
    }

    /// The notebook's arguments are accepted where the notebook defines them and nowhere else.
    @Test func notebookArgumentsBelongToTheNotebooksNames() throws {
        #expect(throws: ModelError.self) { try ModelZoo.build("resnet18", arguments: ModelArguments(["include_top": "False"])) }
        #expect(throws: ModelError.self) { try ModelZoo.build("resnet152", arguments: ModelArguments(["include_top": "False"])) }
        #expect(throws: ModelError.self) {
            try ModelZoo.build("mobilenet_v2", arguments: ModelArguments(["alpha": "0.5", "width_mult": "0.5"]))
        }
        let headless = try ModelZoo.build("resnet50", arguments: ModelArguments(["include_top": "False"]))
        #expect(!headless.stateDict().contains { $0.key.hasPrefix("fc.") })
    }

    /// PthKit resizes as torchvision resizes PIL images, where Pillow always antialiases: a weight asking
    /// for `antialias=False` (torchvision's tensor path) is refused, not served something else.
    @Test func antialiasFalseIsRefused() throws {
        func manifest(antialias: Bool) throws -> ModelsManifest {
            let json = """
                {"models": [], "label_sets": {}, "official_weights": {"m": [{"name": "V1", "file": "m-0123abcd.pth",
                 "url": "https://example.com/m-0123abcd.pth", "sha256_prefix": "0123abcd", "source": "torchvision",
                 "default": true, "num_params": 1, "min_size": [1, 1], "labels": null, "acc1": null, "acc5": null,
                 "preprocessing": {"resize_size": 232, "crop_size": 224, "interpolation": "bicubic",
                 "antialias": \(antialias), "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}]}}
                """
            return try JSONDecoder().decode(ModelsManifest.self, from: Data(json.utf8))
        }
        let accepted = try manifest(antialias: true).preprocessing(model: "m", weightsFile: "m-0123abcd.pth")
        #expect(accepted == Preprocessing(resizeSize: 232, cropSize: 224, interpolation: .bicubic, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]))
        #expect(throws: RuntimeError.self) { try manifest(antialias: false).preprocessing(model: "m", weightsFile: "m-0123abcd.pth") }
    }
}
