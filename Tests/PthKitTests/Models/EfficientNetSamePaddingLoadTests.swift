import Foundation
import PthKit
import Testing

/// `EfficientNet.loadPretrained` (efficientnet_bN_same) against the article's `_load_state` run in
/// PyTorch: fixtures from Scripts/make_efficientnet_load_fixtures.py in
/// Tests/Fixtures/generated/efficientnet-same-load.
@Suite("EfficientNet same padding: _load_state")
struct EfficientNetSamePaddingLoadTests {
    static let folder = Fixtures.url("generated/efficientnet-same-load")

    static let casesURL = folder.appendingPathComponent("cases.json")

    @Test(.enabled(if: FileManager.default.fileExists(atPath: casesURL.path) || Fixtures.generatedAreRequired))
    func popsWhatLoadStateDropsThenLoads() throws {
        let casesURL = Self.casesURL
        guard FileManager.default.fileExists(atPath: casesURL.path) else {
            throw FixtureError("no fixtures in \(Self.folder.path): run Scripts/test.sh")
        }
        let object = try Fixtures.json(casesURL)
        guard let modelName = object["model"] as? String, let cases = object["cases"] as? [[String: Any]], !cases.isEmpty else {
            throw FixtureError("\(casesURL.path) has no cases")
        }
        let pretrained = try StateDict(checkpoint: Checkpoint.load(contentsOf: Self.folder.appendingPathComponent("pretrained.pth")))
        let checkpointValues = Dictionary(pretrained.entries.map { ($0.key, $0.tensor) }, uniquingKeysWith: { first, _ in first })

        for entry in cases {
            let arguments = entry["args"] as? [String: String] ?? [:]
            let model = try ModelZoo.build(modelName, arguments: ModelArguments(arguments))
            let network = try #require(model as? EfficientNetV1SamePaddingArticle.EfficientNet)
            let report = try network.loadPretrained(pretrained)

            #expect(report.missingKeys == entry["missing_keys"] as? [String], "\(arguments)")
            #expect(report.unexpectedKeys == entry["unexpected_keys"] as? [String], "\(arguments)")
            // Everything not popped now holds the checkpoint's values.
            let popped = Set(entry["popped"] as? [String] ?? [])
            for (key, parameter) in network.stateDict() where !popped.contains(key) {
                let expected = try #require(checkpointValues[key], "\(key)")
                #expect(parameter.value.storage.array == expected.floatValues(), "\(key) for \(arguments)")
            }
        }
    }

    /// `dict.pop` of a key the state dict lacks is a KeyError in the article, not a silent skip.
    @Test func poppingAnAbsentKeyThrows() throws {
        let model = try ModelZoo.build(
            "efficientnet_b0_same", arguments: ModelArguments(["n_classes": "10", "in_spatial_shape": "32"]))
        let network = try #require(model as? EfficientNetV1SamePaddingArticle.EfficientNet)
        #expect(throws: ModelError.self) { try network.loadPretrained(StateDict(entries: [])) }
    }
}
