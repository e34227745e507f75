import Foundation
import PthKit
import Testing

/// One load_state_dict scenario and what PyTorch did with it (Scripts/make_loading_fixtures.py).
struct LoadingCase: Sendable, CustomTestStringConvertible {
    let name: String
    let file: String
    let model: String
    let arguments: [String: String]
    let options: LoadOptions
    let expectOK: Bool
    let expectedError: String?
    let expectedMissing: [String]
    let expectedUnexpected: [String]
    let expectedDropped: [String]
    let expectedLabels: [String]?

    var testDescription: String { name }

    static let folder = Fixtures.url("generated/loading")

    static func all() -> [LoadingCase] {
        guard let object = try? Fixtures.json(folder.appendingPathComponent("cases.json")),
              let cases = object["cases"] as? [[String: Any]] else { return [] }
        return cases.compactMap { entry in
            guard let name = entry["name"] as? String, let file = entry["file"] as? String,
                  let model = entry["model"] as? String, let expected = entry["expected"] as? [String: Any]
            else { return nil }
            let options = LoadOptions(
                key: entry["key"] as? String, stripPrefixes: (entry["strip_prefix"] as? String).map { [$0] } ?? [],
                strict: entry["strict"] as? Bool ?? true, dropMismatched: entry["drop_mismatched"] as? Bool ?? false)
            return LoadingCase(
                name: name, file: file, model: model, arguments: entry["args"] as? [String: String] ?? [:],
                options: options, expectOK: expected["ok"] as? Bool ?? false, expectedError: expected["error"] as? String,
                expectedMissing: expected["missing"] as? [String] ?? [],
                expectedUnexpected: expected["unexpected"] as? [String] ?? [],
                expectedDropped: expected["dropped"] as? [String] ?? [], expectedLabels: entry["labels"] as? [String])
        }
    }
}

@Suite("load_state_dict behaves as PyTorch's")
struct LoadStateDictOracleTests {
    static let cases = LoadingCase.all()

    @Test func fixturesArePresent() {
        if Fixtures.generatedAreRequired { #expect(!Self.cases.isEmpty, "run Scripts/test.sh") }
    }

    @Test(arguments: cases)
    func endsAsPyTorchDoes(_ scenario: LoadingCase) throws {
        let weights = LoadingCase.folder.appendingPathComponent(scenario.file)
        do {
            let loaded = try ModelZoo.load(
                scenario.model, arguments: ModelArguments(scenario.arguments), weights: weights, options: scenario.options)
            #expect(scenario.expectOK, "PthKit loaded what PyTorch rejected: \(scenario.expectedError ?? "")")
            #expect(loaded.report.missingKeys == scenario.expectedMissing)
            #expect(loaded.report.unexpectedKeys == scenario.expectedUnexpected)
            #expect(loaded.report.dropped.map(\.key) == scenario.expectedDropped)
            #expect(loaded.labels == scenario.expectedLabels)
        } catch let error as LoadStateDictError {
            #expect(!scenario.expectOK, "PthKit rejected what PyTorch loaded: \(error)")
            #expect(error.description == scenario.expectedError)
        }
    }

    /// A head swapped for 5 classes keeps the backbone: its features equal PyTorch's.
    @Test(.enabled(if: !cases.isEmpty || Fixtures.generatedAreRequired)) func headSwappedFeaturesMatchPyTorch() throws {
        try #require(!Self.cases.isEmpty, "no fixtures in \(LoadingCase.folder.path): run Scripts/test.sh")
        let loaded = try ModelZoo.load(
            "resnet18", arguments: ModelArguments(["num_classes": "5"]),
            weights: LoadingCase.folder.appendingPathComponent("head_5_classes_dropped.pth"),
            options: LoadOptions(dropMismatched: true))
        let input = try NPY.read(contentsOf: LoadingCase.folder.appendingPathComponent("features_input.npy"))
        let expected = try NPY.read(contentsOf: LoadingCase.folder.appendingPathComponent("features_expected.npy"))
        let features = try loaded.model.headInput(input)
        #expect(features.shape == expected.shape)
        let error = zip(features.storage, expected.storage).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error < 1e-4)
        #expect(try loaded.model(input).shape == [2, 5])
    }
}
