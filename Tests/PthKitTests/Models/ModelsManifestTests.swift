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
}
