import Foundation
import PthKit
import Testing

/// One model of the PyTorch parity sweep, from Tests/Fixtures/generated/zoo/cases.json.
struct ZooCase: Sendable, CustomTestStringConvertible {
    let name: String
    let model: String
    let arguments: [String: String]
    let torchFloat32Error: Double
    let parameterCount: Int

    var testDescription: String { name }

    /// `PTHKIT_ZOO_DIR` points the sweep at another fixture folder (one engineer's subset).
    static let folder = ProcessInfo.processInfo.environment["PTHKIT_ZOO_DIR"].map { URL(fileURLWithPath: $0) }
        ?? Fixtures.url("generated/zoo")

    static func all() -> [ZooCase] {
        guard let object = try? Fixtures.json(folder.appendingPathComponent("cases.json")),
              let cases = object["cases"] as? [[String: Any]] else { return [] }
        return cases.compactMap { entry in
            guard let name = entry["name"] as? String, let model = entry["model"] as? String,
                  let error = entry["torch_f32_error"] as? Double, let count = entry["parameters"] as? Int
            else { return nil }
            return ZooCase(
                name: name, model: model, arguments: entry["args"] as? [String: String] ?? [:],
                torchFloat32Error: error, parameterCount: count)
        }
    }
}

@Suite("Model zoo matches PyTorch")
struct ZooParityTests {
    static let cases = ZooCase.all()

    /// A sweep of zero models proves nothing: it fails rather than passing empty.
    @Test func fixturesArePresent() throws {
        #expect(!Self.cases.isEmpty, "no zoo fixtures in \(ZooCase.folder.path): run Scripts/test.sh")
    }

    /// The two ways a model runs: its compiled plan (what `model(x)` does) and the plain
    /// module-by-module forward pass the plan is derived from.
    enum Path: String, CaseIterable, Sendable { case compiled, reference }

    /// Logits within 10x PyTorch's own float32 error of its float64 output, same top-1, and the same
    /// parameter count, for a checkpoint loaded strictly, on both paths.
    @Test(arguments: cases, Path.allCases)
    func logitsMatchPyTorch(_ zooCase: ZooCase, path: Path) throws {
        let folder = ZooCase.folder.appendingPathComponent(zooCase.name)
        let model = try ModelZoo.build(zooCase.model, arguments: ModelArguments(zooCase.arguments))
        #expect(model.parameterCount == zooCase.parameterCount)
        let checkpoint = try Checkpoint.load(contentsOf: folder.appendingPathComponent("model.pth"))
        try model.loadStateDict(StateDict(checkpoint: checkpoint), strict: true)

        let input = try NPY.read(contentsOf: folder.appendingPathComponent("input.npy"))
        let reference = try NPY.read(contentsOf: folder.appendingPathComponent("output_f64.npy"))
        let output = path == .compiled ? try model(input) : try model.referenceForward(input)
        #expect(output.shape == reference.shape)
        guard output.shape == reference.shape else { return }

        let error = zip(output.storage, reference.storage).map { abs(Double($0) - Double($1)) }.max() ?? 0
        // PyTorch's float32 error can be tiny for small nets; a floor keeps the bound meaningful.
        let bound = 10 * max(zooCase.torchFloat32Error, 1e-6)
        #expect(error <= bound, "max |PthKit - PyTorch f64| = \(error), bound \(bound)")
        let classes = output.shape.last ?? 1
        for row in 0..<(output.count / max(classes, 1)) {
            let ours = argmax(output.storage.array[(row * classes)..<((row + 1) * classes)])
            let theirs = argmax(reference.storage.array[(row * classes)..<((row + 1) * classes)])
            #expect(ours == theirs, "row \(row): top-1 \(ours) vs PyTorch \(theirs)")
        }
    }

    private func argmax(_ values: ArraySlice<Float>) -> Int {
        values.indices.max { values[$0] < values[$1] }.map { $0 - values.startIndex } ?? -1
    }
}
